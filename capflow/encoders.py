"""Turning a recipe into a loaded sentence-transformers model, and encoding text with it.

Weights are resolved in this order: the recipe's local ``path``; the installed Python ``package``
that carries a model folder (offline); the Hugging Face hub (honouring ``HF_ENDPOINT``,
``HF_HUB_OFFLINE`` and the hub cache like any HF library).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from capflow.errors import UserError
from capflow.recipes import Recipe
from capflow.runtime import hardware

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

_POOLING_MODES = {"cls": "cls", "mean": "mean", "last": "lasttoken"}
_FINGERPRINT_FULL_HASH_LIMIT = 16 << 20
_FINGERPRINT_EDGE = 4 << 20


def resolve_weights(recipe: Recipe) -> Path:
    """The local directory holding the recipe's weights, downloading from the hub if need be."""
    if recipe.path:
        path = Path(recipe.path)
        if not path.is_dir():
            raise UserError(f"model '{recipe.name}': weights directory not found", path)
        return path
    if recipe.package and importlib.util.find_spec(recipe.package) is not None:
        path = Path(str(importlib.resources.files(recipe.package) / "model"))
        if path.is_dir():
            return path
    if recipe.hub_id:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        try:
            return Path(snapshot_download(recipe.hub_id, revision=recipe.revision))
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"model '{recipe.name}': cannot fetch '{recipe.hub_id}' from the hub: "
                            f"{first_line}") from None
    raise UserError(f"model '{recipe.name}': no weights (package '{recipe.package}' is not installed and no hub_id)")


def fingerprint(weights_dir: Path) -> str:
    """A content digest of a model folder: distinct weights give distinct cache entries.

    Large files are digested by size plus their first and last 4 MiB, which differ between any two
    trainings, so a 15 GB model is fingerprinted in milliseconds.
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in weights_dir.rglob("*") if p.is_file()):
        rel = file.relative_to(weights_dir).as_posix()
        if rel.startswith(".") or "/." in rel or rel.endswith(".md") or rel.startswith("checkpoint-"):
            continue
        size = file.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with open(file, "rb") as handle:
            if size <= _FINGERPRINT_FULL_HASH_LIMIT:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_FINGERPRINT_EDGE))
                handle.seek(size - _FINGERPRINT_EDGE)
                digest.update(handle.read())
    return digest.hexdigest()


def torch_dtype(recipe: Recipe, device: str):
    """What ``from_pretrained`` gets as its dtype: ``"auto"`` loads the checkpoint's stored dtype.

    CPUs lack kernels (or fast ones) for many fp16 operations, and compute bf16 slowly without AMX,
    so there ``auto`` (whatever half dtype is stored) and ``float16`` load as fp32; an explicit
    ``bfloat16`` is honoured, since CPU kernels for it exist.
    """
    import torch

    if device == "cpu" and recipe.dtype in ("auto", "float16"):
        return torch.float32
    if recipe.dtype == "auto":
        return "auto"
    return getattr(torch, recipe.dtype)


def max_positions(model: SentenceTransformer) -> int | None:
    """The longest input the model's first module takes: its config's ``max_position_embeddings``,
    or the tokenizer's ``model_max_length`` where smaller (XLM-R reserves two positions)."""
    limits = []
    config = getattr(getattr(model[0], "auto_model", None), "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    tokenizer_max = getattr(getattr(model, "tokenizer", None), "model_max_length", None)
    if isinstance(tokenizer_max, int) and 0 < tokenizer_max < 10**9:  # unset is a huge sentinel
        limits.append(tokenizer_max)
    return min(limits) if limits else None


def tokenizer_appends_eos(tokenizer) -> bool:
    """Whether the tokenizer itself ends every text with its EOS token (as Qwen3-Embedding's does)."""
    eos_id = getattr(tokenizer, "eos_token_id", None)
    ids = tokenizer("a")["input_ids"]
    return eos_id is not None and bool(ids) and ids[-1] == eos_id


def check_eos(recipe: Recipe, tokenizer) -> None:
    """``append_eos`` needs an EOS token, and must not give a text two of them."""
    if not recipe.append_eos:
        return
    eos = getattr(tokenizer, "eos_token", None)
    if not eos:
        raise UserError(f"model '{recipe.name}': append_eos is set but its tokenizer has no EOS token")
    if tokenizer_appends_eos(tokenizer):
        raise UserError(f"model '{recipe.name}': its tokenizer already appends {eos!r}, so append_eos would "
                        "give every text two; set append_eos: false")


def load_encoder(recipe: Recipe, device: str | None = None, weights: Path | None = None) -> SentenceTransformer:
    """A SentenceTransformer that embeds exactly as the recipe says (pooling, padding, length, dtype)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    device = device or hardware.pick_device()
    weights = weights or resolve_weights(recipe)
    model_kwargs = {"dtype": torch_dtype(recipe, device)}
    processor_kwargs = {"padding_side": recipe.padding_side} if recipe.padding_side else {}
    try:
        if recipe.pooling == "model":
            model = SentenceTransformer(str(weights), device=device, trust_remote_code=recipe.trust_remote_code,
                                        model_kwargs=model_kwargs, processor_kwargs=processor_kwargs,
                                        local_files_only=True)
        else:
            transformer = Transformer(str(weights), max_seq_length=recipe.max_length,
                                      model_kwargs={**model_kwargs, "trust_remote_code": recipe.trust_remote_code},
                                      processor_kwargs={**processor_kwargs,
                                                        "trust_remote_code": recipe.trust_remote_code},
                                      config_kwargs={"trust_remote_code": recipe.trust_remote_code})
            pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode=_POOLING_MODES[recipe.pooling])
            model = SentenceTransformer(modules=[transformer, pooling, Normalize()], device=device)
    except (OSError, ValueError) as exc:
        first_line = str(exc).splitlines()[0]
        raise UserError(f"model '{recipe.name}': cannot load weights from {weights}: {first_line}") from None
    own_limit = model.max_seq_length if recipe.pooling == "model" else None  # its sentence-transformers config
    model.max_seq_length = min(n for n in (recipe.max_length, own_limit, max_positions(model)) if n)
    check_eos(recipe, model.tokenizer)
    log.info("model '%s': dtype %s, max length %d, padding side %s", recipe.name,
             str(next(model.parameters()).dtype).removeprefix("torch."), model.max_seq_length,
             getattr(model.tokenizer, "padding_side", "?"))
    return model


def pin_max_length(model: SentenceTransformer) -> int:
    """Make the tokenizer carry ``model.max_seq_length`` as its own limit and as its truncation, and
    return it. Training leaves the length of its last batch (a query's or a passage's) in the fast
    tokenizer's truncation, which ``save_pretrained`` writes into ``tokenizer.json``; pinned, a saved
    folder truncates as capflow's evaluation does, whichever library reads it."""
    length = model.max_seq_length
    tokenizer = model.tokenizer
    tokenizer.model_max_length = length
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.enable_truncation(max_length=length)
    return length


def prepared_texts(recipe: Recipe, texts: Sequence[str], role: str, eos: str | None) -> list[str]:
    suffix = eos if recipe.append_eos and eos else ""
    return [recipe.prepare(t, role) + suffix for t in texts]


def token_lengths(model: SentenceTransformer, texts: Sequence[str]) -> list[int]:
    """Each text's length in tokens, truncated as the model truncates.

    Sorting batches by token count rather than characters leaves far less padding: on the
    CapRetrievalEn captions MiniLM encodes about a quarter faster.
    """
    tokenizer = getattr(model, "tokenizer", None)
    if not callable(tokenizer):
        return [len(t) for t in texts]
    ids = tokenizer(list(texts), truncation=True, max_length=model.max_seq_length)["input_ids"]
    return [len(x) for x in ids]


def encode(model: SentenceTransformer, texts: Sequence[str], batch_size: int,
           show_progress: bool = True) -> np.ndarray:
    """L2-normalised float32 embeddings, batched over texts sorted by length to minimise padding."""
    import torch
    from tqdm.auto import tqdm

    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
    lengths = token_lengths(model, texts)
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    out: np.ndarray | None = None
    device = model.device
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc="encoding", unit="batch",
                          disable=not show_progress, mininterval=2.0):
            idx = order[start:start + batch_size]
            features = tokenize([texts[i] for i in idx])
            features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
            emb = model(features)["sentence_embedding"].float()
            emb = torch.nn.functional.normalize(emb, dim=-1).cpu().numpy()
            if out is None:
                out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
    assert out is not None
    return out
