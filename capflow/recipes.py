"""Encoder recipes (``config/models.yaml``): what a model is and how it encodes text.

A recipe is plain data; its canonical JSON is both the Snakemake ``params`` that make a changed
recipe rerun its jobs and part of the embedding-cache key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from capflow.benchmark import normalise_whitespace
from capflow.errors import UserError
from capflow.vocabulary import is_name
from capflow.yamlfiles import load_yaml

POOLINGS = ("cls", "mean", "last", "model")
# auto = the checkpoint's stored dtype (transformers' torch_dtype="auto"), as the paper's runs loaded them.
DTYPES = ("auto", "float32", "bfloat16", "float16")
PADDING_SIDES = ("left", "right", None)  # None: the tokenizer's own default
LANGUAGES = ("zh", "en")  # the benchmark languages (config benchmarks.*.language)
# BM25 tokenisers beside each language's default (capflow.bm25): None = jieba (zh) or Snowball (en)
BM25_TOKENIZERS = (None, "nltk-porter")
# The longest input any recipe encodes; each model is further capped at its own max positions.
MAX_LENGTH = 8192
# Fields that change no vector: table labels, the inference batch size (batches are padded per batch,
# and sorting by length leaves little padding, so results agree to float precision), and the benchmark
# languages a model is run on.
LABEL_FIELDS = ("display", "group", "params", "batch_size", "languages")


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str = "dense"
    display: str = ""
    group: str = "small"
    params: str = ""
    hub_id: str | None = None
    revision: str | None = None
    package: str | None = None
    path: str | None = None
    pooling: str = "cls"
    query_template: str = "{text}"
    passage_template: str = "{text}"
    lowercase: bool = True
    padding_side: str | None = None
    append_eos: bool = False
    max_length: int = MAX_LENGTH
    batch_size: int = 128
    dtype: str = "auto"
    trust_remote_code: bool = False
    tokenizer: str | None = None  # BM25 only: one of BM25_TOKENIZERS
    languages: tuple[str, ...] | None = None  # the benchmark languages it is run on zero-shot; None: every one

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    def runs_on(self, language: str) -> bool:
        """Whether the model is run zero-shot on a benchmark in ``language``."""
        return self.languages is None or language in self.languages

    def labels(self) -> dict[str, str]:
        """What the tables call the model: display name, group and parameter count."""
        return {"display": self.display, "group": self.group, "params": self.params}

    def vector_json(self) -> str:
        """The recipe without what only labels tables or sets the inference batch size: what a job
        that computes vectors depends on (its labels come from the registry at table time)."""
        fields_ = {k: v for k, v in asdict(self).items() if k not in LABEL_FIELDS}
        if fields_["tokenizer"] is None:
            # left out at its default, so the runs made before the field existed stay finished
            del fields_["tokenizer"]
        return json.dumps(fields_, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"invalid recipe JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise UserError("invalid recipe JSON: expected an object with a string 'name'")
        return from_mapping(raw["name"], raw)

    def with_path(self, path: str, name: str | None = None) -> Recipe:
        """The same recipe over other weights (a finetuned copy), never the hub or package copy."""
        return replace(self, path=str(path), hub_id=None, package=None, revision=None, name=name or self.name)

    def prepare(self, text: str, role: str) -> str:
        """The exact string the encoder sees for ``text`` as a ``query`` or ``passage``."""
        text = normalise_whitespace(text)
        if self.lowercase:
            text = text.lower()
        template = self.query_template if role == "query" else self.passage_template
        return template.replace("{text}", text)


_FIELDS = {f.name for f in fields(Recipe)}


def from_mapping(name: str, mapping: dict, source: str = "recipe") -> Recipe:
    unknown = set(mapping) - _FIELDS
    if unknown:
        raise UserError(f"model '{name}': unknown recipe key(s) {', '.join(sorted(unknown))}", source)
    values = {k: v for k, v in mapping.items() if k != "name"}
    if isinstance(values.get("languages"), list):
        values["languages"] = tuple(values["languages"])
    recipe = Recipe(name=name, **values)
    if recipe.kind not in ("dense", "bm25"):
        raise UserError(f"model '{name}': kind must be dense or bm25, not {recipe.kind!r}", source)
    if recipe.tokenizer not in BM25_TOKENIZERS:
        raise UserError(f"model '{name}': tokenizer must be nltk-porter or null, not {recipe.tokenizer!r}", source)
    if recipe.tokenizer is not None and recipe.kind != "bm25":
        raise UserError(f"model '{name}': tokenizer is a BM25 setting; this model's kind is {recipe.kind}", source)
    if recipe.languages is not None and not (
            isinstance(recipe.languages, tuple) and recipe.languages and set(recipe.languages) <= set(LANGUAGES)):
        raise UserError(f"model '{name}': languages must be a list of {', '.join(LANGUAGES)} or null", source)
    if recipe.kind == "dense":
        if recipe.pooling not in POOLINGS:
            raise UserError(f"model '{name}': pooling must be one of {', '.join(POOLINGS)}", source)
        if recipe.dtype not in DTYPES:
            raise UserError(f"model '{name}': dtype must be one of {', '.join(DTYPES)}", source)
        if recipe.padding_side not in PADDING_SIDES:
            raise UserError(f"model '{name}': padding_side must be left, right or null", source)
        if not (recipe.hub_id or recipe.package or recipe.path):
            raise UserError(f"model '{name}': needs hub_id, package or path", source)
        for template in (recipe.query_template, recipe.passage_template):
            if "{text}" not in template:
                raise UserError(f"model '{name}': template {template!r} lacks {{text}}", source)
    return replace(recipe, display=recipe.display or name)


def invalid_name(name, path: Path) -> UserError:
    return UserError(f"model name {name!r} is not a valid name (letters, digits and . _ + - only, starting with "
                     "a letter or digit)", path)


def load_recipes(path: str | Path, schema: str | Path | None = None) -> dict[str, Recipe]:
    """The registry at ``path``; with ``schema`` (workflow/schemas/models.schema.yaml) also checked
    against it, so a misspelt key or a value of the wrong type is one line naming model and key."""
    path = Path(path)
    raw = load_yaml(path, "model registry not found") or {}
    if isinstance(raw, dict):
        # Before the schema: its pattern lets a final newline through, and its messages quote names.
        broken = [name for name in raw if isinstance(name, str) and name.splitlines() != [name]]
        if broken:
            raise invalid_name(broken[0], path)
    if schema is not None:
        from capflow.configcheck import check_recipes

        check_recipes(raw, schema, path)
    if not isinstance(raw, dict):
        raise UserError("expected a mapping of model name -> recipe", path)
    for name in raw:
        if not is_name(name):
            raise invalid_name(name, path)
    recipes = {name: from_mapping(name, spec or {}, str(path)) for name, spec in raw.items()}
    for name, recipe in recipes.items():
        # checked here, not in from_mapping: a job's recipe JSON leaves languages out (they change no vector)
        if recipe.tokenizer is not None and recipe.languages != ("en",):
            raise UserError(f"model '{name}': tokenizer {recipe.tokenizer} tokenizes English; "
                            "its languages must be en alone", str(path))
    return recipes
