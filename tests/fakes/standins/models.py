"""Tiny random encoders, one per architecture family of the paper's models, saved in their hub layouts.

Each is at most 32 wide and two layers deep, so it loads and encodes in well under a second on a CPU;
weights come from a seed derived from the repo id, so a rebuild gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from fakes.standins import vocab

WIDTH = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
DECODER = dict(WIDTH, num_key_value_heads=1, head_dim=16)
NEW_IMPL_REPO = "Alibaba-NLP/new-impl"
NEW_IMPL_SOURCE = Path(__file__).parent / "new_impl"
NEW_IMPL_FILES = ("configuration.py", "modeling.py")


def seed_of(repo: str) -> int:
    return int.from_bytes(hashlib.sha256(repo.encode()).digest()[:4], "big")


def family_of(repo: str) -> str:
    """Which stand-in a paper encoder's hub repo gets, from its name; an unknown name is an error, so a
    model added to the paper configuration cannot go unstood-in."""
    name = repo.split("/")[-1].lower()
    for prefix, family in (("bge-", "bert"), ("conan-embedding", "bert"), ("multilingual-e5", "xlmr"),
                           ("gte-multilingual", "new"), ("gte-qwen2", "qwen2"), ("e5-mistral", "mistral"),
                           ("qwen3-embedding", "qwen3")):
        if name.startswith(prefix):
            return family
    raise ValueError(f"no stand-in family for the encoder '{repo}'")


def _save(model, folder: Path, dtype=None) -> None:
    import torch

    model = model.to(dtype or torch.float32).eval()
    model.save_pretrained(folder)


def build_encoder(folder: Path, repo: str, *, pooling: str, chars: list[str], texts: list[str]) -> str:
    """The stand-in of ``repo`` in ``folder``; ``pooling`` is the recipe's ('model': the folder carries its
    own sentence-transformers modules, CLS-pooled). Returns the family."""
    import torch

    family = family_of(repo)
    torch.manual_seed(seed_of(repo))
    folder.mkdir(parents=True, exist_ok=True)
    if family == "bert":
        from transformers import BertConfig, BertModel

        vocab.bert(folder, chars)
        config = BertConfig(vocab_size=_vocab_size(folder), max_position_embeddings=512, **WIDTH)
        _save(BertModel(config), folder)
    elif family == "xlmr":
        from transformers import XLMRobertaConfig, XLMRobertaModel

        vocab.xlmr(folder, chars)
        config = XLMRobertaConfig(vocab_size=_vocab_size(folder), max_position_embeddings=514, type_vocab_size=1,
                                  pad_token_id=1, bos_token_id=0, eos_token_id=2, **WIDTH)
        _save(XLMRobertaModel(config), folder)
    elif family == "new":
        _build_new(folder, chars)
    elif family == "qwen2":
        from transformers import Qwen2Config, Qwen2Model

        vocab.qwen(folder, texts, eos="<|endoftext|>", append="<|endoftext|>")
        config = Qwen2Config(vocab_size=_vocab_size(folder), max_position_embeddings=32768, **DECODER)
        _save(Qwen2Model(config), folder)
    elif family == "mistral":
        from transformers import MistralConfig, MistralModel

        vocab.llama(folder, chars)
        config = MistralConfig(vocab_size=_vocab_size(folder), max_position_embeddings=32768, bos_token_id=1,
                               eos_token_id=2, **DECODER)
        _save(MistralModel(config), folder, torch.float16)  # stored in fp16, as the published weights
    else:
        from transformers import Qwen3Config, Qwen3Model

        vocab.qwen(folder, texts, eos="<|endoftext|>", append="<|endoftext|>", padding_side="left")
        config = Qwen3Config(vocab_size=_vocab_size(folder), max_position_embeddings=32768, **DECODER)
        _save(Qwen3Model(config), folder, torch.bfloat16)
    if pooling == "model":
        _sentence_transformers_modules(folder)
    return family


def _vocab_size(folder: Path) -> int:
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(folder))


def _build_new(folder: Path, chars: list[str]) -> None:
    """An XLM-R tokenizer and a ``NewModel`` whose config, as the published one, takes its code from
    another repo through ``auto_map`` (``Alibaba-NLP/new-impl--modeling.NewModel``)."""
    from fakes.standins.new_impl.configuration import NewConfig
    from fakes.standins.new_impl.modeling import NewModel

    vocab.xlmr(folder, chars, max_length=8192)
    config = NewConfig(vocab_size=_vocab_size(folder), max_position_embeddings=8192, **WIDTH)
    _save(NewModel(config), folder)
    saved = json.loads((folder / "config.json").read_text())
    saved["architectures"] = ["NewModel"]
    saved["auto_map"] = {"AutoConfig": f"{NEW_IMPL_REPO}--configuration.NewConfig",
                         "AutoModel": f"{NEW_IMPL_REPO}--modeling.NewModel"}
    (folder / "config.json").write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")


def write_new_impl(folder: Path) -> None:
    """The code repo the custom-code encoder's ``auto_map`` names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in NEW_IMPL_FILES:
        shutil.copyfile(NEW_IMPL_SOURCE / name, folder / name)


def _sentence_transformers_modules(folder: Path) -> None:
    """sentence-transformers' own layout: Transformer, CLS pooling, normalisation."""
    width = json.loads((folder / "config.json").read_text())["hidden_size"]
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (folder / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512, "do_lower_case": False}))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    pooling = {"word_embedding_dimension": width, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
               "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2) + "\n")
    (folder / "2_Normalize").mkdir(exist_ok=True)
