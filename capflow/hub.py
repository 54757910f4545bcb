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


class HubUnreachableError(UserError):
    """The hub could not be asked (HF_HUB_OFFLINE, no network, connection refused) and the cache lacks the answer."""


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) says the hub could not be reached at all."""
    import httpx2  # huggingface_hub's HTTP client
    from huggingface_hub.errors import IncompleteSnapshotError, LocalEntryNotFoundError

    seen = exc
    while seen is not None:
        if isinstance(seen, IncompleteSnapshotError):
            return False  # a partial snapshot, not a missing network
        if isinstance(seen, LocalEntryNotFoundError | ConnectionError | httpx2.TransportError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def hub_failure(exc: BaseException, what: str, prefix: str = "") -> UserError:
    """A one-line error for a failed hub call about ``what`` (a file's URL, a repo and revision)."""
    from huggingface_hub.errors import HfHubHTTPError

    if unreachable(exc):
        return HubUnreachableError(f"{prefix}{what} is not in the hub cache and the hub cannot be reached "
                                   "(HF_HUB_OFFLINE or no network): run the prefetch step where there is internet")
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
        raise (HubUnreachableError if unreachable(exc) else UserError)(f"{what}: {reason[:300]}") from None


# --- the cache alone: no network, nothing downloaded ----------------------------------------------------

def cached_snapshot(repo: str, *, repo_type: str = "model", revision: str | None = None) -> Path | None:
    """The snapshot folder of ``repo`` at ``revision`` when the hub cache holds it complete (as far as the
    cache's own tree listing tells), else None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo, repo_type=repo_type, revision=revision, local_files_only=True))
    except LocalEntryNotFoundError:  # absent, or partial (IncompleteSnapshotError)
        return None


def cached_listing(repo: str, *, repo_type: str = "model", revision: str | None = None) -> dict[str, int] | None:
    """The sizes of every file of ``repo`` at ``revision`` as the hub cache's own tree listing records them
    (a snapshot download writes it before the files, so a partial snapshot has it too), or None."""
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    try:
        return {entry.path: entry.size for entry in get_cached_repo_tree(repo, repo_type=repo_type, revision=revision)}
    except CachedRepoTreeNotFoundError:
        return None


def cached_file(repo: str, filename: str, *, repo_type: str = "dataset", revision: str | None = None
                ) -> Path | bool | None:
    """``filename`` of ``repo`` at ``revision`` in the hub cache: its path; False where the cache records
    that the revision has no such file; None where the cache does not know."""
    from huggingface_hub import _CACHED_NO_EXIST, try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, revision=revision, repo_type=repo_type)
    if found is _CACHED_NO_EXIST:
        return False
    return Path(found) if isinstance(found, str) else None


def download_optional_file(repo: str, filename: str, *, repo_type: str = "dataset", revision: str | None = None,
                           endpoint: str | None = None) -> Path | None:
    """As :func:`download_file`, but None where the revision has no such file (the cache then records
    its absence, so a later offline look-up knows)."""
    from huggingface_hub import hf_hub_download, hf_hub_url
    from huggingface_hub.errors import RemoteEntryNotFoundError

    try:
        return Path(hf_hub_download(repo, filename, repo_type=repo_type, revision=revision, endpoint=endpoint))
    except RemoteEntryNotFoundError:
        return None
    except Exception as exc:
        url = hf_hub_url(repo, filename, repo_type=repo_type, revision=revision, endpoint=endpoint)
        raise hub_failure(exc, url, "download failed: ") from None


def cached_dataset_split(source: str, config: str | None, *, split: str) -> tuple[str, int] | None:
    """What ``datasets.load_dataset(source, config, split=split)`` reloads when offline: the newest
    prepared copy of that configuration in the datasets cache, as (the hub commit it was prepared from,
    the split's bytes), or None where there is none with that split."""
    from datasets.packaged_modules.cache.cache import Cache

    try:  # the same builder arguments datasets uses when it cannot reach the hub
        builder = Cache(repo_id=source, dataset_name=source.split("/")[-1], config_name=config,
                        version="auto", hash="auto")
    except (ValueError, FileNotFoundError, OSError):
        return None
    splits = builder.info.splits or {}
    if split not in splits:
        return None
    return builder.hash, splits[split].num_bytes or 0
