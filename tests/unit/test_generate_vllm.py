"""The vLLM backend against tests/fakes/fake_vllm, a fake with vLLM's signatures and argument checks, as vLLM
0.11, 0.33 and 0.34 (tests/unit/test_vllm_contract.py holds the fake against those releases' recorded APIs)."""

import importlib
import json
import sys

import pytest

from capflow.errors import UserError
from capflow.generate.backend import GenerationRequest, GeneratorSettings, Sampling, VllmOptions, make_backend
from capflow.generate.shards import Passage, run_shard
from capflow.prompts import load_prompts

from conftest import FAKES

FAKE_VLLM = FAKES / "fake_vllm"


@pytest.fixture(params=["0.11", "0.33", "0.34"])
def fake_vllm(request, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_API", request.param)
    monkeypatch.syspath_prepend(str(FAKE_VLLM))
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)
    import vllm.entrypoints.llm as fake

    monkeypatch.setattr(fake, "INSTANCES", [])
    return fake


@pytest.fixture
def prompts(repo_root):
    return load_prompts(repo_root / "config" / "prompts" / "zh.yaml")


def settings(**overrides):
    base = {"backend": "vllm", "model": "Qwen/Qwen3-32B", "language": "zh",
            "sampling": Sampling(temperature=0.6, top_p=0.9, max_tokens=300, seed=7),
            "vllm": VllmOptions(tensor_parallel_size=2, gpu_memory_utilization=0.85, max_model_len=2048)}
    return GeneratorSettings(**{**base, **overrides})


def test_the_fake_rejects_what_vllm_rejects(fake_vllm):
    import vllm
    from vllm.api import API
    from vllm.sampling_params import StructuredOutputsParams

    # vLLM 0.11 raises ValueErrors; 0.33 and 0.34 their VLLMValidationError, which is no ValueError
    refused = ValueError if API == "0.11" else importlib.import_module("vllm.exceptions").VLLMValidationError
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_len'"):
        vllm.LLM(model="m", max_len=10)
    with pytest.raises(TypeError, match="Unexpected keyword argument 'max_new_tokens'"):
        vllm.SamplingParams(max_new_tokens=10)
    with pytest.raises(refused, match=r"top_p must be in \(0, 1\], got 0"):
        vllm.SamplingParams(top_p=0)
    with pytest.raises(refused, match="only use one kind"):
        StructuredOutputsParams(json={}, regex="a")
    with pytest.raises(TypeError):
        vllm.LLM(model="m").chat([[{"role": "user", "content": "x"}]], guided_options_request={})
    if API == "0.11":  # an empty constraint passes, and so does the pre-0.11 name, which pydantic ignores
        assert StructuredOutputsParams(json_schema={}).json is None
        assert vllm.SamplingParams(temperature=2.5).temperature == 2.5
    else:
        assert not issubclass(refused, ValueError)
        with pytest.raises(refused, match="must use one kind"):
            StructuredOutputsParams(json_schema={})
        with pytest.raises(refused, match=r"temperature must be in \[0, 2\], got 2.5"):
            vllm.SamplingParams(temperature=2.5)


def test_one_llm_one_batched_chat_call_with_the_configured_parameters(fake_vllm, prompts):
    backend = make_backend(settings(), prompts.schema)
    requests = [GenerationRequest(f"p{i}", f"第{i}段", "kw", prompts.messages("kw", f"第{i}段")) for i in range(5)]
    answers = backend.generate(requests)

    [llm] = fake_vllm.INSTANCES
    assert llm.init_kwargs == {"model": "Qwen/Qwen3-32B", "revision": None, "tensor_parallel_size": 2, "dtype": "auto",
                               "seed": 7, "gpu_memory_utilization": 0.85, "max_model_len": 2048}
    [call] = llm.calls  # the whole batch in one call: vLLM schedules it
    assert call["conversations"] == [r.messages for r in requests]
    assert call["chat_template_kwargs"] == {"enable_thinking": False}
    params = call["sampling_params"][0]
    assert (params.temperature, params.top_p, params.max_tokens, params.seed) == (0.6, 0.9, 300, 7)
    assert params.structured_outputs.json == prompts.schema
    assert [json.loads(a)["queries"][0].startswith("query ") for a in answers] == [True] * 5


def test_the_cli_pins_the_llm_revision_and_asks_for_the_configured_count(fake_vllm, repo_root, tmp_path):
    import argparse

    from capflow import generate

    parser = argparse.ArgumentParser()
    generate.configure_parser(parser)
    pool = tmp_path / "passages.jsonl"
    pool.write_text(json.dumps({"id": "p1", "text": "一只橘猫", "source": "t"}, ensure_ascii=False) + "\n")
    generate.main(parser.parse_args([
        "--passages", str(pool), "--kind", "sm", "--out", str(tmp_path / "q.jsonl"),
        "--stats", str(tmp_path / "s.json"), "--rejects", str(tmp_path / "r.jsonl"), "--backend", "vllm",
        "--model", "Qwen/Qwen3-32B",
        "--model-revision", "9216db5781bf21249d130ec9da846c4624c16137", "--prompts",
        str(repo_root / "config/prompts/zh.yaml"), "--queries-per-passage", "5"]))
    [llm] = fake_vllm.INSTANCES
    assert llm.init_kwargs["revision"] == "9216db5781bf21249d130ec9da846c4624c16137"
    [conversation] = llm.calls[0]["conversations"]
    assert "一只橘猫\n\n请写出 5 条用户可能用来检索" in conversation[1]["content"]


def test_without_structured_output_the_fenced_answer_is_still_parsed(fake_vllm, prompts):
    result = run_shard([Passage("p1", "一只猫")], "sm", 0, 1, settings(structured_output=False), prompts)
    params = fake_vllm.INSTANCES[0].calls[0]["sampling_params"][0]
    assert params.structured_outputs is None
    assert len(result.queries) == 2 and not result.rejects
    assert result.stats["generator"] == "Qwen/Qwen3-32B (vllm)"


def test_answers_cut_by_max_tokens_become_rejects_or_partial_queries(fake_vllm, prompts):
    tight = settings(sampling=Sampling(max_tokens=12))
    result = run_shard([Passage("p1", "一只猫")], "kw", 0, 1, tight, prompts)
    # 12 of MiniLM's WordPiece tokens: '{"queries": ["query ' and the first token of the query's hash,
    # nothing complete
    assert result.queries == []
    assert [r["reason"].split(":")[0] for r in result.rejects] == ["unparseable"]
    [cut] = [r["text"] for r in result.rejects]
    assert cut.startswith('{"queries": ["query ') and len(fake_vllm.tokenizer().tokenize(cut)) == 12


def test_missing_vllm_is_a_one_line_error(monkeypatch, prompts):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(UserError, match=r"pip install 'capflow\[vllm\]'"):
        make_backend(settings(), prompts.schema)


def test_the_fake_renders_through_a_chat_template_and_counts_real_tokens(fake_vllm):
    """A test of the fake alone: the chat template sees chat_template_kwargs, a model left thinking
    thinks aloud, max_tokens counts WordPiece tokens, and a malformed schema is refused."""
    import vllm
    from vllm.sampling_params import StructuredOutputsParams

    llm = vllm.LLM(model="m")
    conversation = [{"role": "user", "content": "a cat"}]
    off = llm.chat([conversation], vllm.SamplingParams(max_tokens=200),
                   chat_template_kwargs={"enable_thinking": False})[0]
    assert off.prompt == "<|im_start|>user\na cat<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert off.outputs[0].text.startswith("Here are the queries:")
    on = llm.chat([conversation], vllm.SamplingParams(max_tokens=200))[0]
    assert on.prompt.endswith("<|im_start|>assistant\n") and on.outputs[0].text.startswith("<think>\n")
    cut = llm.chat([conversation], vllm.SamplingParams(max_tokens=3))[0].outputs[0]
    assert (cut.text, len(cut.token_ids), cut.finish_reason) == ("<think>", 3, "length")  # <, think, >
    bad = vllm.SamplingParams(structured_outputs=StructuredOutputsParams(json={"type": "objekt"}))
    with pytest.raises(ValueError, match="JSON schema is invalid: 'objekt' is not valid"):
        llm.chat([conversation], bad)


def test_thinking_stays_off_and_the_shipped_schema_compiles(fake_vllm, prompts):
    result = run_shard([Passage("p1", "一只猫")], "kw", 0, 1, settings(), prompts)
    [call] = fake_vllm.INSTANCES[0].calls
    assert call["prompts"][0].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert len(result.queries) == 2 and not result.rejects
    assert not any("think" in q["query"] for q in result.queries)


def test_sampling_settings_vllm_refuses_stop_the_job_before_the_model_loads(fake_vllm, prompts):
    from vllm.api import API

    hot = settings(sampling=Sampling(temperature=2.5))
    if API == "0.11":
        make_backend(hot, prompts.schema)
        assert len(fake_vllm.INSTANCES) == 1
    else:
        with pytest.raises(UserError) as refused:
            make_backend(hot, prompts.schema)
        assert str(refused.value) == (f"vLLM {API}.0+fake refuses the sampling settings (generate.sampling): "
                                      "temperature must be in [0, 2], got 2.5. (parameter=temperature, value=2.5)")
        assert fake_vllm.INSTANCES == []
