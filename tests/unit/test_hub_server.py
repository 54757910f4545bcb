"""The loopback hub answers, as the hub does, only the revisions a repo holds."""

import pytest
from huggingface_hub import HfApi, hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

from fakes.hub_server import LocalHub, commit_of, repo_listing

PINNED = "9216db5781bf21249d130ec9da846c4624c16137"
OTHER = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub(tmp_path):
    """acme/llm held at PINNED (no branch) and at a newer commit on main; someone/Tiny on main."""
    with LocalHub(tmp_path / "hub") as local:
        (local.add("models", "acme/llm", commit=PINNED) / "config.json").write_text('{"v": "pinned"}')
        (local.add("models", "acme/llm") / "config.json").write_text('{"v": "newer"}')
        (local.add("datasets", "someone/Tiny") / "queries.jsonl").write_text("{}\n")
        yield local


def download(hub, tmp_path, revision, repo="acme/llm", filename="config.json", repo_type="model"):
    return hf_hub_download(repo, filename, revision=revision, repo_type=repo_type, endpoint=hub.endpoint,
                           cache_dir=tmp_path / "cache")


def test_a_held_commit_and_a_branch_resolve_to_their_own_files(hub, tmp_path):
    assert open(download(hub, tmp_path, PINNED)).read() == '{"v": "pinned"}'
    assert open(download(hub, tmp_path, "main")).read() == '{"v": "newer"}'
    newer = commit_of(repo_listing(tmp_path / "hub/models/acme/llm"))
    info = HfApi(endpoint=hub.endpoint).model_info("acme/llm", revision=PINNED, files_metadata=True)
    assert (info.sha, [(s.rfilename, s.size) for s in info.siblings]) == (PINNED, [("config.json", 15)])
    assert HfApi(endpoint=hub.endpoint).model_info("acme/llm").sha == newer != PINNED


@pytest.mark.parametrize("revision", [OTHER, "v1.0", PINNED[:7]])
def test_a_revision_the_repo_does_not_hold_is_revision_not_found(hub, tmp_path, revision):
    with pytest.raises(RevisionNotFoundError, match=f"Invalid rev id: {revision}"):
        download(hub, tmp_path, revision)
    with pytest.raises(RevisionNotFoundError):
        HfApi(endpoint=hub.endpoint).model_info("acme/llm", revision=revision, files_metadata=True)
    with pytest.raises(RevisionNotFoundError):
        HfApi(endpoint=hub.endpoint).dataset_info("someone/Tiny", revision=revision)


def test_a_branch_moves_to_the_commit_added_last_with_it(tmp_path):
    with LocalHub(tmp_path / "hub") as local:
        (local.add("models", "acme/llm", commit=PINNED, branches=("main",)) / "a.txt").write_text("old")
        (local.add("models", "acme/llm", commit=OTHER, branches=("main",)) / "a.txt").write_text("new")
        assert open(download(local, tmp_path, "main", filename="a.txt")).read() == "new"
        assert open(download(local, tmp_path, PINNED, filename="a.txt")).read() == "old"


def test_unknown_repo_and_file_raise_what_the_hub_raises(hub, tmp_path):
    with pytest.raises(RepositoryNotFoundError):
        download(hub, tmp_path, "main", repo="acme/absent")
    with pytest.raises(RemoteEntryNotFoundError):
        download(hub, tmp_path, "main", repo="someone/Tiny", filename="types.json", repo_type="dataset")
    # The 404 names the commit, so the cache records that this commit has no such file.
    from huggingface_hub import _CACHED_NO_EXIST

    found = try_to_load_from_cache("someone/Tiny", "types.json", cache_dir=tmp_path / "cache", repo_type="dataset")
    assert found is _CACHED_NO_EXIST
