"""Query types and the paper's five groups of them, read from a validated benchmark's query_types.json."""

from __future__ import annotations

TYPE_GROUPS = {
    "singleton_object": "Singleton Entity", "singleton_person": "Singleton Entity",
    "singleton_place": "Singleton Entity", "singleton_concept": "Singleton Entity",
    "singleton_event": "Singleton Event", "conjunction": "Conjunction",
    "simple_condition": "Simple Condition", "complex_condition": "Complex Condition",
}
TYPES = tuple(TYPE_GROUPS)
GROUPS = tuple(dict.fromkeys(TYPE_GROUPS.values()))
UNTYPED = "Untyped"
SHORT = {"Singleton Entity": "Entity", "Singleton Event": "Event", "Conjunction": "Conj.",
         "Simple Condition": "Simple Cond.", "Complex Condition": "Complex Cond.", UNTYPED: UNTYPED}


def group_of(query_type: str | None) -> str:
    """The paper's group of a query type; an unknown type is its own group, no type is ``Untyped``."""
    if not query_type:
        return UNTYPED
    return TYPE_GROUPS.get(query_type, query_type)


def ordered_groups(present) -> list[str]:
    """The paper's groups first, in its order, then other groups, then ``Untyped``."""
    present = set(present)
    extra = sorted(present - set(GROUPS) - {UNTYPED})
    return [g for g in GROUPS if g in present] + extra + ([UNTYPED] if UNTYPED in present else [])
