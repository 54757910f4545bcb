"""Downloading published files from the Hugging Face hub (or any mirror speaking its URL scheme).

The endpoint comes from the caller, falling back to ``HF_ENDPOINT`` as huggingface_hub does, so a
mirror or a local test server can stand in for huggingface.co.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from capflow.errors import UserError
from capflow.io import atomic_path

DEFAULT_ENDPOINT = "https://huggingface.co"


def resolve_url(repo: str, filename: str, *, repo_type: str = "dataset", revision: str = "main",
                endpoint: str | None = None) -> str:
    base = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    prefix = {"dataset": "datasets/", "model": "", "space": "spaces/"}[repo_type]
    return f"{base}/{prefix}{repo}/resolve/{revision}/{filename}"


def download(url: str, dest: str | Path, *, timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``dest`` atomically; an HTTP or network failure is a one-line UserError."""
    request = urllib.request.Request(url, headers={"User-Agent": "capflow"})
    token = os.environ.get("HF_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, atomic_path(dest) as tmp:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
    except urllib.error.HTTPError as exc:
        raise UserError(f"download failed: HTTP {exc.code} for {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"download failed: {reason} for {url}") from None
    return Path(dest)


def load_dataset(source: str, config: str | None, *, split: str, revision: str | None = None,
                 cache_dir: str | None = None, what: str):
    """``datasets.load_dataset`` (a hub id or a local dataset dir); any failure is a one-line UserError
    that starts with ``what`` (e.g. the config key) and names the dataset."""
    import datasets  # heavy; only the steps that read hub datasets need it

    try:
        return datasets.load_dataset(source, config, split=split, revision=revision, cache_dir=cache_dir)
    except Exception as exc:  # the library raises many types (not found, offline, unknown split or config)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(f"{what}: {reason[:300]}") from None
