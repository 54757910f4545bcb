"""The workflow's names, defined once: generation kinds, training mixes, pools, evaluation views,
finetuned settings and hybrid methods. Each name is composed here and never parsed back from text:
a run's record stores the parts (benchmark and view, pool, mix and seed).

The Snakemake rules derive their wildcard patterns from here, the config schema's enums are
checked against it by the tests, and tables take their display names from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("sm", "kw")  # SM: overall summaries / long questions; KW: salient keywords and short phrases
MIXES: dict[str, tuple[str, ...]] = {"sm": ("sm",), "kw": ("kw",), "smkw": ("sm", "kw")}
MIX_DISPLAY = {"sm": "SM", "kw": "KW", "smkw": "SM+KW"}
POOLS = ("ood", "id")
POOL_DISPLAY = {"ood": "OOD pool", "id": "ID pool"}

# Names a user chooses (benchmarks, models, pools) become path components and command-line words.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]*"


def is_name(text) -> bool:
    """Whether ``text`` is a name, matched whole (``$`` would also match before a final newline)."""
    return isinstance(text, str) and re.fullmatch(NAME_PATTERN, text) is not None


def one_of(names) -> str:
    """A regular expression matching exactly one of ``names`` (for wildcard constraints)."""
    return "|".join(re.escape(name) for name in names) or r"(?!x)x"


@dataclass(frozen=True, order=True)
class Setting:
    """A finetuned run: the pool its training queries came from, their mix and the training seed."""

    pool: str
    mix: str
    seed: int
    variant: str = ""  # the training knobs beyond the paper (setting_variant); "" for the paper's training

    @property
    def name(self) -> str:
        return setting_name(self.pool, self.mix, self.variant)

    @property
    def label(self) -> str:
        return setting_label(self.pool, self.mix, self.seed, self.variant)

    @property
    def folder(self) -> str:
        return setting_folder(self.pool, self.mix, self.seed, self.variant)

    @property
    def words(self) -> tuple[str, str, str]:
        """``POOL MIX SEED``, as ``capflow retrieve --setting`` takes them."""
        return self.pool, self.mix, str(self.seed)

    @property
    def display(self) -> str:
        return setting_display(self.pool, self.mix, self.variant)

    def to_json(self) -> dict:
        """The parts a run record stores; a setting without knobs leaves the variant out."""
        parts = {"pool": self.pool, "mix": self.mix, "seed": self.seed}
        return {**parts, "variant": self.variant} if self.variant else parts


# Training knobs beyond the paper, each a part of a variant's name: hard negatives, and retrieval
# evaluation during training (keeping the best checkpoint, or only scoring it).
KNOBS = {"hn": "hard negatives", "best": "best dev checkpoint", "dev": "dev evaluation"}


def setting_variant(hard_negatives: bool, dev_evaluation: bool, keep_best: bool) -> str:
    """The variant of a setting trained with these knobs, e.g. ``hn+best``; "" without any."""
    parts = ["hn"] if hard_negatives else []
    if dev_evaluation:
        parts.append("best" if keep_best else "dev")
    return "+".join(parts)


# The parts may be Snakemake wildcards ("{pool}"), so that the paths' patterns come from here too.
def setting_name(pool: str, mix: str, variant: str = "") -> str:
    """A setting across its seeds, e.g. ``ood-kw`` or ``ood-kw+hn+best``: the per-query frame's model; without
    a variant, its trainset's folder."""
    return f"{pool}-{mix}+{variant}" if variant else f"{pool}-{mix}"


def setting_label(pool: str, mix: str, seed: int | str, variant: str = "") -> str:
    """A finetuned run's model label in its record and in loss files, e.g. ``ood-kw-seed0``."""
    return f"{setting_name(pool, mix, variant)}-seed{seed}"


def setting_folder(pool: str, mix: str, seed: int | str, variant: str = "") -> str:
    """A finetuned run's folder under finetune/ and evaluate/<benchmark>/, e.g. ``ood-kw/seed-0``."""
    return f"{setting_name(pool, mix, variant)}/seed-{seed}"


# The evaluation views a table names after the benchmark; the full benchmark is named plainly.
TESTVIEW = "test view"
FULL_VIEW = "full"


def benchmark_label(benchmark: str, view: str | None = None) -> str:
    """The benchmark as the tables name it, e.g. ``CapRetrievalEn (test view)``."""
    return f"{benchmark} ({view})" if view and view != FULL_VIEW else benchmark


# Score fusions of a BM25 run and a dense run (capflow.report.hybrid).
HYBRID_METHODS = ("rrf", "minmax")


def setting_display(pool: str, mix: str, variant: str = "") -> str:
    """A finetuned setting for readers, e.g. ``ID pool SM+KW`` or ``ID pool KW + hard negatives``."""
    return f"{POOL_DISPLAY.get(pool, pool)} {MIX_DISPLAY.get(mix, mix)}{variant_display(variant)}"


def variant_display(variant: str) -> str:
    """A variant's knobs for readers, after the setting: `` + hard negatives, best dev checkpoint``."""
    return f" + {', '.join(KNOBS.get(part, part) for part in variant.split('+'))}" if variant else ""
