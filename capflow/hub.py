"""The Hugging Face hub through ``huggingface_hub``: its cache (``HF_HOME`` / ``HF_HUB_CACHE``), token
(``HF_TOKEN``), offline mode (``HF_HUB_OFFLINE``), retries and endpoint (``HF_ENDPOINT``, or the
caller's mirror). Every failure becomes one line naming the repo and the file.
"""

from __future__ import annotations

from pathlib import Path

from capflow.errors import UserError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def hub_failure(exc: BaseException, what: str, prefix: str = "") -> UserError:
    """A one-line error for a failed hub call about ``what`` (a file's URL, a repo and revision)."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if isinstance(exc, LocalEntryNotFoundError):
        return UserError(f"{prefix}{what} is not in the hub cache and the hub cannot be reached (HF_HUB_OFFLINE or no "
                         "network): run the prefetch step where there is internet")
    response = getattr(exc, "response", None)
    if isinstance(exc, HfHubHTTPError) and response is not None:
        return UserError(f"{prefix}HTTP {response.status_code} for {what}")
    return UserError(f"{prefix}{_first_line(exc)} for {what}")


def download_file(repo: str, filename: str, *, repo_type: str = "dataset", revision: str | None = None,
                  endpoint: str | None = None) -> Path:
    """``filename`` of ``repo`` in the hub cache (downloaded unless cached): the cached file's path."""
    from huggingface_hub import hf_hub_download, hf_hub_url

    try:
        return Path(hf_hub_download(repo, filename, repo_type=repo_type, revision=revision, endpoint=endpoint))
    except Exception as exc:  # HTTP, network, offline-cache and file-system failures alike
        url = hf_hub_url(repo, filename, repo_type=repo_type, revision=revision, endpoint=endpoint)
        raise hub_failure(exc, url, "download failed: ") from None


def download_snapshot(repo: str, *, repo_type: str = "model", revision: str | None = None,
                      endpoint: str | None = None, allow_patterns: list[str] | None = None) -> Path:
    """The whole repo (or the files matching ``allow_patterns``) in the hub cache: the snapshot folder."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, repo_type=repo_type, revision=revision, endpoint=endpoint,
                                      allow_patterns=allow_patterns))
    except Exception as exc:
        raise hub_failure(exc, f"{repo_type} '{repo}'@{revision or 'main'}") from None


def repo_files(repo: str, *, repo_type: str = "model", revision: str | None = None,
               endpoint: str | None = None) -> tuple[str, dict[str, int]]:
    """The commit a revision resolves to and every file's size, from the hub API (nothing downloaded)."""
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=endpoint).repo_info(repo, repo_type=repo_type, revision=revision,
                                                  files_metadata=True)
    except Exception as exc:
        raise hub_failure(exc, f"{repo_type} '{repo}'@{revision or 'main'}") from None
    return info.sha, {s.rfilename: s.size or 0 for s in info.siblings or []}


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
