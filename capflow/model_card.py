"""The card of a finetuned encoder: ``README.md`` in its folder, and the recipe's templates as the
``prompts`` of its sentence-transformers config, so the folder says how it was trained and how to use it.

``capflow train`` writes the card with the held-out loss in its model-index; ``capflow model-card``
adds the benchmark scores (nDCG@10) of the model's evaluation runs once they exist (in the workflow, to
a copy beside the model folder: ``SCORED_CARD_FOLDER``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from capflow.errors import UserError
from capflow.io import read_json, write_json, write_text
from capflow.recipes import Recipe

ST_CONFIG = "config_sentence_transformers.json"
ST_MODULE_CONFIG = "sentence_bert_config.json"
CARD = "README.md"
# The workflow's card with the scores: a folder beside the model folder, never inside it (the finetune
# job's output), holding the README.md to publish in the folder's place.
SCORED_CARD_FOLDER = "card"
SCORES_HEADING = "## Benchmark scores"
# the model-index's benchmark metric, named as MTEB's results name it
NDCG10 = ("ndcg_at_10", "nDCG@10", "ndcg@10")  # metric type, display name, capflow's key
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


def set_st_max_length(model_dir: Path, length: int) -> None:
    """``max_seq_length`` in the transformer module's config, where every sentence-transformers version
    reads it (the newest also reads the tokenizer's ``model_max_length``, which holds the same)."""
    path = Path(model_dir) / ST_MODULE_CONFIG
    if path.exists():
        config = read_json(path)
        config["max_seq_length"] = length
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


def loss_result(loss: float, train_path: Path):
    from huggingface_hub import EvalResult

    return EvalResult(task_type="sentence-similarity", dataset_type="capflow-generated-pairs",
                      dataset_name=f"held-out pairs of {Path(train_path).parent.name}", metric_type="loss",
                      metric_name="InfoNCE loss", metric_value=round(loss, 4))


def card_data(recipe: Recipe, *, language: str, train_path: Path, summary: dict, license: str | None):
    """The front matter, in the hub's model-card conventions (huggingface_hub.ModelCardData): the base
    model, language, license, task, metrics and the held-out loss as a model-index result."""
    from huggingface_hub import ModelCardData

    base = recipe.hub_id or recipe.path or recipe.name
    loss = summary.get("final_eval_loss")
    results = [loss_result(loss, train_path)] if loss is not None else None
    return ModelCardData(base_model=base, language=[language], license=license, library_name="sentence-transformers",
                         pipeline_tag="sentence-similarity", tags=["sentence-transformers", "capflow", "retrieval"],
                         metrics=["loss"] if results else None,
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
    length = summary.get("max_seq_length")
    length_lines = ([f"- Maximum length: {length} tokens, saved in the folder (`{ST_MODULE_CONFIG}`, the "
                     "tokenizer's limit and truncation); the benchmark scores were computed at this length",
                     f"- Trained with queries truncated at {summary.get('query_max_length')} tokens and passages "
                     f"at {summary.get('passage_max_length')}"] if length else [])
    lines = ["---", front, "---", "",
             f"# {base} finetuned on {Path(train_path).parent.name or Path(train_path).stem}", "",
             f"A finetuned copy of `{base}`{revision} for {language} retrieval, trained by capflow with InfoNCE over "
             "in-batch negatives on generated (query, passage) pairs.", "",
             "## Training", "",
             f"- Base model: `{base}`{revision}" + (f", license {license} (this copy keeps it)" if license else ""),
             f"- Language: {language}",
             f"- Training set: `{train_path}` ({summary.get('pairs', 0)} pairs, {summary.get('steps', 0)} steps "
             f"of {summary.get('batch_size', 0)} pairs)",
             loss_line, *length_lines, "",
             SCORES_HEADING, "",
             "Not evaluated yet: `capflow model-card --model FOLDER --metrics metrics.json` adds the nDCG@10 of "
             "each evaluation run, here and in the model-index; the workflow writes that card beside this folder, "
             f"as `{SCORED_CARD_FOLDER}/{CARD}`.", "",
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
    """``README.md``, sentence-transformers prompts and maximum length for the trained model in ``model_dir``."""
    set_st_prompts(model_dir, recipe)
    if summary.get("max_seq_length"):
        set_st_max_length(model_dir, summary["max_seq_length"])
    write_text(Path(model_dir) / CARD,
               card_text(recipe, language=language_of(passages), train_path=train_path, summary=summary,
                         license=base_license(base_dir)))


# --- capflow model-card: the benchmark scores ---------------------------------------------------------

def score_result(record, datasets: dict[str, str]):
    """A run's nDCG@10 as a model-index result; the dataset is its hub repo where ``datasets`` names one,
    and a view of it (the test view) its config, so that each view is a result of its own."""
    from huggingface_hub import EvalResult

    metric_type, metric_name, key = NDCG10
    return EvalResult(task_type="retrieval", task_name="Retrieval",
                      dataset_type=datasets.get(record.benchmark, record.benchmark),
                      dataset_name=record.benchmark_label, dataset_config=record.view,
                      metric_type=metric_type, metric_name=metric_name, metric_value=round(record.metric(key), 4))


def scores_section(results) -> list[str]:
    metric_type, metric_name, _ = NDCG10
    rows = sorted((r.dataset_name, r.metric_value) for r in results if r.metric_type == metric_type)
    return [SCORES_HEADING, "", f"| benchmark | {metric_name} |", "|---|---:|",
            *(f"| {name} | {value:.4f} |" for name, value in rows), ""]


def with_section(body: str, section: list[str]) -> str:
    """``body`` with its scores section replaced by ``section`` (added before the usage where it has none)."""
    lines = body.split("\n")
    if SCORES_HEADING in lines:
        start = lines.index(SCORES_HEADING)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    else:
        start = end = next((i for i, line in enumerate(lines) if line == "## Usage"), len(lines))
    return "\n".join(lines[:start] + section + lines[end:])


def load_card(path: Path):
    import yaml
    from huggingface_hub import ModelCard

    if not path.is_file():
        raise UserError("no model card here (capflow train writes README.md into the model folder)", path)
    try:
        return ModelCard.load(path)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"not a readable model card: {first}", path) from None


def check_record_of(record, model_dir: Path) -> None:
    """A record names the weights it scored (its recipe's path): they must be this folder's."""
    scored = (record.recipe or {}).get("path")
    if scored is None or Path(scored).resolve() != Path(model_dir).resolve():
        raise UserError(f"a run of {scored or record.model}, not of the model in {model_dir}", record.source)


def add_scores(model_dir: Path, metrics: list[Path], datasets: dict[str, str] | None = None,
               out: Path | None = None) -> Path:
    """The card of ``model_dir`` with the nDCG@10 of each evaluation run in ``metrics`` in its model-index,
    front matter and text; a benchmark scored again replaces its earlier score. Written to ``out``
    (default: the card itself); returns that path."""
    from capflow.runrecord import RunRecord

    datasets = datasets or {}
    model_dir = Path(model_dir)
    records = [RunRecord.from_json(read_json(path), Path(path)) for path in metrics]
    for record in records:
        check_record_of(record, model_dir)
    card = load_card(model_dir / CARD)
    data = card.data
    new = {r.benchmark_label: score_result(r, datasets) for r in records}
    kept = [r for r in data.eval_results or [] if not (r.metric_type == NDCG10[0] and r.dataset_name in new)]
    data.eval_results = kept + list(new.values())
    data.model_name = data.model_name or model_dir.name
    data.metrics = sorted({r.metric_type for r in data.eval_results})
    hub = {datasets[r.benchmark] for r in records if r.benchmark in datasets}
    if hub:
        data.datasets = sorted(set(data.datasets or []) | hub)
    body = with_section(card.text, scores_section(data.eval_results))
    target = Path(out) if out else model_dir / CARD
    write_text(target, f"---\n{data.to_yaml()}\n---\n{body}")
    return target


def dataset_pair(text: str) -> tuple[str, str]:
    import argparse

    name, sep, repo = text.partition("=")
    if not (sep and name and "/" in repo):
        raise argparse.ArgumentTypeError(f"expected BENCHMARK=OWNER/NAME, got {text!r}")
    return name, repo


def configure_parser(parser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="a model folder that capflow train wrote")
    parser.add_argument("--metrics", required=True, nargs="+", type=Path,
                        help="the metrics.json of each evaluation run of this model")
    parser.add_argument("--dataset", action="append", type=dataset_pair, default=[], metavar="BENCHMARK=REPO",
                        help="a benchmark's hub dataset, e.g. CapRetrievalEn=lxucs/CapRetrievalEn (repeatable): "
                             "named in the card's datasets and its model-index")
    parser.add_argument("--out", type=Path, help="write the card here (default: the model folder's README.md)")


def main(args) -> None:
    import logging

    target = add_scores(args.model, args.metrics, dict(args.dataset), args.out)
    logging.getLogger(__name__).info("wrote %s", target)
