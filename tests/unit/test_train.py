"""Finetuning with a tiny BERT built here: plumbing, determinism, batches, resuming and bad input."""

import csv
import dataclasses
import json
import logging
import os
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from capflow import cli
from capflow import train as tr
from capflow.errors import UserError
from capflow.train import pairs as train_pairs
from capflow.train import resume
from capflow.train import trainer as training
from capflow.vocabulary import Setting

from conftest import WORDS, job_stats, tiny_recipe, write_jsonl

SETTINGS = tr.TrainSettings(batch_size=8, max_steps=4, learning_rate=1e-3, eval_steps=2, save_steps=100)


def run_train(model_dir, data, out_dir, settings=SETTINGS, **kwargs):
    return tr.train(tiny_recipe(model_dir), settings, train_path=data.train, heldout_path=data.heldout,
                    passages_path=data.passages, out=out_dir / "model", loss_path=out_dir / "loss.csv",
                    summary_path=out_dir / "train.json", device="cpu", **kwargs)


def read_losses(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_training_saves_a_loadable_model_and_per_step_losses(tiny_model, trainset, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "run"
    summary = run_train(tiny_model, trainset, out)
    rows = read_losses(out / "loss.csv")
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"]
    assert all(r["train_loss"] for r in rows)
    assert [bool(r["eval_loss"]) for r in rows] == [False, True, False, True]  # eval_steps=2
    assert summary["steps"] == 4 and summary["pairs"] == len(trainset.pairs) - 8 and summary["heldout_pairs"] == 8
    assert summary["final_eval_loss"] == pytest.approx(float(rows[-1]["eval_loss"]), abs=1e-6)
    assert sorted(p.name for p in out.iterdir()) == ["loss.csv", "model", "train.json"]  # no .partial left
    record = json.loads((out / "model" / resume.RUN_RECORD).read_text())
    assert record["settings"]["temperature"] == 0.02 and record["recipe"]["name"] == "tiny"
    # "auto" below 128 tokens: the tiny model's limit, which holds every 8-token passage
    assert (summary["passage_max_length"], summary["passage_max_length_setting"]) == (64, "auto")
    assert summary["pool_passages_truncated"] == 0.0 and summary["train_passages_truncated"] == 0.0
    embedding = SentenceTransformer(str(out / "model"), device="cpu").encode(["cat dog"])
    assert embedding.shape == (1, 32)


def test_training_changes_the_weights_and_lowers_the_loss(tiny_model, trainset, tmp_path):
    from capflow import encoders

    settings = tr.TrainSettings(batch_size=8, max_steps=12, learning_rate=3e-3, warmup_ratio=0.0, save_steps=100,
                                bf16="no")
    run_train(tiny_model, trainset, tmp_path / "run", settings)
    rows = read_losses(tmp_path / "run" / "loss.csv")
    first, last = [float(r["train_loss"]) for r in rows[:3]], [float(r["train_loss"]) for r in rows[-3:]]
    assert sum(last) < sum(first)
    texts = ["cat dog red", "river boat"]
    before = encoders.encode(encoders.load_encoder(tiny_recipe(tiny_model), device="cpu"), texts, 2, False)
    after = encoders.encode(encoders.load_encoder(tiny_recipe(tmp_path / "run" / "model"), device="cpu"), texts, 2,
                            False)
    assert abs(before - after).max() > 1e-3


def test_same_seed_gives_the_same_losses_and_model(tiny_model, trainset, tmp_path):
    from capflow import encoders

    run_train(tiny_model, trainset, tmp_path / "a")
    run_train(tiny_model, trainset, tmp_path / "b")
    run_train(tiny_model, trainset, tmp_path / "c", tr.TrainSettings(**{**SETTINGS.__dict__, "seed": 1}))
    assert (tmp_path / "a" / "loss.csv").read_bytes() == (tmp_path / "b" / "loss.csv").read_bytes()
    assert (tmp_path / "a" / "loss.csv").read_bytes() != (tmp_path / "c" / "loss.csv").read_bytes()
    vectors = [encoders.encode(encoders.load_encoder(tiny_recipe(tmp_path / run / "model"), device="cpu"),
                               ["park sofa"], 1, False) for run in "ab"]
    assert (vectors[0] == vectors[1]).all()


def test_batches_never_hold_a_passage_twice(tiny_model, trainset, tmp_path):
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    from capflow import encoders

    recipe = tiny_recipe(tiny_model)
    model = encoders.load_encoder(recipe, device="cpu")
    pairs = train_pairs.load_pairs(trainset.train, trainset.texts)
    columns = train_pairs.pair_columns(recipe, pairs, trainset.texts, None)
    trainer = training.build_trainer(model, columns, None, SETTINGS, tmp_path / "ckpt", "cpu")
    sampler = trainer.get_train_dataloader().batch_sampler
    assert isinstance(sampler, NoDuplicatesBatchSampler)
    batches = list(sampler)
    assert sum(len(b) for b in batches) == len(pairs)  # one epoch covers every pair once
    for batch in batches:
        passages = [pairs[i][1] for i in batch]
        assert len(passages) == len(set(passages)), batch
    # The data would put a passage twice into most plain random batches of this size.
    rng = random.Random(0)
    clashes = sum(len({pairs[i][1] for i in idx}) < len(idx)
                  for idx in (rng.sample(range(len(pairs)), 8) for _ in range(100)))
    assert clashes > 50


def test_training_text_is_prepared_as_at_evaluation(tiny_model):
    recipe = tiny_recipe(tiny_model, query_template="query: {text}", passage_template="passage: {text}")
    columns = train_pairs.pair_columns(recipe, [("Red  CAT", "p1")], {"p1": "A Dog\nin the  PARK"}, None)
    assert columns == {"query": ["query: red cat"], "passage": ["passage: a dog in the park"]}
    assert columns["query"][0] == recipe.prepare("Red  CAT", "query")


def test_queries_and_passages_are_truncated_to_their_own_lengths(tiny_model, tmp_path):
    from capflow import encoders

    model = encoders.load_encoder(tiny_recipe(tiny_model), device="cpu")
    long_text = " ".join(WORDS[:20])
    settings = tr.TrainSettings(batch_size=2, max_steps=1, query_max_length=5, passage_max_length=9)
    trainer = training.build_trainer(model, {"query": [long_text, "cat"], "passage": [long_text, "dog"]}, None,
                               settings, tmp_path / "ckpt", "cpu")
    batch = trainer.data_collator([{"query": long_text, "passage": long_text}, {"query": "cat", "passage": "dog"}])
    assert batch["query_input_ids"].shape[1] == 5
    assert batch["passage_input_ids"].shape[1] == 9
    assert model.max_seq_length == 64  # the evaluation length of the saved model is untouched


def test_loss_follows_the_temperature(tiny_model, tmp_path):
    from capflow import encoders

    model = encoders.load_encoder(tiny_recipe(tiny_model), device="cpu")
    settings = tr.TrainSettings(temperature=0.05, mini_batch_size=2, passage_max_length=128)
    trainer = training.build_trainer(model, {"query": ["a"], "passage": ["b"]}, None, settings, tmp_path / "c", "cpu")
    assert type(trainer.loss).__name__ == "CachedMultipleNegativesRankingLoss"
    assert trainer.loss.scale == pytest.approx(20.0)


def test_an_interrupted_run_resumes_to_the_same_result(tiny_model, trainset, tmp_path):
    from transformers import TrainerCallback

    class StopAfterStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt

    settings = tr.TrainSettings(**{**SETTINGS.__dict__, "save_steps": 2})
    run_train(tiny_model, trainset, tmp_path / "whole", settings)
    with pytest.raises(KeyboardInterrupt):
        run_train(tiny_model, trainset, tmp_path / "cut", settings, callbacks=[StopAfterStep3()])
    partial = tmp_path / "cut" / "model.partial"
    assert (partial / "checkpoints" / "checkpoint-2").is_dir() and not (tmp_path / "cut" / "model").exists()
    summary = run_train(tiny_model, trainset, tmp_path / "cut", settings)
    assert summary["resumed_from_step"] == 2 and not partial.exists()
    assert (tmp_path / "cut" / "loss.csv").read_bytes() == (tmp_path / "whole" / "loss.csv").read_bytes()


def capflow_train(capsys, model_dir, data, out_dir, *extra):
    recipe = tiny_recipe(model_dir) if isinstance(model_dir, Path) else model_dir
    code = cli.main(["train", "--recipe-json", recipe.to_json(), "--train", str(data.train), "--heldout",
                     str(data.heldout), "--passages", str(data.passages), "--out", str(out_dir / "model"),
                     "--loss-csv", str(out_dir / "loss.csv"), "--max-steps", "2", "--batch-size", "4",
                     "--device", "cpu", *extra])
    return code, capsys.readouterr().err.strip().splitlines()


def assert_one_line_error(code, err, expected, out_dir):
    assert code == 2
    assert err[-1] == f"capflow train: error: {expected}"
    assert not (out_dir / "model").exists() and not (out_dir / "loss.csv").exists()


def test_empty_training_set_is_a_one_line_error(tiny_model, trainset, tmp_path, capsys):
    trainset.train.write_text("")
    code, err = capflow_train(capsys, tiny_model, trainset, tmp_path / "out")
    assert_one_line_error(code, err, f"{trainset.train}: no training pairs", tmp_path / "out")


def test_pair_outside_the_pool_is_a_one_line_error(tiny_model, trainset, tmp_path, capsys):
    with open(trainset.train, "a") as handle:
        handle.write(json.dumps({"query": "cat", "passage_id": "nowhere", "kind": "kw"}) + "\n")
    lineno = len(trainset.train.read_text().splitlines())
    code, err = capflow_train(capsys, tiny_model, trainset, tmp_path / "out")
    assert_one_line_error(code, err, f"{trainset.train}:{lineno}: passage 'nowhere' is not in the pool",
                          tmp_path / "out")


def test_missing_base_model_is_a_one_line_error(trainset, tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    code, err = capflow_train(capsys, tiny_recipe(missing), trainset, tmp_path / "out")
    assert_one_line_error(code, err, f"{missing}: model 'tiny': weights directory not found", tmp_path / "out")


def test_checkpoints_of_another_run_are_refused(tiny_model, trainset, tmp_path, capsys):
    out = tmp_path / "out"
    code, _ = capflow_train(capsys, tiny_model, trainset, out, "--save-steps", "1")
    assert code == 0
    # Leave a working folder behind, as a killed run would, then start a different run there.
    partial = out / "model.partial"
    partial.mkdir()
    record = json.loads((out / "model" / resume.RUN_RECORD).read_text())
    (partial / resume.RUN_RECORD).write_text(json.dumps(record))
    (out / "loss.csv").unlink()
    import shutil

    shutil.rmtree(out / "model")
    code, err = capflow_train(capsys, tiny_model, trainset, out, "--save-steps", "1", "--learning-rate", "1e-4")
    assert_one_line_error(code, err, f"{partial}: holds checkpoints of another run (differs in settings); "
                                     f"remove it (rm -r '{partial}') or rerun with --restart to start this run afresh",
                          out)
    assert (partial / resume.RUN_RECORD).exists()  # left as it was
    code, _ = capflow_train(capsys, tiny_model, trainset, out, "--save-steps", "1", "--learning-rate", "1e-4",
                            "--restart")
    assert code == 0 and (out / "model" / resume.RUN_RECORD).exists() and not partial.exists()


@pytest.mark.parametrize("pairs, expected", [
    ([("cat", "p0")] * 20, "20 training pair(s) over 1 distinct passage(s)"),
    ([(f"query {i}", "p0") for i in range(20)], "20 training pair(s) over 1 distinct passage(s)"),
    ([("cat", "p0")], "1 training pair(s) over 1 distinct passage(s)"),
], ids=["identical-pairs", "one-passage-many-queries", "single-pair"])
def test_a_set_without_in_batch_negatives_is_refused(tiny_model, trainset, tmp_path, capsys, pairs, expected):
    write_jsonl(trainset.train, [{"query": q, "passage_id": pid, "kind": "kw"} for q, pid in pairs])
    code, err = capflow_train(capsys, tiny_model, trainset, tmp_path / "out")
    assert_one_line_error(code, err, f"{trainset.train}: {expected}: in-batch negatives need at least 2 distinct "
                                     "passages (the loss would be 0 at every step)", tmp_path / "out")


def test_a_set_smaller_than_one_batch_trains_with_a_recorded_warning(tiny_model, trainset, tmp_path, caplog):
    settings = tr.TrainSettings(**{**SETTINGS.__dict__, "batch_size": 128, "max_steps": 1, "eval_steps": None})
    summary = run_train(tiny_model, trainset, tmp_path, settings)
    expected = ("the training set (88 pairs, 22 distinct passages) is smaller than one batch (128): every step sees "
                "the same few in-batch negatives")
    assert summary["warnings"] == [expected]
    assert json.loads((tmp_path / "train.json").read_text())["warnings"] == [expected]
    assert f"WARNING: {expected}" in caplog.text
    assert run_train(tiny_model, trainset, tmp_path / "full")["warnings"] == []


def test_a_model_of_another_run_is_not_overwritten(tiny_model, trainset, tmp_path, capsys):
    out = tmp_path / "out"
    assert capflow_train(capsys, tiny_model, trainset, out)[0] == 0
    before = (out / "model" / "model.safetensors").read_bytes()
    code, err = capflow_train(capsys, tiny_model, trainset, out, "--temperature", "0.05")
    assert code == 2 and err[-1] == (f"capflow train: error: {out / 'model'}: holds a model of another run "
                                     "(differs in settings); remove it to train this one")
    assert (out / "model" / "model.safetensors").read_bytes() == before


def test_bf16_auto_follows_the_hardware(tmp_path, monkeypatch):
    native = tmp_path / "native"
    native.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    plain = tmp_path / "plain"
    plain.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert training.cpu_has_native_bf16(native) and not training.cpu_has_native_bf16(plain)
    assert not training.cpu_has_native_bf16(tmp_path / "missing")
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    assert training.use_bf16("auto", "cpu") and not training.use_bf16("no", "cpu")
    assert not training.use_bf16("auto", "mps")
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    assert not training.use_bf16("auto", "cpu") and training.use_bf16("yes", "cpu")


def test_bad_settings_are_refused():
    with pytest.raises(UserError, match="warmup_ratio must be in"):
        tr.TrainSettings(warmup_ratio=1.0).check()
    with pytest.raises(UserError, match="batch_size must be positive"):
        tr.TrainSettings(batch_size=0).check()


# --- Table 4 -------------------------------------------------------------------------------------------

def metrics_json(path, model, benchmark, ndcg10, display="MiniLM", setting=None):
    """A metrics.json; a finetuned run's names its setting (pool, mix, seed) and its model is its label."""
    record = {"benchmark": benchmark, "model": model, "display": display,
              "metrics": {"ndcg@1": ndcg10 - 0.1, "ndcg@5": ndcg10 - 0.05, "ndcg@10": ndcg10}}
    if setting is not None:
        record |= {"model": setting.label, "setting": dataclasses.asdict(setting)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_a_setting_names_its_label_folder_and_display():
    from capflow import vocabulary

    setting = vocabulary.Setting("ood", "smkw", 3)
    assert (setting.name, setting.label, setting.folder) == ("ood-smkw", "ood-smkw-seed3", "ood-smkw/seed-3")
    assert setting.display == "OOD pool SM+KW"
    assert vocabulary.setting_folder("{pool}", "{mix}", "{seed}") == "{pool}-{mix}/seed-{seed}"
    assert vocabulary.benchmark_label("CapRetrievalEn", vocabulary.TESTVIEW) == "CapRetrievalEn (test view)"
    assert vocabulary.benchmark_label("CapRetrievalEn", None) == "CapRetrievalEn"
    assert vocabulary.setting_display("id", "smkw") == "ID pool SM+KW"


def test_finetune_table_has_base_pools_mixes_and_seed_spread(tmp_path):
    from capflow.report import finetune
    from capflow.report.table import to_csv, to_latex, to_markdown

    inputs = [metrics_json(tmp_path / "base.json", "all-MiniLM-L6-v2", "B", 0.50),
              metrics_json(tmp_path / "bm25.json", "bm25", "B", 0.40, display="BM25")]
    for seed, (sm, kw) in enumerate([(0.52, 0.60), (0.54, 0.62)]):
        inputs += [metrics_json(tmp_path / f"ood-sm-{seed}.json", None, "B", sm, setting=Setting("ood", "sm", seed)),
                   metrics_json(tmp_path / f"ood-kw-{seed}.json", None, "B", kw, setting=Setting("ood", "kw", seed))]
    inputs.append(metrics_json(tmp_path / "id-kw.json", None, "B", 0.70, setting=Setting("id", "kw", 0)))
    for pool, mix in (("ood", "sm"), ("ood", "kw"), ("id", "kw")):
        stats = tmp_path / f"stats-{pool}-{mix}.json"
        stats.write_text(json.dumps({"pool": pool, "mix": mix, "generator": "heuristic (no LLM)"}))
        inputs.append(stats)
    table = finetune.build(SimpleNamespace(inputs=inputs, benchmarks=None, ks=[10], note=["extra note"], caption=None,
                                           labels={}))
    assert [(title, [r.label for r in rows]) for title, rows in table.groups] == [
        ("Zero-shot", ["MiniLM (base)", "BM25"]),
        ("Finetuned on the OOD pool", ["SM", "KW"]),
        ("Finetuned on the ID pool", ["KW"])]
    kw = table.groups[1][1][1].cells["B/ndcg@10"]
    assert kw.value == pytest.approx(0.61) and kw.std == pytest.approx(0.0141421, abs=1e-6)
    assert table.groups[2][1][0].cells["B/ndcg@10"].std is None  # one seed: no spread
    assert "Training queries: heuristic (no LLM)." in table.notes and "extra note" in table.notes
    markdown = to_markdown(table)
    assert "| KW | 61.00 ± 1.41 |" in markdown and "| KW | **70.00** |" in markdown
    assert r"\textbf{70.00}" in to_latex(table)
    assert "B nDCG@10,B nDCG@10 std" in to_csv(table)


def test_finetune_table_refuses_other_json(tmp_path):
    from capflow.report import finetune

    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(UserError, match="neither a metrics JSON"):
        finetune.build(SimpleNamespace(inputs=[bad], benchmarks=None, ks=None, note=None, caption=None, labels={}))


# --- the finetune and evaluate rules ------------------------------------------------------------------

def test_paper_dag_finetunes_every_setting_and_seed_and_evaluates_on_three_benchmarks(workflow_copy):
    import re

    from conftest import run_snakemake

    captions = workflow_copy / "captions.jsonl"
    captions.write_text('{"id": "c1", "text": "a caption"}\n')
    (workflow_copy / "seeds.yaml").write_text(
        f"finetune:\n  seeds: [0, 1]\npools:\n  id:\n    source: {{path: {captions}}}\n")
    # Without the local profile, which would scale GPU requests down to this machine's GPUs.
    result = run_snakemake(workflow_copy, "-n", "-p", "--cores", "1", "--workflow-profile", "none",
                           "--configfile", "config/paper.yaml", "seeds.yaml", "--", "results/tables/finetune.md")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = job_stats(result.stdout)
    assert jobs["finetune"] == 12 and jobs["mteb_data"] == 2
    assert jobs["evaluate"] == 3 * (1 + 12)  # base model + 6 settings x 2 seeds on each benchmark
    models = set(re.findall(r"--out (results/finetune/[a-z]+-[a-z]+/seed-\d)/model ", result.stdout))
    assert models == {f"results/finetune/{p}-{m}/seed-{s}" for p in ("ood", "id") for m in ("sm", "kw", "smkw")
                      for s in (0, 1)}
    train = next(line for line in result.stdout.splitlines() if " train --recipe-json " in line)
    assert "gpu-run --gpus 1 --" in train and "bge-base-zh-v1.5" in train
    for flag in ("--batch-size 128", "--max-steps 4000", "--temperature 0.02", "--query-max-length 32",
                 "--passage-max-length auto", "--learning-rate 2e-05"):
        assert flag in train
    assert "mteb-data --source mteb/EcomRetrieval --split dev --revision fa705ce" in result.stdout
    evaluate = [line for line in result.stdout.splitlines() if " retrieve " in line and "--weights" in line]
    assert len(evaluate) == 36 and all("--setting " in line for line in evaluate)


@pytest.mark.parametrize("setting, lengths, model_max, expected", [
    ("auto", [30] * 99 + [300], 512, 128),  # captions: the paper's 128 holds 99%
    ("auto", [100] * 90 + [200] * 10, 512, 256),  # 128 holds 90%: too few
    ("auto", [100] * 94 + [400] * 6, 512, 512),
    ("auto", [100] * 50 + [900] * 50, 512, 512),  # nothing holds 95%: the model's limit
    ("auto", [10, 20], 64, 64),  # a model shorter than 128
    (96, [500] * 10, 512, 96),  # a number is taken as it is
    (1024, [500] * 10, 512, 512),  # within the model's limit
])
def test_passage_length_holds_95_percent_of_the_pool(setting, lengths, model_max, expected):
    assert train_pairs.passage_length(setting, lengths, model_max) == expected


def test_train_json_records_the_passage_truncation(tiny_model, trainset, tmp_path):
    """Every passage is [CLS] + 6 words + [SEP] = 8 tokens: 8 truncates none, 7 truncates all."""
    import dataclasses

    whole = run_train(tiny_model, trainset, tmp_path / "a", dataclasses.replace(SETTINGS, passage_max_length=8))
    cut = run_train(tiny_model, trainset, tmp_path / "b", dataclasses.replace(SETTINGS, passage_max_length=7))
    assert (whole["passage_max_length"], whole["pool_passages_truncated"], whole["train_passages_truncated"]) == (
        8, 0.0, 0.0)
    assert (cut["passage_max_length"], cut["pool_passages_truncated"], cut["train_passages_truncated"]) == (
        7, 1.0, 1.0)
    assert json.loads((tmp_path / "b" / "train.json").read_text())["passage_max_length_setting"] == 7


def test_passage_max_length_is_a_number_or_auto():
    with pytest.raises(UserError, match="passage_max_length must be a positive integer or 'auto', got 'long'"):
        tr.TrainSettings(passage_max_length="long").check()
    with pytest.raises(UserError, match="passage_max_length must be positive, got 0"):
        tr.TrainSettings(passage_max_length=0).check()


def file_modes(root: Path) -> dict[str, int]:
    import stat

    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}


def test_the_model_and_checkpoints_get_the_default_file_mode(tiny_model, trainset, tmp_path):
    """0666 less the umask, as every other output: safetensors writes its files 0600."""
    from transformers import TrainerCallback

    previous = os.umask(0o022)
    seen = {}

    class RecordCheckpointModes(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            seen.update(file_modes(Path(args.output_dir)))

    try:
        settings = tr.TrainSettings(**{**SETTINGS.__dict__, "save_steps": 2})
        run_train(tiny_model, trainset, tmp_path / "run", settings, callbacks=[RecordCheckpointModes()])
    finally:
        os.umask(previous)
    weights = [name for name in seen if name.endswith("model.safetensors")]
    assert weights == ["checkpoint-2/model.safetensors"]
    assert set(seen.values()) == {0o644}, seen
    modes = file_modes(tmp_path / "run" / "model")
    assert "model.safetensors" in modes and set(modes.values()) == {0o644}, modes


def cut_after_step_3(tiny_model, trainset, out):
    """A run with a checkpoint every step, stopped in step 3: checkpoints 2 and 3 are left."""
    from transformers import TrainerCallback

    class Stop(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt

    settings = tr.TrainSettings(**{**SETTINGS.__dict__, "save_steps": 1})
    with pytest.raises(KeyboardInterrupt):
        run_train(tiny_model, trainset, out, settings, callbacks=[Stop()])
    checkpoints = out / "model.partial" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-2", "checkpoint-3"]
    return settings, checkpoints


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damaged_file", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
def test_a_damaged_checkpoint_falls_back_to_the_one_before(tiny_model, trainset, tmp_path, caplog, damaged_file):
    settings, checkpoints = cut_after_step_3(tiny_model, trainset, tmp_path / "cut")
    truncate(checkpoints / "checkpoint-3" / damaged_file)
    run_train(tiny_model, trainset, tmp_path / "whole", settings)
    with caplog.at_level(logging.WARNING, logger="capflow.train"):
        summary = run_train(tiny_model, trainset, tmp_path / "cut", settings)
    assert summary["resumed_from_step"] == 2
    assert (tmp_path / "cut" / "loss.csv").read_bytes() == (tmp_path / "whole" / "loss.csv").read_bytes()
    damaged = [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()]
    assert len(damaged) == 1 and damaged[0].startswith(f"checkpoint {checkpoints / 'checkpoint-3'} is damaged "
                                                       f"({damaged_file}: ")


def test_every_checkpoint_damaged_stops_with_a_line_naming_restart(tiny_model, trainset, tmp_path):
    settings, checkpoints = cut_after_step_3(tiny_model, trainset, tmp_path / "cut")
    for step in (2, 3):
        (checkpoints / f"checkpoint-{step}" / "optimizer.pt").write_bytes(b"")
    with pytest.raises(UserError) as error:
        run_train(tiny_model, trainset, tmp_path / "cut", settings)
    partial = tmp_path / "cut" / "model.partial"
    assert str(error.value) == (f"{partial}: every checkpoint is damaged (checkpoint-3, checkpoint-2, now in "
                                "damaged/); rerun with --restart to train this run afresh")
    assert sorted(p.name for p in (partial / "damaged").iterdir()) == ["checkpoint-2", "checkpoint-3"]
    summary = run_train(tiny_model, trainset, tmp_path / "cut", settings, restart=True)
    assert summary["resumed_from_step"] is None and not partial.exists()


@pytest.mark.parametrize("failure, free", [
    (OSError(28, "No space left on device"), 10**12),
    (RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 8768 vs 8660"), 0),  # torch.save's
], ids=["os-error", "torch-save"])
def test_a_full_disk_while_saving_a_checkpoint_is_one_line(tiny_model, trainset, tmp_path, monkeypatch, failure,
                                                          free):
    """Checkpoint 2 is saved; saving checkpoint 4 finds the disk full."""
    import collections

    from transformers import TrainerCallback

    class DiskFullAtStep4(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 4:
                raise failure

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(resume.shutil, "disk_usage", lambda path: usage(10**12, 10**12 - free, free))
    settings = tr.TrainSettings(**{**SETTINGS.__dict__, "save_steps": 2, "max_steps": 6})
    with pytest.raises(UserError) as error:
        run_train(tiny_model, trainset, tmp_path / "run", settings, callbacks=[DiskFullAtStep4()])
    partial = tmp_path / "run" / "model.partial"
    assert str(error.value) == (f"{partial}: cannot write: No space left on device (the checkpoints saved so far "
                                "are kept)")
    assert not (tmp_path / "run" / "model").exists() and (partial / "checkpoints" / "checkpoint-2").is_dir()


def test_another_runtime_error_is_not_taken_for_a_full_disk(tiny_model, trainset, tmp_path):
    from transformers import TrainerCallback

    class Broken(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise RuntimeError("a bug")

    settings = tr.TrainSettings(**{**SETTINGS.__dict__, "save_steps": 2})
    with pytest.raises(RuntimeError, match="a bug"):
        run_train(tiny_model, trainset, tmp_path / "run", settings, callbacks=[Broken()])
