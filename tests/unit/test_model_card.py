"""The finetuned model's card (README.md, sentence-transformers prompts) and the training log's ETA."""

import json
import logging

import pytest

from capflow import model_card, progress
from capflow import train as tr
from capflow.recipes import Recipe

from conftest import build_tiny_bert, run_capflow, write_jsonl

WORDS = "cat dog sofa park river boat tea cup".split()


@pytest.fixture
def trained(tmp_path, caplog):
    """Four steps of training a tiny BERT with E5-style templates, 4 pairs held out; evaluated at 24
    tokens, trained with queries cut at 4 and passages at 6."""
    weights = build_tiny_bert(tmp_path / "base", WORDS, max_positions=32)
    (weights / "README.md").write_text("---\nlicense: mit\n---\n# a base model\n", encoding="utf-8")
    passages = [{"id": f"p{i}", "text": f"{a} {b}", "source": "t"}
                for i, (a, b) in enumerate((a, b) for a in WORDS for b in WORDS if a != b)][:16]
    pairs = [{"query": p["text"].split()[0], "passage_id": p["id"], "kind": "kw"} for p in passages]
    recipe = Recipe("tiny", path=str(weights), pooling="mean", query_template="query: {text}",
                    passage_template="passage: {text}", max_length=24)
    caplog.set_level(logging.INFO, logger="capflow")
    settings = tr.TrainSettings(batch_size=4, max_steps=4, save_steps=100, query_max_length=4, passage_max_length=6)
    summary = tr.train(recipe, settings, device="cpu",
                       train_path=write_jsonl(tmp_path / "ood-kw" / "train.jsonl", pairs[:12]),
                       heldout_path=write_jsonl(tmp_path / "ood-kw" / "heldout.jsonl", pairs[12:]),
                       passages_path=write_jsonl(tmp_path / "pool" / "passages.jsonl", passages),
                       out=tmp_path / "run" / "model", loss_path=tmp_path / "run" / "loss.csv")
    return tmp_path / "run" / "model", summary, weights, tmp_path / "ood-kw" / "train.jsonl", recipe


def test_the_model_folder_carries_a_filled_card_and_the_recipes_prompts(trained, caplog):
    from sentence_transformers import SentenceTransformer

    model_dir, summary, weights, train_path, _ = trained
    from huggingface_hub import ModelCard

    card = (model_dir / "README.md").read_text(encoding="utf-8")
    data = ModelCard.load(model_dir / "README.md").data  # the hub's own reader
    assert (data.base_model, data.language, data.license) == (str(weights), ["en"], "mit")  # the base's license
    assert (data.library_name, data.pipeline_tag) == ("sentence-transformers", "sentence-similarity")
    [result] = data.eval_results
    assert (result.metric_type, result.metric_value) == ("loss", round(summary["final_eval_loss"], 4))
    assert result.dataset_name == "held-out pairs of ood-kw"
    assert 'model = SentenceTransformer("path/to/this/folder")' in card and "model.encode_query(" in card
    assert f"- Training set: `{train_path}` (12 pairs, 4 steps of 4 pairs)" in card
    assert f"- Held-out loss (InfoNCE, 4 held-out pairs): {summary['final_eval_loss']:.4f}" in card
    assert "Every text is lowercased and its whitespace collapsed" in card
    assert '- Query template: `"query: {text}"`' in card and '- Passage template: `"passage: {text}"`' in card
    config = json.loads((model_dir / model_card.ST_CONFIG).read_text())
    assert config["prompts"] == {"query": "query: ", "document": "passage: "} and config["default_prompt_name"] is None
    model = SentenceTransformer(str(model_dir), device="cpu")
    assert (model.encode_query(["cat"]) == model.encode(["query: cat"])).all()
    eta = [r.getMessage() for r in caplog.get_records("setup") if r.name == "capflow.progress"]
    assert [line.split(":")[0] for line in eta] == ["step 1/4", "step 2/4", "step 3/4"]
    assert all(line.endswith(" left") and " steps/s, " in line for line in eta)


def test_the_saved_model_carries_the_length_evaluation_uses(trained):
    """Training truncates queries at 4 tokens and passages at 6, and leaves the last batch's length in the
    tokenizer; the saved folder holds the evaluation length (24) for every reader."""
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from capflow import encoders

    model_dir, summary, _, _, recipe = trained
    evaluated = encoders.load_encoder(recipe.with_path(str(model_dir)), device="cpu")
    assert evaluated.max_seq_length == 24 == summary["max_seq_length"]
    assert (summary["query_max_length"], summary["passage_max_length"]) == (4, 6)
    assert json.loads((model_dir / "tokenizer.json").read_text())["truncation"]["max_length"] == 24
    assert json.loads((model_dir / "tokenizer_config.json").read_text())["model_max_length"] == 24
    assert json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"] == 24
    assert SentenceTransformer(str(model_dir), device="cpu").max_seq_length == 24
    long_text = " ".join(WORDS * 10)
    assert len(Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(long_text).ids) == 24
    assert len(AutoTokenizer.from_pretrained(model_dir)(long_text, truncation=True)["input_ids"]) == 24
    card = (model_dir / "README.md").read_text(encoding="utf-8")
    assert "- Maximum length: 24 tokens" in card and "queries truncated at 4 tokens and passages at 6" in card


def scored(path, model_dir, benchmark, value, view=None):
    record = {"benchmark": benchmark, "model": "ood-kw-seed0", "metrics": {"ndcg@10": value, "ndcg@1": 0.5},
              "setting": {"pool": "ood", "mix": "kw", "seed": 0}, "recipe": {"path": str(model_dir)}}
    path.write_text(json.dumps(record | ({"view": view} if view else {})))
    return path


def test_model_card_adds_the_benchmark_scores_to_the_front_matter(trained, tmp_path):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard import metadata_load

    model_dir, summary, _, _, _ = trained
    full = scored(tmp_path / "full.json", model_dir, "CapRetrievalEn", 0.71234)
    view = scored(tmp_path / "view.json", model_dir, "CapRetrievalEn", 0.65, view="test view")
    args = ("model-card", "--model", model_dir, "--dataset", "CapRetrievalEn=lxucs/CapRetrievalEn")
    result = run_capflow(*args, "--metrics", full, view)
    assert result.returncode == 0, result.stderr
    meta = metadata_load(model_dir / "README.md")  # the hub's own readers
    assert meta["license"] == "mit" and meta["datasets"] == ["lxucs/CapRetrievalEn"]
    assert meta["metrics"] == ["loss", "ndcg_at_10"]
    [index] = meta["model-index"]
    found = {(r["dataset"]["name"], m["type"]): m["value"] for r in index["results"] for m in r["metrics"]}
    assert found == {("held-out pairs of ood-kw", "loss"): round(summary["final_eval_loss"], 4),
                     ("CapRetrievalEn", "ndcg_at_10"): 0.7123, ("CapRetrievalEn (test view)", "ndcg_at_10"): 0.65}
    data = ModelCard.load(model_dir / "README.md").data
    assert {r.dataset_type for r in data.eval_results if r.metric_type == "ndcg_at_10"} == {"lxucs/CapRetrievalEn"}
    card = (model_dir / "README.md").read_text(encoding="utf-8")
    assert "| CapRetrievalEn | 0.7123 |" in card and "| CapRetrievalEn (test view) | 0.6500 |" in card
    assert "Not evaluated yet" not in card and 'model = SentenceTransformer("path/to/this/folder")' in card
    written = (model_dir / "README.md").read_bytes()
    assert run_capflow(*args, "--metrics", full, view).returncode == 0
    assert (model_dir / "README.md").read_bytes() == written  # the same runs give the same card
    # scored again: the benchmark's score is replaced, not repeated
    assert run_capflow(*args, "--metrics", scored(full, model_dir, "CapRetrievalEn", 0.8)).returncode == 0
    results = ModelCard.load(model_dir / "README.md").data.eval_results
    assert sorted((r.dataset_name, r.metric_value) for r in results if r.metric_type == "ndcg_at_10") == [
        ("CapRetrievalEn", 0.8), ("CapRetrievalEn (test view)", 0.65)]
    assert (model_dir / "README.md").read_text(encoding="utf-8").count("## Benchmark scores") == 1


def test_the_scored_card_beside_the_model_folder_leaves_the_folder_as_it_is(trained, tmp_path):
    """The workflow's layout: the finetune job's folder keeps its card; the scored one is written beside it."""
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard import metadata_load

    model_dir = trained[0]
    before = (model_dir / "README.md").read_bytes()
    assert b"the workflow writes that card beside this folder, as `card/README.md`" in before
    metrics = [scored(tmp_path / "zh.json", model_dir, "CapRetrieval", 0.712349),
               scored(tmp_path / "en.json", model_dir, "CapRetrievalEn", 0.65, view="test view")]
    out = model_dir.parent / model_card.SCORED_CARD_FOLDER / model_card.CARD
    args = ("model-card", "--model", model_dir, "--metrics", *metrics, "--out", out)
    assert run_capflow(*args).returncode == 0
    assert (model_dir / "README.md").read_bytes() == before
    [index] = metadata_load(out)["model-index"]
    scores = {r["dataset"]["name"]: m["value"] for r in index["results"] for m in r["metrics"]
              if m["type"] == "ndcg_at_10"}
    # the tables' nDCG@10, to their 2 decimals
    assert {name: f"{100 * value:.2f}" for name, value in scores.items()} == {
        "CapRetrieval": "71.23", "CapRetrievalEn (test view)": "65.00"}
    assert len(ModelCard.load(out).data.eval_results) == 3  # the held-out loss kept
    written = out.read_bytes()
    assert run_capflow(*args).returncode == 0 and out.read_bytes() == written


def test_model_card_refuses_another_models_run_and_a_broken_card(trained, tmp_path):
    model_dir = trained[0]
    before = (model_dir / "README.md").read_bytes()
    other = scored(tmp_path / "other.json", tmp_path / "elsewhere", "CapRetrieval", 0.5)
    result = run_capflow("model-card", "--model", model_dir, "--metrics", other)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"capflow model-card: error: {other}: a run of {tmp_path / 'elsewhere'}, "
                                     f"not of the model in {model_dir}")
    assert (model_dir / "README.md").read_bytes() == before
    own = scored(tmp_path / "own.json", model_dir, "CapRetrieval", 0.5)
    (model_dir / "README.md").write_text("---\nlicense: [mit\n---\n# a card\n", encoding="utf-8")
    result = run_capflow("model-card", "--model", model_dir, "--metrics", own)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"capflow model-card: error: {model_dir / 'README.md'}: not a readable model "
                                     "card: while parsing a flow sequence")
    (model_dir / "README.md").unlink()
    result = run_capflow("model-card", "--model", model_dir, "--metrics", own)
    assert result.stderr.strip() == (f"capflow model-card: error: {model_dir / 'README.md'}: no model card here "
                                     "(capflow train writes README.md into the model folder)")


def test_language_and_prompts_of_a_recipe():
    assert model_card.language_of(["一只橘猫在沙发上睡觉", "a cat"]) == "zh"
    assert model_card.language_of(["a cat on the sofa 猫"]) == "en"
    instruction = Recipe("q", hub_id="x", query_template="Instruct: find\\nQuery: {text}")
    assert model_card.st_prompts(instruction) == {"query": "Instruct: find\\nQuery: ", "document": ""}
    assert model_card.st_prompts(Recipe("s", hub_id="x", query_template="{text} (query)")) == {"document": ""}


@pytest.mark.parametrize("step, done, elapsed, line", [
    (100, 100, 50.0, "step 100/4000: 2.00 steps/s, 32m30s left"),
    (500, 100, 10.0, "step 500/4000: 10.00 steps/s, 5m50s left"),  # resumed at 400: only 100 steps timed
    (10, 10, 1.0, "step 10/40000: 10.00 steps/s, 1h06m left"),
    (1, 0, 0.0, "step 1/4000: 0.00 steps/s, unknown left"),
])
def test_progress_line(step, done, elapsed, line):
    total = 40000 if line.startswith("step 10/40000") else 4000
    assert progress.progress_line(step, total, done, elapsed) == line
