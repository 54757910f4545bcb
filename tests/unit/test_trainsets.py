"""Training sets from generated queries: pairs, seeded held-out split, Table 6 statistics and table."""

import json

import pytest

from capflow.errors import UserError
from capflow.trainsets import TrainsetFiles, build_trainset, heldout_mask

from conftest import run_capflow, write_jsonl

ZH_POOL = [
    {"id": "p1", "text": "燃气表安装在墙上", "source": "t"},  # jieba: 燃气表 / 安装 / 在 / 墙上
    {"id": "p2", "text": "两只猫，一只狗。", "source": "t"},  # 两只 / 猫 / ， / 一只 / 狗 / 。 -> 4 words
    {"id": "p3", "text": "没有查询的段落", "source": "t"},
]


def files_in(folder):
    return TrainsetFiles(folder / "train.jsonl", folder / "heldout.jsonl", folder / "stats.json")


def shard(tmp_path, name, rows, generator="heuristic (no LLM)"):
    path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    stats = tmp_path / f"{name}.stats.json"
    stats.write_text(json.dumps({"generator": generator}))
    return path, stats


def q(pid, kind, query):
    return {"passage_id": pid, "kind": kind, "query": query}


@pytest.fixture
def zh_shards(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", ZH_POOL)
    sm = shard(tmp_path, "sm-0", [q("p1", "sm", "墙上的燃气表"), q("p2", "sm", "猫和狗")])
    kw = shard(tmp_path, "kw-0", [q("p1", "kw", "燃气表"), q("p1", "kw", "墙"), q("p1", "kw", "燃气表"),
                                  q("p2", "kw", "猫"), q("p2", "kw", "猫和狗")])
    return pool, sm, kw


def test_stats_are_the_papers_table_6_columns(tmp_path, zh_shards):
    pool, sm, kw = zh_shards
    stats = build_trainset("id", "smkw", pool, [sm[0], kw[0]], [sm[1], kw[1]], "zh", 0.0, 0, files_in(tmp_path / "out"))
    # "燃气表" twice for p1 is kept once; "猫和狗" as SM and as KW for p2 is kept once, as SM
    assert stats["queries"] == 5 and stats["train_queries"] == 5 and stats["heldout_queries"] == 0
    assert stats["passages"] == 2 and stats["pool_passages"] == 3
    # the paper's units: the whole pool's tokens (p3 has no query: 没有 / 查询 / 的 / 段落), queries per
    # pool passage, query length in the same jieba words (墙上 / 的 / 燃气表, 猫 / 和 / 狗, then 1 + 1 + 1)
    assert stats["pool_tokens"] == 12 and stats["queries_per_pool_passage"] == round(5 / 3, 4)
    assert stats["query_tokens_mean"] == round((3 + 3 + 1 + 1 + 1) / 5, 4)
    assert stats["passage_tokens"] == 8 and stats["passage_tokens_mean"] == 4.0
    assert stats["token_unit"] == "jieba words" and stats["query_length_unit"] == "chars"
    assert stats["queries_per_passage"] == 2.5
    assert stats["query_length_mean"] == round((6 + 3 + 3 + 1 + 1) / 5, 4)
    assert stats["by_kind"]["kw"] == {"queries": 3, "passages": 2, "queries_per_passage": 1.5,
                                      "query_length_mean": round(5 / 3, 4)}
    assert stats["generator"] == "heuristic (no LLM)"
    train = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert train == [{"query": "墙上的燃气表", "passage_id": "p1", "kind": "sm"},
                     {"query": "猫和狗", "passage_id": "p2", "kind": "sm"},
                     {"query": "燃气表", "passage_id": "p1", "kind": "kw"},
                     {"query": "墙", "passage_id": "p1", "kind": "kw"},
                     {"query": "猫", "passage_id": "p2", "kind": "kw"}]


def test_english_units_are_whitespace_words(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", [{"id": "a", "text": "A red cat , on a sofa.", "source": "t"}])
    kw = shard(tmp_path, "kw", [q("a", "kw", "red cat"), q("a", "kw", "sofa")], generator="Qwen/Qwen3-32B (vllm)")
    stats = build_trainset("ood", "kw", pool, [kw[0]], [kw[1]], "en", 0.0, 0, files_in(tmp_path / "out"))
    assert stats["passage_tokens"] == 6  # the lone "," is not a word
    assert stats["query_length_mean"] == 1.5 and stats["query_length_unit"] == "words"
    assert stats["query_tokens_mean"] == 1.5 and stats["pool_tokens"] == 6 and stats["queries_per_pool_passage"] == 2.0
    assert stats["generator"] == "Qwen/Qwen3-32B (vllm)"


def many(kind, n):
    return [q(f"p{i % 7}", kind, f"{kind} query {i}") for i in range(n)]


def test_heldout_is_five_percent_of_each_kind_seeded_and_shared_across_mixes():
    sm, kw = many("sm", 60), many("kw", 140)
    mask_sm, mask_kw = heldout_mask(sm, 0.05, 13), heldout_mask(kw, 0.05, 13)
    mask_both = heldout_mask(sm + kw, 0.05, 13)
    assert sum(mask_sm) == 3 and sum(mask_kw) == 7
    assert mask_both == mask_sm + mask_kw
    assert heldout_mask(sm, 0.05, 13) == mask_sm
    assert heldout_mask(sm, 0.05, 14) != mask_sm
    assert sum(heldout_mask(sm, 0.0, 13)) == 0


def test_train_and_heldout_split_the_pairs_and_files_are_reproducible(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", [{"id": f"p{i}", "text": f"passage {i}", "source": "t"}
                                                 for i in range(7)])
    kw = shard(tmp_path, "kw", many("kw", 140))
    outputs = []
    for run in ("a", "b"):
        build_trainset("ood", "kw", pool, [kw[0]], [kw[1]], "en", 0.05, 13, files_in(tmp_path / run))
        outputs.append({name: (tmp_path / run / name).read_bytes()
                        for name in ("train.jsonl", "heldout.jsonl", "stats.json")})
    assert outputs[0] == outputs[1]
    train = [json.loads(line)["query"] for line in outputs[0]["train.jsonl"].decode().splitlines()]
    heldout = [json.loads(line)["query"] for line in outputs[0]["heldout.jsonl"].decode().splitlines()]
    assert len(heldout) == 7 and len(train) == 133
    assert sorted(train + heldout) == sorted(r["query"] for r in many("kw", 140))


def test_queries_of_another_kind_or_passage_are_errors_with_file_and_line(tmp_path, zh_shards):
    pool, sm, kw = zh_shards
    with pytest.raises(UserError, match=r"kw-0.jsonl:1: query of kind 'kw' in a sm training set"):
        build_trainset("id", "sm", pool, [kw[0]], [kw[1]], "zh", 0.05, 0, files_in(tmp_path / "out"))
    stray = shard(tmp_path, "sm-1", [q("p1", "sm", "ok"), q("p9", "sm", "lost")])
    with pytest.raises(UserError, match=r"sm-1.jsonl:2: passage 'p9' is not in the pool"):
        build_trainset("id", "sm", pool, [stray[0]], [stray[1]], "zh", 0.05, 0, files_in(tmp_path / "out"))
    empty = shard(tmp_path, "sm-2", [])
    with pytest.raises(UserError, match="no generated queries for id-sm"):
        build_trainset("id", "sm", pool, [empty[0]], [empty[1]], "zh", 0.05, 0, files_in(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_cli_and_table_6_label_the_heuristic_generator(tmp_path, zh_shards):
    pool, sm, kw = zh_shards
    stats_files = []
    for mix, shards in (("sm", [sm]), ("kw", [kw]), ("smkw", [sm, kw])):
        out = tmp_path / f"id-{mix}"
        result = run_capflow("trainset", "--pool", "id", "--mix", mix, "--passages", pool,
                             "--queries", *[s[0] for s in shards], "--stats", *[s[1] for s in shards],
                             "--language", "zh", "--heldout-fraction", "0.05", "--seed", "3",
                             "--train", out / "train.jsonl",
                             "--heldout", out / "heldout.jsonl", "--out-stats", out / "stats.json")
        assert result.returncode == 0, result.stderr
        stats_files.append(out / "stats.json")
    result = run_capflow("tables", "trainsets", "--inputs", *stats_files, "--pool", "id", pool,
                         "--tex", tmp_path / "trainsets.tex", "--md", tmp_path / "trainsets.md",
                         "--csv", tmp_path / "trainsets.csv")
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "trainsets.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| heuristic (no LLM)")]
    assert [r.split(" | ")[1] for r in rows] == ["SM", "KW", "SM+KW"]
    # the paper's pool passages, pool tokens, queries per pool passage, query length, in WordPiece tokens
    # (a Chinese character or punctuation mark is one: 8 + 8 + 7 in the pool; 墙上的燃气表, 猫和狗, 燃气表, 墙,
    # 猫 are 14 over 5 queries); then queries, passages with a query, held out, and the jieba-word columns
    assert rows[2].split(" | ")[2:11] == ["3", "23", "1.67", "2.80", "5", "2", "0", "12", "1.80 |"]
    assert ("| Passages | Tokens | Queries/passage | Query length | Queries | Passages with queries | Held out | "
            "Tokens (words) | Query length (words) |") in markdown
    assert "*ID pool*" in markdown and "heuristic (no LLM): queries made by keyword extraction" in markdown
    assert "in BERT WordPiece tokens (uncased vocabulary of all-MiniLM-L6-v2)" in markdown
    assert "in words (zh: jieba words)" in markdown
    tex = (tmp_path / "trainsets.tex").read_text()
    assert r"\textbf" not in tex and "heuristic (no LLM)" in tex
    assert (tmp_path / "trainsets.csv").read_text().count("heuristic (no LLM)") == 3


def test_a_pool_emptied_by_the_leakage_filter_is_named_with_its_counts(tmp_path):
    pool = write_jsonl(tmp_path / "pools" / "id" / "passages.jsonl", [])
    (pool.parent / "leakage.json").write_text(json.dumps({"counts": {"in": 40, "dropped": 40, "kept": 0}}))
    queries, stats = shard(tmp_path, "kw-0", [])
    stats.write_text(json.dumps({"generator": "heuristic (no LLM)", "passages": 0, "queries": 0, "rejects": 0}))
    with pytest.raises(UserError) as caught:
        build_trainset("id", "kw", pool, [queries], [stats], "zh", 0.05, 0, files_in(tmp_path / "out"),
                       leakage_report=pool.parent / "leakage.json")
    assert str(caught.value) == ("no generated queries for id-kw: the leakage filter kept no passage of the pool "
                                 f"(40 in, 40 dropped, 0 kept; see {pool.parent / 'leakage.json'})")
    (pool.parent / "leakage.json").unlink()
    with pytest.raises(UserError, match=r"the pool .*passages.jsonl holds no passage \(did the leakage filter"):
        build_trainset("id", "kw", pool, [queries], [stats], "zh", 0.05, 0, files_in(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_only_rejects_are_counted_from_the_shard_stats(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", ZH_POOL)
    queries, stats = shard(tmp_path, "kw-0", [])
    stats.write_text(json.dumps({"generator": "heuristic (no LLM)", "passages": 3, "queries": 0, "rejects": 7}))
    with pytest.raises(UserError) as caught:
        build_trainset("id", "kw", pool, [queries], [stats], "zh", 0.05, 0, files_in(tmp_path / "out"))
    assert str(caught.value) == ("no generated queries for id-kw: every answer was rejected (7 rejects for 3 of "
                                 "the pool's 3 passages; see the rejects files)")
