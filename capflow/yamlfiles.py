"""Reading the YAML files a user writes (configs, the model registry, prompt files), strictly.

PyYAML's safe loader lets the last of two equal keys win silently, and expands aliases without a
bound (a one-kilobyte file of nested aliases stands for billions of values once anything walks
it). Here a duplicate key is an error naming both lines, and a document whose aliases expand it
beyond ``MAX_EXPANDED_NODES`` values is refused before anything walks it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from capflow.errors import UserError
from capflow.io import decode_utf8, open_binary

# A config or registry holds a few hundred values; aliases may repeat parts, but not this often.
MAX_EXPANDED_NODES = 100_000
MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKey(Exception):
    def __init__(self, key, first: int, second: int):
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


class AliasBomb(Exception):
    pass


def expanded_size(root: Node) -> int:
    """How many nodes ``root`` holds with every alias written out; a recursive alias is an AliasBomb."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise AliasBomb("an alias refers to a node that contains it")
        open_nodes.add(id(node))
        if isinstance(node, MappingNode):
            total = 1 + sum(size(key) + size(value) for key, value in node.value)
        elif isinstance(node, SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    return size(root)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and documents whose aliases expand without bound."""

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None and expanded_size(node) > MAX_EXPANDED_NODES:
            raise AliasBomb(f"its aliases expand it to more than {MAX_EXPANDED_NODES} values")
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue  # keys merged in with << may be overridden: that is what merging is for
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise DuplicateKey(key, seen[key], line)
                    seen[key] = line
                except TypeError:
                    continue  # an unhashable key: the base class reports it
        return super().construct_mapping(node, deep=deep)


def _read(path: Path, missing: str) -> str:
    with open_binary(path, missing) as handle:
        return decode_utf8(handle.read(), path)


def _unique_pairs(path: Path):
    def pairs_to_dict(pairs: list) -> dict:
        result = {}
        for key, value in pairs:
            if key in result:
                raise UserError(f"key '{key}' given twice in one object", path)
            result[key] = value
        return result
    return pairs_to_dict


def load_config_file(path: str | Path, missing: str = "config file not found") -> Any:
    """A workflow config file as Snakemake reads it, JSON first and then YAML, but strictly."""
    path = Path(path)
    text = _read(path, missing)
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs(path))
    except (json.JSONDecodeError, RecursionError):
        return load_yaml(path, missing)


def load_yaml(path: str | Path, missing: str = "file not found") -> Any:
    """The YAML document at ``path``; any problem is one line naming the file (and line)."""
    path = Path(path)
    text = _read(path, missing)
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except DuplicateKey as dup:
        raise UserError(f"key {dup.key!r} given twice (lines {dup.first} and {dup.second})", path,
                        dup.second) from None
    except AliasBomb as exc:
        raise UserError(f"refused: {exc}", path) from None
    except yaml.reader.ReaderError as exc:
        raise UserError(f"malformed YAML: character {exc.character!r} is not allowed", path,
                        text.count("\n", 0, exc.position) + 1) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"malformed YAML: {problem}", path, None if mark is None else mark.line + 1) from None
    except RecursionError:
        raise UserError("malformed YAML: nested too deeply", path) from None
    except (ValueError, OverflowError) as exc:  # a value the safe constructor cannot build, e.g. 2001-02-30
        raise UserError(f"malformed YAML: {' '.join(str(exc).split())}", path) from None
