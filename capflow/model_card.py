"""The card of a finetuned encoder: ``README.md`` in its folder, and the recipe's templates as the
``prompts`` of its sentence-transformers config, so the folder says how it was trained and how to use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from capflow.io import read_json, write_json, write_text
from capflow.recipes import Recipe

ST_CONFIG = "config_sentence_transformers.json"
TEXT_SLOT = "{text}"
# A pool counts as Chinese when at least this share of its letters are CJK ideographs.
CJK_SHARE = 0.3


def language_of(texts: Iterable[str]) -> str:
    """``zh`` or ``en``, from the share of CJK ideographs among the letters of ``texts``."""
    cjk = letters = 0
    for text in texts:
        for char in text:
            if char.isalpha():
                letters += 1
                cjk += "\u4e00" <= char <= "\u9fff"
    return "zh" if letters and cjk / letters >= CJK_SHARE else "en"


def prompt_of(template: str) -> str | None:
    """The prefix sentence-transformers prepends, where the template is a prefix followed by the text."""
    return template[:-len(TEXT_SLOT)] if template.endswith(TEXT_SLOT) and template.count(TEXT_SLOT) == 1 else None


def st_prompts(recipe: Recipe) -> dict[str, str]:
    """The recipe's templates as sentence-transformers prompts (``encode_query`` / ``encode_document``)."""
    prompts = {"query": prompt_of(recipe.query_template), "document": prompt_of(recipe.passage_template)}
    return {name: prompt for name, prompt in prompts.items() if prompt is not None}


def set_st_prompts(model_dir: Path, recipe: Recipe) -> None:
    path = Path(model_dir) / ST_CONFIG
    config = read_json(path) if path.exists() else {}
    config["prompts"] = st_prompts(recipe)
    config["default_prompt_name"] = None
    write_json(path, config)


def base_license(base_dir: Path | None) -> str | None:
    """The license in the base model's own card, which a finetuned copy inherits; None without one."""
    readme = Path(base_dir) / "README.md" if base_dir else None
    if readme is None or not readme.is_file():
        return None
    from huggingface_hub import ModelCard

    try:
        return ModelCard.load(readme).data.license
    except Exception:  # a card without (valid) front matter names no license
        return None


def card_data(recipe: Recipe, *, language: str, train_path: Path, summary: dict, license: str | None):
    """The front matter, in the hub's model-card conventions (huggingface_hub.ModelCardData): the base
    model, language, license, task and the held-out loss as a model-index result."""
    from huggingface_hub import EvalResult, ModelCardData

    base = recipe.hub_id or recipe.path or recipe.name
    loss = summary.get("final_eval_loss")
    results = [EvalResult(task_type="sentence-similarity", dataset_type="capflow-generated-pairs",
                          dataset_name=f"held-out pairs of {Path(train_path).parent.name}", metric_type="loss",
                          metric_name="InfoNCE loss", metric_value=round(loss, 4))] if loss is not None else None
    return ModelCardData(base_model=base, language=[language], license=license, library_name="sentence-transformers",
                         pipeline_tag="sentence-similarity", tags=["sentence-transformers", "capflow", "retrieval"],
                         model_name=f"{recipe.name} finetuned on {Path(train_path).parent.name}",
                         eval_results=results)


def card_text(recipe: Recipe, *, language: str, train_path: Path, summary: dict, license: str | None = None) -> str:
    base = recipe.hub_id or recipe.path or recipe.name
    revision = f" (revision `{recipe.revision}`)" if recipe.revision else ""
    loss = summary.get("final_eval_loss")
    loss_line = (f"- Held-out loss (InfoNCE, {summary.get('heldout_pairs', 0)} held-out pairs): {loss:.4f}"
                 if loss is not None else "- Held-out loss: none (no pairs were held out)")
    prompts = st_prompts(recipe)
    front = card_data(recipe, language=language, train_path=train_path, summary=summary, license=license).to_yaml()
    lines = ["---", front, "---", "",
             f"# {base} finetuned on {Path(train_path).parent.name or Path(train_path).stem}", "",
             f"A finetuned copy of `{base}`{revision} for {language} retrieval, trained by capflow with InfoNCE over "
             "in-batch negatives on generated (query, passage) pairs.", "",
             "## Training", "",
             f"- Base model: `{base}`{revision}" + (f", license {license} (this copy keeps it)" if license else ""),
             f"- Language: {language}",
             f"- Training set: `{train_path}` ({summary.get('pairs', 0)} pairs, {summary.get('steps', 0)} steps "
             f"of {summary.get('batch_size', 0)} pairs)",
             loss_line, "",
             "## Input format", "",
             "Every text is lowercased and its whitespace collapsed to single spaces before the template below is "
             "applied; do the same before encoding, since sentence-transformers does neither.", "",
             f"- Query template: `{json.dumps(recipe.query_template, ensure_ascii=False)}`",
             f"- Passage template: `{json.dumps(recipe.passage_template, ensure_ascii=False)}`",
             f"- Pooling: {recipe.pooling}; embeddings are L2-normalised and compared by cosine similarity.", ""]
    if prompts:
        lines += [f"`{ST_CONFIG}` holds the templates as the prompts " + ", ".join(f"`{n}`" for n in prompts)
                  + ", which `encode_query` and `encode_document` apply.", ""]
    lines += ["## Usage", "", "```python", "from sentence_transformers import SentenceTransformer", "",
              'model = SentenceTransformer("path/to/this/folder")',
              'queries = model.encode_query(["a red cat on a sofa"])  # lowercased, whitespace collapsed',
              'passages = model.encode_document(["a cat sleeps on a red sofa"])',
              "scores = model.similarity(queries, passages)  # cosine similarity", "```", ""]
    return "\n".join(lines)


def write_model_card(model_dir: Path, recipe: Recipe, *, train_path: Path, passages: Iterable[str],
                     summary: dict, base_dir: Path | None = None) -> None:
    """``README.md`` and sentence-transformers prompts for the trained model in ``model_dir``."""
    set_st_prompts(model_dir, recipe)
    write_text(Path(model_dir) / "README.md",
               card_text(recipe, language=language_of(passages), train_path=train_path, summary=summary,
                         license=base_license(base_dir)))
