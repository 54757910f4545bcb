"""NLTK's English Punkt model (``punkt_tab``), which ``nltk.word_tokenize`` needs, installed offline.

NLTK downloads its data from its own server, which an offline machine cannot reach. The same model
files ship inside a wheel on the Python package index (``llama-index-core``, which bundles NLTK's
``punkt_tab``), so ``capflow nltk-data`` fetches that one wheel with pip, without its dependencies,
checks each English file against the digest pinned here and installs the four files where NLTK looks
(``<prefix>/share/nltk_data``). A machine that already has the model (``nltk.download("punkt_tab")``)
is left as it is.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from capflow.errors import UserError

RESOURCE = "tokenizers/punkt_tab/english/"
WHEEL_PROJECT, WHEEL_VERSION = "llama-index-core", "0.14.25"
WHEEL_FOLDER = "llama_index/core/_static/nltk_cache/tokenizers/punkt_tab/english/"
# sha256 of each file of NLTK's English Punkt model
DIGESTS = {
    "abbrev_types.txt": "92a3e070f43d9b4c5534758ca40ad7343b04e7e29bfe0c2eb658a39445a4f779",
    "collocations.tab": "8e2da1225e4dd2cc9dba261ee231ccb134859e21b46006e7f472c5ee269af0cf",
    "ortho_context.tab": "4bbcca25ed3d3f06c02402abf8419b9f033b8adc06e7b482eca4e45f81a5dc4c",
    "sent_starters.txt": "f3f8535483e1dba487241b764945168123bca3209a9645e59acd1225dc76edac",
}
INSTALL_HINT = "run `capflow nltk-data` (the README's install commands do)"


def default_root() -> Path:
    """The NLTK data folder of this Python environment, one that NLTK searches."""
    return Path(sys.prefix) / "share" / "nltk_data"


def installed() -> Path | None:
    """Where NLTK finds the English Punkt model, or None. Where `capflow nltk-data` put it, that is known
    without importing NLTK, whose import alone takes over a second and planning asks this each run."""
    ours = default_root() / RESOURCE
    if all((ours / name).is_file() for name in DIGESTS):
        return ours
    import nltk

    try:
        return Path(str(nltk.data.find(RESOURCE)))
    except LookupError:
        return None


def require() -> None:
    if installed() is None:
        raise UserError(f"NLTK's English Punkt model ({RESOURCE}) is not installed: {INSTALL_HINT}")


def install_from_wheel(wheel: Path, root: Path) -> Path:
    """Install the English Punkt files from ``wheel`` under ``root``; every file's digest is checked
    before any is installed, and the folder appears whole or not at all."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            contents = {name: archive.read(WHEEL_FOLDER + name) for name in DIGESTS}
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise UserError(f"{wheel}: not a wheel holding NLTK's English Punkt model ({exc})") from None
    for name, data in contents.items():
        if hashlib.sha256(data).hexdigest() != DIGESTS[name]:
            raise UserError(f"{wheel}: {WHEEL_FOLDER}{name} does not have the pinned sha256 digest")
    target = root / RESOURCE
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".english.", dir=target.parent))
    try:
        for name, data in contents.items():
            (staging / name).write_bytes(data)
        staging.chmod(0o755)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def download_wheel(folder: Path) -> Path:
    """The pinned wheel, from the package index pip is configured with (no dependencies)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet",
               "--dest", str(folder), f"{WHEEL_PROJECT}=={WHEEL_VERSION}"]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
        raise UserError(f"pip could not download {WHEEL_PROJECT}=={WHEEL_VERSION}: {last}; with internet, "
                        "python -c 'import nltk; nltk.download(\"punkt_tab\")' installs the same model")
    return wheels[0]


def configure_parser(parser) -> None:
    parser.add_argument("--root", type=Path, default=None,
                        help="NLTK data folder to install into (default: this environment's share/nltk_data)")
    parser.add_argument("--wheel", type=Path, default=None,
                        help=f"a {WHEEL_PROJECT} {WHEEL_VERSION} wheel already downloaded (default: pip downloads it)")


def main(args) -> None:
    found = installed() if args.root is None else None
    if found is not None:
        print(f"NLTK's English Punkt model is installed: {found}")
        return
    root = args.root or default_root()
    if args.wheel is not None:
        target = install_from_wheel(args.wheel, root)
    else:
        with tempfile.TemporaryDirectory() as folder:
            target = install_from_wheel(download_wheel(Path(folder)), root)
    print(f"installed NLTK's English Punkt model: {target}")
