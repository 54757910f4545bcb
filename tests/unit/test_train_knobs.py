"""Hard negatives and retrieval evaluation during training, with a tiny BERT built here."""

import csv
import json
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capflow import cli, encoders, metrics
from capflow import train as tr
from capflow.errors import UserError
from capflow.train import negatives as hn
from capflow.train import resume
from capflow.train.deveval import DevEvaluation, build_evaluator, dev_task

from conftest import WORDS, tiny_recipe, write_jsonl

SETTINGS = tr.TrainSettings(batch_size=8, max_steps=6, learning_rate=3e-3, warmup_ratio=0.0, save_steps=100,
                            bf16="no")


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --- mining ------------------------------------------------------------------------------------------

def assert_rules_hold(rows, pairs, pool, test_captions, count):
    """No negative is a positive of its query (by text too) or a test caption; each row has ``count``."""
    test = {hn.text_key(t) for t in test_captions}
    positive_texts: dict[str, set[str]] = {}
    for query, pid in pairs:
        positive_texts.setdefault(query, set()).add(hn.text_key(pool[pid]))
    for row in rows:
        assert len(row["negative_ids"]) == count == len(set(row["negative_ids"]))
        for nid in row["negative_ids"]:
            text = hn.text_key(pool[nid])
            assert text not in positive_texts[row["query"]]
            assert text not in test


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bm25_mining_never_takes_a_positive_or_a_test_caption(data):
    texts = data.draw(st.lists(st.lists(st.sampled_from(WORDS[:12]), min_size=1, max_size=5).map(" ".join),
                               min_size=4, max_size=24))
    pool = {f"p{i}": text for i, text in enumerate(texts)}  # duplicate texts are likely: few words
    ids = list(pool)
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(WORDS[:12]), st.sampled_from(ids)), min_size=1,
                               max_size=20))
    test_captions = data.draw(st.lists(st.sampled_from(texts), max_size=4))
    mining = hn.MiningSettings(miner="bm25", count=data.draw(st.integers(1, 3)), range_min=0, range_max=30,
                               relative_margin=data.draw(st.sampled_from([0.0, 0.05])))
    rows, stats = hn.mine(pairs, pool, test_captions, mining, language="en")
    assert_rules_hold(rows, pairs, pool, test_captions, mining.count)
    assert stats["pairs_with_negatives"] + stats["pairs_left_out"] == len(pairs) == stats["pairs"]


def test_bm25_mining_takes_the_highest_ranked_non_positive():
    pool = {"a": "red cat", "b": "red cat", "c": "red dog", "d": "blue sky", "e": "red cat sofa", "f": "cat tree"}
    pairs = [("red cat", "a"), ("cat", "f")]
    mining = hn.MiningSettings(miner="bm25", count=1, range_min=0, range_max=10, relative_margin=0.0)
    rows, stats = hn.mine(pairs, pool, ["red cat sofa"], mining, language="en")
    # for "red cat": a and b (same text) are positives, e is a test caption: c ("red dog") remains best
    assert rows[0] == {"query": "red cat", "passage_id": "a", "negative_ids": ["c"]}
    assert rows[1]["negative_ids"] in (["a"], ["b"])  # "cat": the red-cat passages rank next to "cat tree"
    assert stats["test_captions_in_pool"] == 1


def test_a_pair_without_enough_negatives_is_left_out_and_counted():
    pool = {"a": "red cat", "b": "blue sky", "c": "green tree"}
    mining = hn.MiningSettings(miner="bm25", count=2, range_min=0, range_max=3, relative_margin=0.0)
    rows, stats = hn.mine([("red cat", "a")], pool, ["blue sky"], mining, language="en")
    assert rows == [] and stats["pairs_left_out"] == 1


def test_dense_mining_follows_the_same_rules(tiny_model):
    rng = random.Random(1)
    texts = [" ".join(rng.sample(WORDS, 4)) for _ in range(30)]
    texts[5] = texts[4]  # a duplicate of a positive
    pool = {f"p{i}": t for i, t in enumerate(texts)}
    pairs = [(" ".join(texts[i].split()[:2]), f"p{i}") for i in range(0, 12, 2)] + [("cat dog", "p4")]
    test_captions = texts[20:26]
    mining = hn.MiningSettings(miner="dense", count=2, range_min=0, range_max=25, relative_margin=0.0)
    rows, stats = hn.mine(pairs, pool, test_captions, mining, language="en", recipe=tiny_recipe(tiny_model),
                          device="cpu")
    assert_rules_hold(rows, pairs, pool, test_captions, 2)
    assert len(rows) == len(pairs) and stats["test_captions_in_pool"] == 6


@pytest.mark.parametrize("changes, message", [
    ({"miner": "tfidf"}, "miner must be one of bm25, dense"),
    ({"count": 0}, "hard negatives per pair must be positive"),
    ({"range_min": 5, "range_max": 5}, "0 <= range_min < range_max"),
    ({"count": 4, "range_min": 0, "range_max": 3}, "4 hard negatives per pair cannot come from ranks 0 to 3"),
    ({"relative_margin": 1.0}, "relative_margin must be in [0, 1)"),
])
def test_bad_mining_settings_are_one_line(changes, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        hn.MiningSettings(**changes).check()


def test_capflow_negatives_writes_rows_and_stats(trainset, tmp_path, capsys):
    test = write_jsonl(tmp_path / "candidates.jsonl", [{"id": "c0", "text": trainset.texts["p3"]}])
    out, stats = tmp_path / "neg" / "negatives.jsonl", tmp_path / "neg" / "stats.json"
    code = cli.main(["negatives", "--train", str(trainset.train), "--passages", str(trainset.passages),
                     "--test-captions", str(test), "--language", "en", "--count", "2", "--out", str(out),
                     "--stats", str(stats)])
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(len(r["negative_ids"]) == 2 and "p3" not in r["negative_ids"] for r in rows)
    assert json.loads(stats.read_text())["test_captions_in_pool"] == 1


def test_a_negatives_file_with_an_unknown_id_is_one_line(tmp_path):
    path = write_jsonl(tmp_path / "negatives.jsonl", [{"query": "q", "passage_id": "a", "negative_ids": ["zz"]}])
    with pytest.raises(UserError, match=r"negatives.jsonl:1: negative_ids must be a non-empty list"):
        hn.load_negatives(path, {"a": "x"})


# --- training with negatives and dev evaluation -------------------------------------------------------

def mined(trainset, tmp_path, count=1):
    pool = dict(trainset.texts)
    pairs = [(p["query"], p["passage_id"]) for p in trainset.pairs[:-8]]
    rows, _ = hn.mine(pairs, pool, [], hn.MiningSettings(count=count, range_max=20, relative_margin=0.0),
                      language="en")
    return write_jsonl(tmp_path / "negatives.jsonl", rows), rows


def run_train(model_dir, data, out_dir, settings=SETTINGS, **kwargs):
    return tr.train(tiny_recipe(model_dir), settings, train_path=data.train, heldout_path=data.heldout,
                    passages_path=data.passages, out=out_dir / "model", loss_path=out_dir / "loss.csv",
                    summary_path=out_dir / "train.json", device="cpu", **kwargs)


def test_training_with_hard_negatives_records_them(tiny_model, trainset, tmp_path):
    path, rows = mined(trainset, tmp_path, count=2)
    summary = run_train(tiny_model, trainset, tmp_path / "run", negatives_path=path)
    assert summary["hard_negatives_per_pair"] == 2 and summary["pairs"] == len(rows)
    record = json.loads((tmp_path / "run" / "model" / resume.RUN_RECORD).read_text())
    assert record["data"]["negatives"] == resume.file_digest(path)
    plain = run_train(tiny_model, trainset, tmp_path / "plain")
    assert "hard_negatives_per_pair" not in plain
    assert "negatives" not in json.loads((tmp_path / "plain" / "model" / resume.RUN_RECORD).read_text())["data"]


def test_dev_ndcg_is_logged_per_evaluation_and_the_best_checkpoint_is_kept(tiny_model, trainset, tmp_path):
    dev = DevEvaluation(dev_eval_steps=2, keep_best=True)
    summary = run_train(tiny_model, trainset, tmp_path / "run", dev=dev)
    rows = read_rows(tmp_path / "run" / "loss.csv")
    assert list(rows[0]) == ["step", "train_loss", "eval_loss", "dev_ndcg@10"]
    scored = {int(r["step"]): float(r["dev_ndcg@10"]) for r in rows if r["dev_ndcg@10"]}
    assert sorted(scored) == [2, 4, 6]
    best_step = max(scored, key=lambda s: (scored[s], -s))  # the trainer keeps the first of equal bests
    assert summary["kept_checkpoint_step"] == summary["best_dev_step"] == best_step
    assert summary["best_dev_ndcg@10"] == pytest.approx(scored[best_step], abs=1e-6)
    # the final model scores the dev view as the kept step did
    heldout = [(p["query"], p["passage_id"]) for p in trainset.pairs[-8:]]
    evaluator = build_evaluator(*dev_task(heldout, trainset.texts), batch_size=8)
    model = encoders.load_encoder(tiny_recipe(tmp_path / "run" / "model"), device="cpu")
    assert evaluator(model)["dev_cosine_ndcg@10"] == pytest.approx(scored[best_step], abs=1e-4)


def test_a_plain_run_keeps_its_loss_columns(tiny_model, trainset, tmp_path):
    run_train(tiny_model, trainset, tmp_path / "run")
    assert list(read_rows(tmp_path / "run" / "loss.csv")[0]) == ["step", "train_loss", "eval_loss"]


def test_keep_best_without_an_interval_is_refused():
    with pytest.raises(UserError, match="keep_best needs dev_eval_steps"):
        DevEvaluation(keep_best=True).check()


def test_the_evaluators_ndcg_equals_capflows_on_the_same_ranking(tiny_model, trainset):
    heldout = [(p["query"], p["passage_id"]) for p in trainset.pairs]
    queries, corpus, relevant = dev_task(heldout, trainset.texts)
    model = encoders.load_encoder(tiny_recipe(tiny_model), device="cpu")
    ours = build_evaluator(queries, corpus, relevant, batch_size=8)(model)["dev_cosine_ndcg@10"]
    q = model.encode(list(queries.values()), normalize_embeddings=True, convert_to_numpy=True)
    c = model.encode(list(corpus.values()), normalize_embeddings=True, convert_to_numpy=True)
    scores = q @ c.T
    corpus_ids = list(corpus)
    # ties (many, with a random model) in pool order, as capflow's dense rankings break them
    run = {qid: [corpus_ids[j] for j in np.argsort(-scores[i], kind="stable")[:10]]
           for i, qid in enumerate(queries)}
    assert any(len(set(row)) < len(row) for row in scores)
    qrels = {qid: dict.fromkeys(rel, 1) for qid, rel in relevant.items()}
    mean, _ = metrics.evaluate(run, qrels, [10])
    assert ours == pytest.approx(mean["ndcg@10"], abs=1e-6)
    assert round(ours, 2) == round(mean["ndcg@10"], 2)


# --- names and tables ----------------------------------------------------------------------------------

def test_a_knobbed_setting_names_its_variant_everywhere():
    from capflow.vocabulary import Setting, setting_variant

    variant = setting_variant(hard_negatives=True, dev_evaluation=True, keep_best=True)
    setting = Setting("id", "kw", 0, variant)
    assert (setting.name, setting.label, setting.folder) == ("id-kw+hn+best", "id-kw+hn+best-seed0",
                                                             "id-kw+hn+best/seed-0")
    assert setting.display == "ID pool KW + hard negatives, best dev checkpoint"
    assert setting.to_json() == {"pool": "id", "mix": "kw", "seed": 0, "variant": "hn+best"}
    assert Setting("id", "kw", 0).to_json() == {"pool": "id", "mix": "kw", "seed": 0}  # records as before
    assert setting_variant(False, True, False) == "dev" and setting_variant(False, False, False) == ""


def test_table_4_gets_a_labelled_row_per_knobbed_setting(tmp_path):
    from types import SimpleNamespace

    from capflow.report import finetune
    from capflow.runrecord import RunRecord
    from capflow.vocabulary import Setting

    def record(name, ndcg10, setting=None):
        model = setting.label if setting else "all-MiniLM-L6-v2"
        path = tmp_path / f"{name}.json"
        RunRecord(benchmark="B", model=model, metrics={"ndcg@10": ndcg10}, setting=setting,
                  display="MiniLM").write(path)
        return path

    inputs = [record("base", 0.5), record("kw", 0.6, Setting("id", "kw", 0)),
              record("kw-hn", 0.64, Setting("id", "kw", 0, "hn+best")), record("sm", 0.55, Setting("id", "sm", 0))]
    table = finetune.build(SimpleNamespace(inputs=inputs, benchmarks=None, ks=[10], note=None, caption=None,
                                           labels={}))
    rows = table.groups[1][1]
    assert [r.label for r in rows] == ["SM", "KW", "KW + hard negatives, best dev checkpoint"]
    assert [round(r.cells["B/ndcg@10"].value, 2) for r in rows] == [0.55, 0.6, 0.64]


def test_retrieve_takes_a_settings_variant_and_refuses_unknown_knobs():
    from capflow.retrieve import parse_setting
    from capflow.vocabulary import Setting

    assert parse_setting(["id", "kw", "0"], "hn+best") == Setting("id", "kw", 0, "hn+best")
    with pytest.raises(UserError, match=r"--variant: unknown knobs 'hn\+x' \(knobs: hn, best, dev, joined by \+\)"):
        parse_setting(["id", "kw", "0"], "hn+x")
    with pytest.raises(UserError, match="give --setting too"):
        parse_setting(None, "hn")


def test_capflow_train_takes_the_knobs_from_its_command_line():
    import argparse

    from capflow.settingflags import from_args

    parser = argparse.ArgumentParser()
    tr.configure_parser(parser)
    args = parser.parse_args(["--model", "m", "--train", "t", "--passages", "p", "--out", "o", "--loss-csv", "l",
                              "--negatives", "n.jsonl", "--dev-eval-steps", "12", "--keep-best"])
    assert from_args(DevEvaluation, args) == DevEvaluation(dev_eval_steps=12, keep_best=True)
    assert str(args.negatives) == "n.jsonl"
