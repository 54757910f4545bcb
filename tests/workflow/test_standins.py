"""The stand-ins of the paper configuration's hub items: served by the loopback hub at the pinned
revisions, prefetched with capflow's prefetch step, then used with the hub stopped and HF_HUB_OFFLINE=1
by capflow's own code: each encoder recipe's dense path, the generation LLM through the transformers
backend, ``capflow mteb-data`` and ``capflow pool``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, _data_root, run_capflow
from fakes.loopback import closed_endpoint
from fakes.standins import build_standins, planned, serve
from fakes.standins.llm import ANSWERS, answer_text

PAPER = [REPO / "config" / "paper.yaml", REPO / "config" / "paper-ood.yaml"]
HUB_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE", "HF_ENDPOINT", "HF_HOME", "HF_MODULES_CACHE")
GTE = "gte-multilingual-base"




def _paper_plan():
    plan, items = planned(PAPER)
    return plan, items


PLAN, ITEMS = _paper_plan()
ENCODERS = [name for name in PLAN.all_zeroshot_models if PLAN.recipes[name].kind == "dense"]


@pytest.fixture(scope="module")
def built(request):
    """The stand-ins, built once into pytest's cache folder and reused by later sessions."""
    data = _data_root()
    return build_standins(request.config.cache.mkdir("standins"), PAPER,
                          data_root=data if (data / "CapRetrieval").is_dir() else None)


def _env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in HUB_ENV}
    return {**env, "HF_HOME": str(home), "PYTHONPATH": str(REPO / "tests"), **extra}


def _offline(home: Path) -> dict:
    return _env(home, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_ENDPOINT=closed_endpoint())


def _prefetch(home: Path, items: list[dict], built: list[dict], hub_root: Path) -> dict:
    """``capflow prefetch`` of ``items`` from a loopback hub serving the stand-ins, stopped afterwards."""
    hub = serve(hub_root, built)
    try:
        result = subprocess.run([sys.executable, "-m", "capflow", "prefetch", "--plan-json", json.dumps(items),
                                 "--endpoint", hub.endpoint, "--manifest", str(home / "manifest.json")],
                                capture_output=True, text=True, env=_env(home, HF_ENDPOINT=hub.endpoint))
    finally:
        hub.__exit__()
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((home / "manifest.json").read_text())


def _probe(home: Path, out: Path, *args) -> dict:
    command = [sys.executable, "-m", "fakes.standins.probe", "--config", *map(str, PAPER), "--out", str(out), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=_offline(home), cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def prefetched(built, tmp_path_factory):
    """The whole paper plan prefetched into a fresh HF_HOME."""
    home = tmp_path_factory.mktemp("hf-home")
    manifest = _prefetch(home, ITEMS, built, tmp_path_factory.mktemp("hub"))
    return home, manifest


@pytest.fixture(scope="module")
def probed(prefetched, tmp_path_factory):
    """Every encoder recipe and the LLM, used offline in one fresh process."""
    home, _ = prefetched
    return _probe(home, tmp_path_factory.mktemp("probe") / "probe.json", "--encoders", *ENCODERS, "--llm")


def test_every_planned_item_is_served_and_prefetched_at_its_revision(built, prefetched):
    _, manifest = prefetched
    served = {(e["kind"], e["repo"]): e["revision"] for e in built}
    assert len(manifest["items"]) == len(ITEMS)
    assert sum(item["kind"] == "model" for item in ITEMS) == 14  # 13 encoders (two English BGE) and the LLM
    assert sum(item["kind"] == "dataset" for item in ITEMS) == 3  # Ecom, Video, DuReader
    for item in manifest["items"]:
        assert item["state"] == "downloaded"
        kind = "models" if item["kind"] == "model" else "datasets"
        assert served[(kind, item["repo"])] == item["revision"]
        if item["revision"] != "main":
            assert item["commit"] == item["revision"], item
    assert served[("models", "Alibaba-NLP/new-impl")] == "main"  # the code repo gte-multilingual-base names


def test_a_pinned_stand_in_is_not_served_at_main(built, tmp_path):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RevisionNotFoundError

    hub = serve(tmp_path / "hub", built)
    try:
        api = HfApi(endpoint=hub.endpoint)
        assert api.model_info("Qwen/Qwen3-32B", revision=PLAN.config["generate"]["revision"]).sha == \
            "9216db5781bf21249d130ec9da846c4624c16137"
        with pytest.raises(RevisionNotFoundError):
            api.model_info("Qwen/Qwen3-32B", revision="main")
    finally:
        hub.__exit__()


@pytest.mark.parametrize("name", [n for n in ENCODERS if n != GTE])
def test_each_encoder_embeds_offline_as_its_recipe_pools(name, probed):
    recipe, found = PLAN.recipes[name], probed["encoders"][name]
    assert "error" not in found, found.get("error")
    assert found["shape"] == [3, 32]
    assert found["max_difference"] < 1e-4  # capflow's batched, padded encoding equals the oracle's pooling
    pooling = {"cls": "cls", "model": "cls", "mean": "mean", "last": "lasttoken"}[recipe.pooling]
    assert found["pooling_mode"] == pooling
    if recipe.padding_side:
        assert found["padding_side"] == recipe.padding_side
    if name.startswith("Qwen3-Embedding"):
        assert found["padding_side"] == "left" and set(found["last_tokens"]) == {"<|endoftext|>"}
    if recipe.pooling == "model":
        assert (Path(found["weights"]) / "1_Pooling" / "config.json").is_file()
    stored = json.loads((Path(found["weights"]) / "config.json").read_text())["dtype"]
    half = "float16" if name.startswith("e5-mistral") else "bfloat16" if name.startswith("Qwen3") else "float32"
    assert stored == half  # as the published weights are stored
    assert found["dtype"] == "float32"  # dtype auto loads half weights as fp32 on a CPU


def test_gte_multilingual_loads_offline_after_the_prefetch(prefetched, probed):
    """The prefetch fetches the code repo the model's auto_map names (Alibaba-NLP/new-impl) with it."""
    home, _ = prefetched
    assert (home / "hub" / "models--Alibaba-NLP--new-impl").exists()
    found = probed["encoders"][GTE]
    assert "error" not in found, found["error"]
    assert found["shape"] == [3, 32] and found["max_difference"] < 1e-4


def test_gte_multilingual_loads_offline_once_its_code_repo_is_cached(built, tmp_path):
    """The stand-in is faithful: with Alibaba-NLP/new-impl in the cache too, the custom code loads offline."""
    item = next(i for i in ITEMS if i["repo"] == PLAN.recipes[GTE].hub_id)
    code = {"kind": "model", "repo": "Alibaba-NLP/new-impl", "revision": None, "used_by": []}
    _prefetch(tmp_path / "hf-home", [item, code], built, tmp_path / "hub")
    found = _probe(tmp_path / "hf-home", tmp_path / "probe.json", "--encoders", GTE)["encoders"][GTE]
    assert "error" not in found, found["error"]
    assert found["shape"] == [3, 32] and found["max_difference"] < 1e-4 and found["pooling_mode"] == "cls"


def test_the_llm_answers_both_kinds_with_queries_the_parser_keeps(probed):
    llm = probed["llm"]
    assert llm["rendered"].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")  # enable_thinking: false
    for kind in ("sm", "kw"):
        assert llm[kind]["answers"] == [answer_text(kind)] * 3
        assert llm[kind]["kept"] == [ANSWERS[kind]] * 3 and llm[kind]["rejected"] == [[], [], []]


def test_the_chat_template_honours_enable_thinking(built):
    from transformers import AutoTokenizer

    folder = next(e["folder"] for e in built if e["repo"] == "Qwen/Qwen3-32B")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    messages = [{"role": "user", "content": "你好"}]
    thinking = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    quiet = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert thinking == "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n"
    assert quiet == thinking + "<think>\n\n</think>\n\n"


@pytest.mark.parametrize("name", ["EcomRetrieval", "VideoRetrieval"])
def test_mteb_data_converts_each_dev_set_offline(name, prefetched, tmp_path):
    home, _ = prefetched
    source = PLAN.config["evaluate"]["mteb"][name]
    outputs = {flag: tmp_path / f"{flag}.json" for flag in ("candidates", "queries", "types", "stats")}
    result = run_capflow("mteb-data", "--source", source["repo"], "--split", source["split"], "--revision",
                         source["revision"], *[x for flag, path in outputs.items() for x in (f"--{flag}", path)],
                         env=_offline(home), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads(outputs["stats"].read_text())
    assert (stats["candidates"], stats["queries"], stats["positives"]) == (300, 30, 30)
    assert stats["revision"] == source["revision"]


def test_the_ood_pool_is_built_offline(prefetched, tmp_path):
    home, _ = prefetched
    pool = PLAN.config["pools"]["ood"]
    source = pool["source"]
    result = run_capflow("pool", "--kind", "hub", "--key", "pools.ood.source", "--dataset", source["dataset"],
                         "--revision", source["revision"], "--split", source["split"], "--text-field",
                         source["text_field"], "--id-field", source["id_field"], "--min-chars", pool["min_chars"],
                         "--max-chars", pool["max_chars"], "--size", 50, "--seed", pool["seed"],
                         "--out", tmp_path / "passages.jsonl", "--stats", tmp_path / "stats.json",
                         env=_offline(home), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = json.loads((tmp_path / "stats.json").read_text())["counts"]
    assert counts["read"] == 400 and counts["written"] == 50
    assert len((tmp_path / "passages.jsonl").read_text().splitlines()) == 50


def test_an_encoder_of_no_known_family_is_refused():
    from fakes.standins.models import family_of

    assert family_of("Qwen/Qwen3-Embedding-4B") == "qwen3"
    with pytest.raises(ValueError, match="no stand-in family for the encoder 'acme/other-7b'"):
        family_of("acme/other-7b")
