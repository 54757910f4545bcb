"""Tokenizers of each family, built offline with the ``tokenizers`` library and saved as the family's
transformers tokenizer class would save them (``tokenizer.json`` plus ``tokenizer_config.json``)."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
THINK_TOKENS = ("<think>", "</think>")  # added tokens, not special: they survive skip_special_tokens


def bert(folder: Path, chars: list[str], max_length: int = 512) -> None:
    """BERT's WordPiece with the Chinese vocabulary's layout: one token per character (and '##' forms of
    ASCII letters and digits, so English words split into pieces), lowercased, [CLS] ... [SEP]."""
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    lower = sorted({c.lower() for c in chars})
    pieces = [f"##{c}" for c in lower if c.isascii() and c.isalnum()]
    vocab = {token: i for i, token in enumerate(dict.fromkeys([*specials, *lower, *pieces]))}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=max_length).save_pretrained(folder)


def xlmr(folder: Path, chars: list[str], max_length: int = 512) -> None:
    """XLM-R's sentencepiece Unigram: '▁' marks a word start, <s> ... </s>, <pad> is id 1."""
    from transformers import XLMRobertaTokenizer

    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    words = [("▁", -2.0)] + [(f"▁{c}", -3.0) for c in chars if c.isascii() and c.isalnum()]
    vocab = specials + words + [(c, -4.0) for c in chars] + [("<mask>", 0.0)]
    tokenizer = XLMRobertaTokenizer(vocab=vocab, model_max_length=max_length)
    tokenizer.save_pretrained(folder)


def _byte_level_bpe(texts: list[str], specials: list[str], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def qwen(folder: Path, texts: list[str], *, eos: str, append: str | None = None, padding_side: str = "right",
         thinking: bool = False, chat_template: str | None = None, max_length: int = 32768,
         vocab_size: int = 4000) -> None:
    """Qwen's byte-level BPE (trained on ``texts``) with its specials; ``append``: a token the tokenizer
    itself ends every text with (the Qwen embedding models' <|endoftext|>); ``thinking``: <think> and
    </think> as added tokens, as Qwen3 has them."""
    from transformers import Qwen2Tokenizer

    tokenizer = _byte_level_bpe(texts, list(QWEN_SPECIALS), vocab_size)
    if thinking:
        tokenizer.add_tokens(list(THINK_TOKENS))
    if append:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"$A:0 {append}:0", pair=f"$A:0 {append}:0 $B:1 {append}:1",
            special_tokens=[(append, tokenizer.token_to_id(append))])
    wrapped = Qwen2Tokenizer(tokenizer_object=tokenizer, eos_token=eos, pad_token="<|endoftext|>",
                             unk_token=None, bos_token=None, padding_side=padding_side, model_max_length=max_length,
                             **({"chat_template": chat_template} if chat_template else {}))
    wrapped.save_pretrained(folder)


def llama(folder: Path, chars: list[str], max_length: int = 32768) -> None:
    """Mistral's sentencepiece BPE with byte fallback: <unk> <s> </s>, the 256 byte tokens, '▁' and the
    characters; <s> starts every text, nothing ends it; </s> pads."""
    from transformers import LlamaTokenizer

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    for piece in ["▁", *chars]:
        vocab.setdefault(piece, len(vocab))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                           decoders.Strip(" ", 1, 0)])
    tokenizer.post_processor = processors.TemplateProcessing(single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1",
                                                             special_tokens=[("<s>", 1)])
    LlamaTokenizer(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                   pad_token="</s>", model_max_length=max_length).save_pretrained(folder)
