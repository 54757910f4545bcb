"""The transformers backend with a tiny random Llama and a BPE tokenizer built here (plumbing, not quality)."""

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


def test_random_model_output_becomes_rejects_not_a_crash(tiny_model, repo_root):
    prompts = load_prompts(repo_root / "config" / "prompts" / "zh.yaml")
    passages = [Passage(f"p{i}", t) for i, t in enumerate(["一只猫。", "沙发上的红猫。", "窗边的狗。"])]
    result = run_shard(passages, "sm", 0, 1, settings(tiny_model), prompts)
    assert result.stats["passages"] == 3
    assert result.stats["queries"] + result.stats["rejects"] >= 3
    assert all(r["reason"] for r in result.rejects)


def test_a_model_path_without_weights_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="cannot load"):
        make_backend(settings(tmp_path / "nothing-here"), None)
