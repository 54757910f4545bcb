"""A run's work folder: the run record that fingerprints it, its checkpoints, and writes that fail
on a full disk; a rerun of the same run resumes from its latest sound checkpoint."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import zipfile
from pathlib import Path

from capflow.errors import UserError
from capflow.io import WRITE_ERRORS, read_json, write_json
from capflow.recipes import Recipe
from capflow.train.settings import TrainSettings

log = logging.getLogger(__name__)

RUN_RECORD = "capflow_run.json"



def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_record(recipe: Recipe, settings: TrainSettings, data: dict[str, Path | None], base_weights: str) -> dict:
    """What makes a run this run: resuming is only safe when all of it is equal."""
    return {
        "recipe": json.loads(recipe.to_json()),
        "settings": dataclasses.asdict(settings),
        "data": {name: file_digest(path) if path else None for name, path in sorted(data.items())},
        "base_weights": base_weights,
    }


def differing_keys(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def read_record(path: Path) -> dict | None:
    try:
        record = read_json(path)
    except UserError:
        return None
    return record if isinstance(record, dict) else None


def check_output(out: Path, record: dict) -> None:
    """An existing model at ``out`` may only be replaced by the same run."""
    if not out.exists():
        return
    existing = read_record(out / RUN_RECORD)
    if existing is None:
        raise UserError("exists and is not a model trained by this step; remove it to train here", out)
    if existing != record:
        raise UserError(f"holds a model of another run (differs in {', '.join(differing_keys(existing, record))}); "
                        "remove it to train this one", out)


def latest_checkpoint(checkpoints: Path) -> Path | None:
    steps = [(int(m.group(1)), p) for p in checkpoints.glob("checkpoint-*")
             if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and (p / "trainer_state.json").exists()]
    return max(steps)[1] if steps else None


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed from (a file truncated, emptied or altered on disk), or None.

    JSON files must parse, safetensors files must hold what their header declares, and the torch files
    (zip archives) must pass their CRC checks."""
    from safetensors import safe_open

    for path in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        try:
            if path.suffix == ".json":
                json.loads(path.read_bytes())
            elif path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as tensors:  # checks the header covers the file
                    tensors.keys()
            elif path.suffix in (".pt", ".pth", ".bin"):
                with zipfile.ZipFile(path) as archive:
                    damaged = archive.testzip()
                if damaged is not None:
                    return f"{path.name}: bad checksum of {damaged}"
        except Exception as exc:  # noqa: BLE001 (whatever a damaged file raises, the checkpoint is unusable)
            return f"{path.name}: {type(exc).__name__}: {str(exc)[:100]}"
    state = read_record(checkpoint / "trainer_state.json")
    if state is None or not isinstance(state.get("global_step"), int):
        return "trainer_state.json holds no global_step"
    return None


def resumable_checkpoint(work: Path) -> Path | None:
    """The latest checkpoint of ``work`` that reads back whole. Damaged later ones are moved to
    ``<work>/damaged/`` (the trainer would otherwise rotate or resume them); if every one is damaged the
    run stops, naming --restart."""
    damaged = []
    while (checkpoint := latest_checkpoint(work / "checkpoints")) is not None:
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            if damaged:
                log.warning("falling back to %s", checkpoint)
            return checkpoint
        (work / "damaged").mkdir(exist_ok=True)
        os.replace(checkpoint, work / "damaged" / checkpoint.name)
        log.warning("checkpoint %s is damaged (%s); moved to %s", checkpoint, problem, work / "damaged")
        damaged.append(checkpoint.name)
    if damaged:
        raise UserError(f"every checkpoint is damaged ({', '.join(damaged)}, now in damaged/); rerun with "
                        "--restart to train this run afresh", work)
    return None


def prepare_work_dir(work: Path, record: dict, restart: bool = False) -> Path | None:
    """Create the run's working folder, or reopen it for the same run; return a checkpoint to resume.

    With ``restart`` an existing folder (of this run or another) is discarded first.
    """
    if work.exists() and restart:
        log.warning("--restart: discarding %s", work)
        shutil.rmtree(work)
    if work.exists():
        existing = read_record(work / RUN_RECORD)
        afresh = f"remove it (rm -r '{work}') or rerun with --restart to start this run afresh"
        if existing is None:
            raise UserError(f"is not a training folder of this step (no run record); {afresh}", work)
        if existing != record:
            differing = ", ".join(differing_keys(existing, record))
            raise UserError(f"holds checkpoints of another run (differs in {differing}); {afresh}", work)
        shutil.rmtree(work / "model", ignore_errors=True)
        checkpoint = resumable_checkpoint(work)
        if checkpoint:
            log.info("resuming the same run from %s", checkpoint)
        return checkpoint
    work.mkdir(parents=True)
    write_json(work / RUN_RECORD, record)
    return None


# Below this much free space, a failed save is taken for a full disk: torch.save reports one only as
# "RuntimeError: ... unexpected pos", and safetensors as its own error type.
LOW_SPACE_BYTES = 16 * 2**20


def out_of_space(exc: BaseException, folder: Path) -> bool:
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRORS:
        return True
    if "No space left on device" in str(exc):
        return True
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def write_errors_named(work: Path):
    """A full disk (or a failing one) while saving checkpoints or the model: one line naming the folder.
    The output is untouched, and the checkpoints already saved stay for the rerun."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if not out_of_space(exc, work):
            raise
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else "No space left on device"
        raise UserError(f"cannot write: {problem} (the checkpoints saved so far are kept)", work) from None
    except Exception as exc:
        if type(exc).__name__ != "SafetensorError" or not out_of_space(exc, work):
            raise
        raise UserError("cannot write: No space left on device (the checkpoints saved so far are kept)",
                        work) from None


def replace_dir(source: Path, target: Path, scratch: Path) -> None:
    """Move ``source`` to ``target``; an existing ``target`` goes to ``scratch`` first (then deleted)."""
    if target.exists():
        os.replace(target, scratch)
    os.replace(source, target)
    shutil.rmtree(scratch, ignore_errors=True)


