"""A model named by hub id gives exactly what the same weights give when named by path."""

import json
import shutil

from huggingface_hub import snapshot_download

from capflow.recipes import Recipe

from conftest import build_tiny_bert, run_capflow
from fakes.hub_server import LocalHub

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


def test_hub_id_and_local_path_give_equal_runs_and_metrics(tmp_path, tiny_benchmark):
    """The weights come from a loopback hub at the recipe's pinned commit (main holds other files), into a
    cache the runs then read offline."""
    with LocalHub(tmp_path / "hub") as hub:
        build_tiny_bert(tmp_path / "tiny", list("abcdefghijklmnopqrstuvwxyz.,"), seed=3)
        shutil.copytree(tmp_path / "tiny", hub.add("models", "acme/tiny-encoder", commit=COMMIT), dirs_exist_ok=True)
        (hub.add("models", "acme/tiny-encoder") / "config.json").write_text("{}")
        snapshot = snapshot_download("acme/tiny-encoder", revision=COMMIT, endpoint=hub.endpoint,
                                     cache_dir=tmp_path / "cache")
    env = {"HF_HUB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    outputs = {}
    for how, where in (("hub", {"hub_id": "acme/tiny-encoder", "revision": COMMIT}), ("path", {"path": snapshot})):
        recipe = Recipe(name="tiny", pooling="mean", max_length=64, **where).to_json()
        out = tmp_path / how
        result = run_capflow("retrieve", "--benchmark", tiny_benchmark, "--recipe-json", recipe, "--language", "en",
                             "--device", "cpu", "--run", out / "run.trec", "--metrics", out / "metrics.json",
                             "--errors", out / "errors.jsonl", env=env)
        assert result.returncode == 0, result.stderr
        metrics = json.loads((out / "metrics.json").read_text())
        outputs[how] = (metrics["metrics"], metrics["queries_evaluated"], (out / "run.trec").read_text(),
                        (out / "errors.jsonl").read_text())
    assert outputs["hub"] == outputs["path"]
    assert outputs["hub"][1] == 2 and len(outputs["hub"][2].splitlines()) == 3 * 4  # 3 queries x 4 candidates
