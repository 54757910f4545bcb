"""tests/fakes/fake_vllm against the vLLM releases recorded by benchmarks/vllm_contract.py, without vLLM.

The script itself needs each release installed (several GB apiece); it records what it saw in
tests/fakes/fake_vllm/api/, and here the fake, in the matching API generation, is held against that record
with the same comparison, as are the names capflow's backend really passes.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location("vllm_contract", REPO / "benchmarks" / "vllm_contract.py")
contract = importlib.util.module_from_spec(spec)
spec.loader.exec_module(contract)

RECORDED = {path.stem.removeprefix("vllm-"): json.loads(path.read_text())
            for path in sorted(contract.RECORDED.glob("vllm-*.json"))}


def mismatches(checks) -> list[str]:
    return [f"{item} ({detail})" for item, ok, detail in checks if not ok]


def test_the_releases_checked_are_the_old_pin_the_env_pin_and_the_current_one():
    assert sorted(RECORDED) == ["0.11.2", "0.33.0", "0.34.0"]
    assert {contract.fake_api_for(version) for version in RECORDED} == set(contract.FAKE_APIS)


@pytest.mark.parametrize("version", sorted(RECORDED))
def test_the_fake_mirrors_the_recorded_release(version):
    real = RECORDED[version]
    fake = contract.run_describe(sys.executable, contract.fake_api_for(version))
    assert mismatches(contract.check_calls(real)) == []
    assert mismatches(contract.check_fake(real, fake)) == []


def test_a_fake_that_drifts_from_vllm_is_reported_item_by_item():
    real = RECORDED["0.34.0"]
    fake = copy.deepcopy(real)
    fake["LLM.chat"] = [p for p in fake["LLM.chat"] if p[0] != "priority"]
    fake["SamplingParams"].append("max_new_tokens")
    fake["probes"]["SamplingParams(temperature=2.5)"] = "accepted"
    fake["EngineArgs"].append("max_len")
    assert mismatches(contract.check_fake(real, fake)) == [
        "EngineArgs fields the fake accepts are vLLM's (not in vLLM: ['max_len'])",
        'LLM.chat parameters (only in vLLM: [["priority", "POSITIONAL_OR_KEYWORD", "None"]])',
        'SamplingParams fields (only in the fake: ["max_new_tokens"])',
        "SamplingParams(temperature=2.5) -> VLLMValidationError: temperature must be in [0, 2], got 2.5. "
        "(parameter=temperature, value=2.5) (fake: accepted)",
    ]
    assert mismatches(contract.check_calls(real)) == []


def test_a_vllm_that_drops_what_capflow_calls_is_reported():
    gone = copy.deepcopy(RECORDED["0.34.0"])
    gone["SamplingParams"].remove("structured_outputs")
    gone["LLM.chat"] = [p for p in gone["LLM.chat"] if p[0] != "chat_template_kwargs"]
    gone["LLM.__init__"] = [p for p in gone["LLM.__init__"] if p[0] != "revision"]
    assert mismatches(contract.check_calls(gone))[0] != "LLM(revision=...) (rejected)"  # still an EngineArgs field
    gone["EngineArgs"].remove("revision")
    assert mismatches(contract.check_calls(gone)) == [
        "LLM(revision=...) (rejected)", "LLM.chat(chat_template_kwargs=...) (no such parameter)",
        "SamplingParams(structured_outputs=...) (no such field)"]


def test_the_calls_the_contract_checks_are_the_calls_the_backend_makes(monkeypatch, repo_root):
    from capflow.generate.backend import GenerationRequest, GeneratorSettings, make_backend
    from capflow.prompts import load_prompts

    monkeypatch.syspath_prepend(str(contract.FAKE_VLLM))
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)
    import vllm.entrypoints.llm as fake
    from vllm.sampling_params import CONSTRAINTS

    monkeypatch.setattr(fake, "INSTANCES", [])
    prompts = load_prompts(repo_root / "config" / "prompts" / "en.yaml")
    backend = make_backend(GeneratorSettings(backend="vllm", model="m"), prompts.schema)
    backend.generate([GenerationRequest("p1", "a cat", "kw", prompts.messages("kw", "a cat"))])

    [llm] = fake.INSTANCES
    [call] = llm.calls
    calls = contract.CAPFLOW_CALLS
    assert sorted(llm.init_kwargs) == sorted(calls["LLM"])
    assert call["positional"] == len(calls["LLM.chat positional"])
    assert sorted(call["keywords"]) == sorted(calls["LLM.chat keywords"])
    [params] = call["sampling_params"]
    assert sorted(params.given) == sorted(calls["SamplingParams"])
    structured = params.structured_outputs
    assert [name for name in CONSTRAINTS if getattr(structured, name) is not None] == ["json"]
    assert calls["StructuredOutputsParams"] == ("json",)


def test_the_script_reports_each_item_and_fails_on_a_release_it_has_no_record_of(monkeypatch, capsys):
    # the fake stands in for an installed vLLM: as 0.33 it matches itself, but 0.33.0+fake was never recorded
    monkeypatch.setenv("PYTHONPATH", str(contract.FAKE_VLLM))
    monkeypatch.setenv("FAKE_VLLM_API", "0.33")
    assert contract.main([sys.executable]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"vLLM 0.33.0+fake ({sys.executable}), ")
    assert [line for line in lines if not line.startswith("  ok  ")] == [
        lines[0], " capflow's calls:", " tests/fakes/fake_vllm as vLLM 0.33:",
        "  MISMATCH  recorded in tests/fakes/fake_vllm/api/vllm-0.33.0+fake.json  (absent: rerun with --record)",
        "MISMATCH"]
    assert len(lines) == 2 + len(contract.check_calls(RECORDED["0.33.0"])) + 1 + len(
        contract.check_fake(RECORDED["0.33.0"], RECORDED["0.33.0"])) + 1 + 1

    assert contract.main(["--calls-only", sys.executable]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "ok: capflow's calls match every vLLM checked"
    assert sum(line.startswith("  ok  ") for line in lines) == 20
