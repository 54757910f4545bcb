"""The transformers backend with a tiny random Llama and a BPE tokenizer built here (plumbing, not quality)."""

from dataclasses import replace

import pytest

from capflow.errors import UserError
from capflow.generate.backend import GenerationRequest, GeneratorSettings, Sampling, TransformersOptions, make_backend
from capflow.generate.shards import Passage, run_shard
from capflow.prompts import load_prompts

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think></think>{% endif %}{% endif %}")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = ["A red cat sleeps on the sofa.", "Queries: {\"queries\": [\"cat\", \"sofa\"]}",
              "这张图片显示了一只猫。", "Write search queries for the passage."] * 20
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<eos>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<eos>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def settings(model, batch_size=2, max_tokens=6):
    return GeneratorSettings(backend="transformers", model=str(model),
                             sampling=Sampling(temperature=0.0, max_tokens=max_tokens, seed=0),
                             transformers=TransformersOptions(batch_size=batch_size, device="cpu"))


def requests_for(prompts, texts, kind="kw"):
    return [GenerationRequest(f"p{i}", t, kind, prompts.messages(kind, t)) for i, t in enumerate(texts)]


def test_prompts_go_through_the_chat_template_with_thinking_off(tiny_model, repo_root):
    prompts = load_prompts(repo_root / "config" / "prompts" / "en.yaml")
    backend = make_backend(settings(tiny_model), prompts.schema)
    [request] = requests_for(prompts, ["A red cat sleeps on the sofa."])
    rendered = backend.render(request)
    assert rendered.startswith("<|im_start|>system\n")
    assert "A red cat sleeps on the sofa." in rendered
    assert rendered.endswith("<|im_start|>assistant\n<think></think>")


def test_batched_left_padded_generation_equals_one_by_one(tiny_model, repo_root):
    prompts = load_prompts(repo_root / "config" / "prompts" / "en.yaml")
    texts = ["A cat.", "A red cat sleeps on the sofa next to a very long window.", "这张图片显示了一只猫。"]
    requests = requests_for(prompts, texts)
    backend = make_backend(settings(tiny_model, batch_size=3), None)
    shapes = []
    generate = backend.model.generate

    def spy(**kwargs):
        out = generate(**kwargs)
        shapes.append((kwargs["input_ids"].shape[1], out.shape[1]))
        return out

    backend.model.generate = spy
    batched = backend.generate(requests)
    single = make_backend(settings(tiny_model, batch_size=1), None).generate(requests)
    assert batched == single
    assert len(batched) == 3 and all(isinstance(a, str) for a in batched)
    [(prompt_len, total_len)] = shapes  # one batch of three, at most max_tokens new tokens
    assert 0 < total_len - prompt_len <= 6
    for answer in batched:  # only the new tokens are decoded, never the prompt
        assert "<|im_start|>" not in answer and "search queries" not in answer


# What the "model" answers for each passage (found in the prompt), and what must become of it.
SCRIPT = {
    "一只猫。": "garbage, no queries here",
    "沙发上的红猫。": '{"queries": ["沙发上的红猫。", "  ", "红猫", "红猫", 7, "' + "猫" * 40 + '"]}',
    "窗边的狗。": 'Sure!\n```json\n{"queries": ["窗边", "狗"]}\n```',
}


def test_known_answers_become_exact_queries_and_rejects(tiny_model, repo_root, monkeypatch):
    """The tiny model's generate() replaced by scripted token ids: decoding, parsing and rejecting
    run for real on known answers."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    calls = []

    def scripted_generate(self, input_ids, attention_mask, **kwargs):
        calls.append(kwargs)
        rows = []
        for ids in input_ids.tolist():
            prompt = tokenizer.decode(ids, skip_special_tokens=True)
            [answer] = [a for passage, a in SCRIPT.items() if passage in prompt]
            rows.append(ids + tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
        width = max(map(len, rows))
        return torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in rows])

    monkeypatch.setattr(LlamaForCausalLM, "generate", scripted_generate)
    prompts = load_prompts(repo_root / "config" / "prompts" / "zh.yaml")
    passages = [Passage(f"p{i}", t) for i, t in enumerate(SCRIPT)]
    limits = settings(tiny_model, batch_size=3, max_tokens=64)
    result = run_shard(passages, "kw", 0, 1, replace(limits, max_query_chars=20), prompts)
    assert [(c["max_new_tokens"], c["do_sample"]) for c in calls] == [(64, False)]
    assert [(q["passage_id"], q["query"]) for q in result.queries] == [("p1", "红猫"), ("p2", "窗边"), ("p2", "狗")]
    assert [(r["passage_id"], r["reason"]) for r in result.rejects] == [
        ("p0", "unparseable: no JSON object or list found"), ("p1", "passage_copy"), ("p1", "empty"),
        ("p1", "duplicate"), ("p1", "not_a_string"), ("p1", "too_long")]
    assert result.stats["reject_reasons"] == {"duplicate": 1, "empty": 1, "not_a_string": 1, "passage_copy": 1,
                                              "too_long": 1, "unparseable": 1}


def test_random_model_output_becomes_rejects_not_a_crash(tiny_model, repo_root):
    prompts = load_prompts(repo_root / "config" / "prompts" / "zh.yaml")
    passages = [Passage(f"p{i}", t) for i, t in enumerate(["一只猫。", "沙发上的红猫。", "窗边的狗。"])]
    result = run_shard(passages, "sm", 0, 1, settings(tiny_model), prompts)
    assert result.stats["passages"] == 3
    answered = {q["passage_id"] for q in result.queries} | {r["passage_id"] for r in result.rejects}
    assert answered == {"p0", "p1", "p2"}
    known = {"unparseable", "not_a_string", "empty", "too_long", "passage_copy", "duplicate"}
    assert {r["reason"].split(":")[0] for r in result.rejects} <= known


def test_a_model_path_without_weights_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="cannot load"):
        make_backend(settings(tmp_path / "nothing-here"), None)
