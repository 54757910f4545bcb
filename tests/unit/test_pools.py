import json

import pytest

from capflow import pools, testview
from capflow.benchmark import load_benchmark
from capflow.errors import UserError

from conftest import run_capflow, write_jsonl


def read_rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def P(pid, text, source="s"):
    return pools.Passage(pid, text, source)


# --- building ---------------------------------------------------------------------------------------

def test_build_pool_normalises_filters_and_dedups_first_wins():
    passages = [P("a", "  A  cat\n sleeps "), P("b", "tiny"), P("c", "A cat sleeps"), P("d", "x" * 30),
                P("e", "Two dogs\trun")]
    chosen, stats = pools.build_pool(passages, min_chars=5, max_chars=20)
    assert [(p.id, p.text) for p in chosen] == [("a", "A cat sleeps"), ("e", "Two dogs run")]
    assert stats["counts"] == {"read": 5, "too_short": 1, "too_long": 1, "duplicate_text": 1,
                               "eligible": 2, "written": 2}


def test_length_limits_are_inclusive_and_count_normalised_characters():
    passages = [P("four", "ab  cd"), P("five", "abcde"), P("six", "abcdef")]
    chosen, _ = pools.build_pool(passages, min_chars=5, max_chars=5)
    assert [p.id for p in chosen] == ["four", "five"]  # "ab cd" is 5 characters once normalised


def test_sampling_is_seeded_deterministic_and_keeps_source_order():
    passages = [P(f"p{i}", f"passage number {i}") for i in range(200)]
    first, stats = pools.build_pool(passages, size=50, seed=3)
    again, _ = pools.build_pool(passages, size=50, seed=3)
    other, _ = pools.build_pool(passages, size=50, seed=4)
    ids = [p.id for p in first]
    assert ids == [p.id for p in again]
    assert ids != [p.id for p in other]
    assert len(ids) == 50 and len(set(ids)) == 50
    assert ids == sorted(ids, key=lambda pid: int(pid[1:]))
    assert stats["counts"]["eligible"] == 200 and stats["counts"]["written"] == 50


def test_sampling_more_than_available_keeps_all():
    chosen, stats = pools.build_pool([P("a", "one"), P("b", "two")], size=10, seed=0)
    assert [p.id for p in chosen] == ["a", "b"] and stats["counts"]["written"] == 2


def test_duplicate_id_with_different_text_names_both_lines(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": "x", "text": "first"}, {"id": "x", "text": "second"}])
    with pytest.raises(UserError, match=r"p.jsonl:2: duplicate passage id 'x' \(first at .*p.jsonl:1\)"):
        pools.build_pool(pools.read_jsonl_source(path))


def test_bad_limits_and_size_are_user_errors():
    with pytest.raises(UserError, match="length limits"):
        pools.build_pool([], min_chars=10, max_chars=5)
    with pytest.raises(UserError, match="size must be positive"):
        pools.build_pool([], size=0)


# --- sources -----------------------------------------------------------------------------------------

def test_jsonl_source_ids_fields_and_generated_ids(tmp_path):
    path = write_jsonl(tmp_path / "caps.jsonl", [{"id": 7, "caption": "a dog"}, {"caption": "a cat"},
                                                 {"id": "x", "caption": "a cow", "source": "farm"}])
    got = list(pools.read_jsonl_source(path, text_field="caption"))
    assert [(p.id, p.text, p.source, p.line) for p in got] == [("7", "a dog", "caps.jsonl", 1),
                                                               ("caps:2", "a cat", "caps.jsonl", 2),
                                                               ("x", "a cow", "farm", 3)]


def test_jsonl_source_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "caps.jsonl"
    path.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": \n', encoding="utf-8")
    with pytest.raises(UserError, match=r"caps.jsonl:2: malformed JSON"):
        list(pools.read_jsonl_source(path))
    path.write_text('{"id": "a", "body": "no text"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"caps.jsonl:1: missing field 'text'"):
        list(pools.read_jsonl_source(path))


def test_text_source_one_passage_per_nonblank_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("first line\n\n  \nsecond line\n", encoding="utf-8")
    got = list(pools.read_text_source(path))
    assert [(p.id, p.text.strip(), p.line) for p in got] == [("lines:1", "first line", 1),
                                                             ("lines:4", "second line", 4)]


def test_hub_source_reads_a_dataset_through_load_dataset(tmp_path, monkeypatch):
    # A local dataset directory goes through the same datasets.load_dataset call as a hub id.
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    write_jsonl(tmp_path / "ds" / "corpus.jsonl", [{"id": "d1", "text": "百度知道的一段网页文本"},
                                                   {"id": "d2", "text": "另一段网页文本"}])
    got = list(pools.read_hub_source(str(tmp_path / "ds"), key="pools.ood.source", split="train"))
    assert [(p.id, p.text) for p in got] == [("d1", "百度知道的一段网页文本"), ("d2", "另一段网页文本")]
    with pytest.raises(UserError, match=r"pools.ood.source.text_field: 'body' is not a column"):
        list(pools.read_hub_source(str(tmp_path / "ds"), key="pools.ood.source", text_field="body"))
    with pytest.raises(UserError, match=r"^pools.ood.source.dataset: cannot load"):
        list(pools.read_hub_source(str(tmp_path / "missing"), key="pools.ood.source"))


def test_pydoc_topics_source_is_english_prose():
    got = list(pools.read_pydoc_topics())
    assert len(got) > 500
    assert len({p.id for p in got}) == len(got)
    assert all(p.text[0].isupper() and p.text.endswith(".") for p in got)
    assert not any("\n" in p.text or "  " in p.text for p in got)


def test_peoples_daily_source_strips_word_tags(tmp_path):
    path = tmp_path / "pd.txt"
    path.write_text("迈向/v  充满/v  希望/n  的/u  新/a  世纪/n\n\n中共中央/nt  总书记/n\n", encoding="utf-8")
    got = list(pools.read_peoples_daily(path))
    assert [(p.id, p.text) for p in got] == [("199801.1", "迈向充满希望的新世纪"), ("199801.3", "中共中央总书记")]
    path.write_text("没有标注的词\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"pd.txt:1: expected word/tag tokens"):
        list(pools.read_peoples_daily(path))


def test_peoples_daily_shipped_corpus():
    first = next(pools.read_peoples_daily())
    assert first.text.startswith("迈向充满希望的新世纪") and "/" not in first.text


# --- CLI ---------------------------------------------------------------------------------------------

def test_cli_missing_id_file_names_the_config_key(tmp_path):
    out = tmp_path / "pool" / "passages.jsonl"
    result = run_capflow("pool", "--kind", "jsonl", "--key", "pools.id.source", "--path", tmp_path / "nope.jsonl",
                         "--out", out)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"capflow pool: error: pools.id.source.path: JSONL passage file not found: {tmp_path / 'nope.jsonl'}")
    assert not out.exists()
    unset = run_capflow("pool", "--kind", "jsonl", "--key", "pools.id.source", "--out", out)
    assert unset.returncode == 2
    assert "pools.id.source.path is not set" in unset.stderr.strip().splitlines()[-1]


def test_cli_malformed_line_is_one_line_error_and_writes_nothing(tmp_path):
    path = tmp_path / "caps.jsonl"
    path.write_text('{"id": "a", "text": "ok"}\nnot json\n', encoding="utf-8")
    out = tmp_path / "passages.jsonl"
    result = run_capflow("pool", "--kind", "jsonl", "--path", path, "--out", out)
    assert result.returncode == 2
    assert f"{path}:2: malformed JSON" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_cli_builds_pool_and_stats(tmp_path):
    path = tmp_path / "caps.txt"
    path.write_text("".join(f"caption {i % 30} about things\n" for i in range(40)), encoding="utf-8")
    out, stats = tmp_path / "passages.jsonl", tmp_path / "stats.json"
    result = run_capflow("pool", "--kind", "text", "--path", path, "--size", "10", "--seed", "1",
                         "--out", out, "--stats", stats)
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert len(rows) == 10 and set(rows[0]) == {"id", "text", "source"}
    assert all(r["source"] == "caps.txt" for r in rows)
    assert json.loads(stats.read_text())["counts"] == {"read": 40, "too_short": 0, "too_long": 0,
                                                        "duplicate_text": 10, "eligible": 30, "written": 10}


# --- hold-out and test view --------------------------------------------------------------------------

def test_split_holdout_restricts_positives_and_counts(tiny_benchmark):
    held, view = testview.split_holdout(tiny_benchmark, 2, seed=0)
    held_ids = {p.id for p in held}
    assert len(held_ids) == 2
    b = view.benchmark
    assert set(b.candidate_ids) == {"c1", "c2", "c3", "c4"} - held_ids
    assert [q.id for q in b.queries] == ["q1", "q2", "q3"]  # every query kept
    for q in b.queries:
        assert not set(q.qrels) & held_ids
    original = {"q1": {"c1": 2, "c3": 1}, "q2": {"c4": 2}, "q3": {}}
    for q in b.queries:
        assert q.qrels == {c: s for c, s in original[q.id].items() if c not in held_ids}
    assert view.stats["positives"] + view.stats["positives_dropped"] == 3
    assert view.stats["queries_with_positives"] == sum(1 for q in b.queries if q.qrels)
    again, _ = testview.split_holdout(tiny_benchmark, 2, seed=0)
    assert [p.id for p in again] == [p.id for p in held]


def test_holdout_size_out_of_range_names_key(tiny_benchmark):
    with pytest.raises(UserError, match=r"pools.id.source.holdout must be between 1 and 3"):
        testview.split_holdout(tiny_benchmark, 4, seed=0, key="pools.id.source.holdout")


def test_testview_then_holdout_pool(tiny_benchmark, tmp_path):
    (tiny_benchmark / "query_types.json").write_text(json.dumps({"q1": "animal"}))
    view_dir, held = tmp_path / "testview" / "Tiny", tmp_path / "testview" / "Tiny" / "heldout.jsonl"
    result = run_capflow("testview", "--benchmark-dir", tiny_benchmark, "--holdout", "1", "--seed", "5",
                         "--candidates", view_dir / "candidates.jsonl", "--queries", view_dir / "queries.jsonl",
                         "--types", view_dir / "query_types.json", "--stats", view_dir / "testview.json",
                         "--heldout", held)
    assert result.returncode == 0, result.stderr
    pool = tmp_path / "id" / "source.jsonl"
    result = run_capflow("pool", "--kind", "holdout", "--path", held, "--out", pool, "--stats", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    rows = read_rows(pool)
    assert len(rows) == 1 and rows[0]["source"] == "holdout:Tiny"
    view = load_benchmark(view_dir)
    assert rows[0]["id"] not in view.candidate_ids and len(view.candidate_ids) == 3
    assert all(rows[0]["id"] not in q.qrels for q in view.queries)
    assert json.loads((view_dir / "query_types.json").read_text()) == {"q1": "animal"}
    stats = json.loads((view_dir / "testview.json").read_text())
    assert stats["held_out_ids"] == [rows[0]["id"]] and stats["candidates"] == 3


def test_holdout_pool_needs_the_held_out_file(tmp_path):
    result = run_capflow("pool", "--kind", "holdout", "--key", "pools.id.source", "--out", tmp_path / "p.jsonl")
    assert result.returncode == 2 and "pools.id.source.path is not set" in result.stderr


@pytest.mark.integration
def test_capretrieval_en_holdout(benchmark_root, tmp_path):
    held, view = testview.split_holdout(benchmark_root / "CapRetrievalEn", 1000, seed=7)
    assert len(held) == 1000 and len(view.benchmark.candidate_ids) == 2024
    assert len(view.benchmark.queries) == 404
    full = load_benchmark(benchmark_root / "CapRetrievalEn")
    assert view.stats["positives"] + view.stats["positives_dropped"] == sum(len(q.qrels) for q in full.queries)
    assert view.stats["queries_with_positives"] < view.stats["queries_with_positives_before"] == 377


@pytest.mark.integration
def test_workflow_builds_both_pools_and_the_test_view(workflow_copy, benchmark_root):
    from conftest import run_snakemake

    targets = ["results/pools/id/passages.jsonl", "results/pools/ood/passages.jsonl"]
    result = run_snakemake(workflow_copy, "--cores", "2", *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    results = workflow_copy / "results"
    view = load_benchmark(results / "testview" / "CapRetrievalEn")
    held = read_rows(results / "testview" / "CapRetrievalEn" / "heldout.jsonl")
    assert len(view.candidate_ids) == 2024 and len(held) == 1000
    assert not {row["id"] for row in held} & set(view.candidate_ids)
    report = json.loads((results / "pools" / "id" / "leakage.json").read_text())
    kept = read_rows(results / "pools" / "id" / "passages.jsonl")
    assert report["counts"]["in"] == 1000 and report["counts"]["kept"] == len(kept) < 1000
    assert report["counts"]["test_captions"] == 2024 and report["threshold"] == 0.7
    assert {row["id"] for row in kept} | {d["id"] for d in report["dropped"]} == {row["id"] for row in held}
    ood = read_rows(results / "pools" / "ood" / "passages.jsonl")
    assert len(ood) > 500 and all(40 <= len(row["text"]) <= 400 for row in ood)
    again = run_snakemake(workflow_copy, "--cores", "2", "-n", *targets)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_hub_row_longer_than_the_text_limit_is_one_line(tmp_path, monkeypatch):
    import datasets

    from capflow.benchmark import MAX_TEXT_CHARS

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    write_jsonl(tmp_path / "ds" / "corpus.jsonl", [{"id": "d1", "text": "short"},
                                                   {"id": "d2", "text": "w" * (MAX_TEXT_CHARS + 5)}])
    with pytest.raises(UserError) as error:
        list(pools.read_hub_source(str(tmp_path / "ds"), key="pools.ood.source", split="train"))
    assert str(error.value) == (f"pools.ood.source: row 1 of '{tmp_path / 'ds'}/train': 'text' is "
                                f"{MAX_TEXT_CHARS + 5} characters long, more than the limit of {MAX_TEXT_CHARS}")
