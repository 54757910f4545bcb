"""Embeddings checked against oracles that do not go through capflow: plain sentence-transformers
for MiniLM, and pooling written out here over tiny random models built in the test. The token ids
the model actually receives are read from a hook on its forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from capflow import encoders
from capflow.dense import embed
from capflow.recipes import Recipe, load_recipes

from conftest import REPO, build_tiny_bert

TEXTS = ["A red cat sleeps on the sofa.", "Two  dogs", "A man in a BLUE jacket rides a bicycle past the old "
         "train station while it rains.", "cat"]
# The instruction of the authors' command lines: backslash and n, two characters, not a newline.
INSTRUCTION = "Instruct: Given an image search query, retrieve relevant image captions\\nQuery: "


def prepared(text: str) -> str:
    return " ".join(text.split()).lower()


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


class ForwardSpy:
    """Records input_ids and attention_mask of every forward call of a HF model. sentence-transformers
    calls ``model.forward`` itself (no module hooks run), so the spy wraps that method."""

    def __init__(self, hf_model):
        self.calls: list[dict] = []
        forward = hf_model.forward

        def spied(*args, **kwargs):
            self.calls.append({k: kwargs[k].clone() for k in ("input_ids", "attention_mask")})
            return forward(*args, **kwargs)

        hf_model.forward = spied


def embed_spied(recipe: Recipe, texts, role: str):
    """capflow's embeddings and the (input_ids, attention_mask) rows the model received, per text."""
    state = {"model": encoders.load_encoder(recipe, device="cpu")}
    spy = ForwardSpy(state["model"][0].auto_model)
    vectors = embed(recipe, texts, role, None, "cpu", state)
    rows = [(ids[mask.bool()].tolist(), mask.tolist()) for call in spy.calls
            for ids, mask in zip(call["input_ids"], call["attention_mask"])]
    return vectors, rows, spy.calls


def test_minilm_equals_plain_sentence_transformers_encode():
    from sentence_transformers import SentenceTransformer

    recipe = load_recipes(REPO / "config" / "models.yaml")["all-MiniLM-L6-v2"]
    ours = embed(recipe, TEXTS, "passage", None, "cpu")
    plain = SentenceTransformer(str(encoders.resolve_weights(recipe)), device="cpu")
    theirs = plain.encode([prepared(t) for t in TEXTS], batch_size=2, normalize_embeddings=True)
    assert cosines(ours, theirs).min() >= 0.9999


# --- a tiny decoder: last-token pooling, padding side, instruction, EOS ----------------------------

@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory):
    """A random two-layer Qwen2 with a byte-level BPE tokenizer whose EOS is also its pad token."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2Model

    corpus = [INSTRUCTION, *map(prepared, TEXTS)] * 10
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<|endoftext|>", eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    path = tmp_path_factory.mktemp("tiny-qwen2")
    Qwen2Model(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


POOLINGS = {"last": lambda hidden: hidden[-1], "cls": lambda hidden: hidden[0], "mean": lambda hidden: hidden.mean(0)}


def pooling_oracle(path, texts: list[str], pooling: str, append_eos: bool = False) -> np.ndarray:
    """Each text alone (no padding) through the bare HF model, pooled as named, L2-normalised."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    out = []
    with torch.inference_mode():
        for text in texts:
            ids = tokenizer(text)["input_ids"] + ([tokenizer.eos_token_id] if append_eos else [])
            hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
            out.append(torch.nn.functional.normalize(POOLINGS[pooling](hidden), dim=-1).numpy())
    return np.stack(out)


@pytest.mark.parametrize("name", ["Qwen3-Embedding-0.6B", "gte-Qwen2-7B-instruct", "e5-mistral-7b-instruct"])
def test_instruction_models_see_the_instruction_and_pool_the_last_token(tiny_decoder, name):
    shipped = load_recipes(REPO / "config" / "models.yaml")[name]
    recipe = shipped.with_path(str(tiny_decoder))
    queries, rows, calls = embed_spied(recipe, TEXTS, "query")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_decoder)
    received = sorted(tokenizer.decode(ids) for ids, _ in rows)
    assert received == sorted(INSTRUCTION + prepared(t) for t in TEXTS)  # no EOS, literal "\n"
    # padding on the recipe's side: a shorter row's mask starts (left) or ends (right) with zeros
    masks = [mask for _, mask in rows if 0 in mask]
    assert masks and all(mask[0 if recipe.padding_side == "left" else -1] == 0 for mask in masks)
    assert all(call["input_ids"].shape[0] > 1 for call in calls)  # batched, so padding happened
    oracle = pooling_oracle(tiny_decoder, [INSTRUCTION + prepared(t) for t in TEXTS], "last")
    assert cosines(queries, oracle).min() >= 0.9999

    passages, rows, _ = embed_spied(recipe, TEXTS, "passage")
    assert sorted(tokenizer.decode(ids) for ids, _ in rows) == sorted(prepared(t) for t in TEXTS)
    assert cosines(passages, pooling_oracle(tiny_decoder, [prepared(t) for t in TEXTS], "last")).min() >= 0.9999


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_append_eos_ends_every_row_with_eos(tiny_decoder, padding_side):
    recipe = Recipe(name="tiny-eos", path=str(tiny_decoder), pooling="last", padding_side=padding_side,
                    append_eos=True, max_length=128, batch_size=4)
    vectors, rows, _ = embed_spied(recipe, TEXTS, "passage")
    from transformers import AutoTokenizer

    eos = AutoTokenizer.from_pretrained(tiny_decoder).eos_token_id
    assert [ids[-1] for ids, _ in rows] == [eos] * len(TEXTS)
    assert sum(ids.count(eos) for ids, _ in rows) == len(TEXTS)  # exactly one each
    oracle = pooling_oracle(tiny_decoder, [prepared(t) for t in TEXTS], "last", append_eos=True)
    assert cosines(vectors, oracle).min() >= 0.9999


# --- a tiny BERT: E5 prefixes with mean pooling, CLS pooling -----------------------------------------

@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    words = sorted({w for t in TEXTS for w in prepared(t).replace(".", " .").split()} | {"query", "passage", ":"})
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert", words)


def test_e5_prefixes_reach_the_model_and_mean_pooling_matches(tiny_bert):
    shipped = load_recipes(REPO / "config" / "models.yaml")["multilingual-e5-base"]
    recipe = shipped.with_path(str(tiny_bert))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    for role, prefix in (("query", "query: "), ("passage", "passage: ")):
        vectors, rows, _ = embed_spied(recipe, TEXTS, role)
        expected = [prefix + prepared(t) for t in TEXTS]
        assert sorted(tokenizer.decode(ids) for ids, _ in rows) == sorted(
            tokenizer.decode(tokenizer(t)["input_ids"]) for t in expected)
        assert cosines(vectors, pooling_oracle(tiny_bert, expected, "mean")).min() >= 0.9999


def test_cls_pooling_matches(tiny_bert):
    recipe = load_recipes(REPO / "config" / "models.yaml")["bge-base-zh-v1.5"].with_path(str(tiny_bert))
    vectors = embed(recipe, TEXTS, "passage", None, "cpu")
    assert cosines(vectors, pooling_oracle(tiny_bert, [prepared(t) for t in TEXTS], "cls")).min() >= 0.9999
