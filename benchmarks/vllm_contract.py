"""Contract check: tests/fakes/fake_vllm against real vLLM releases, and capflow's calls against both.

vLLM needs an NVIDIA GPU to build an ``LLM``, but its classes import and their signatures can be read
anywhere. Install each release into a venv of its own, apart from capflow's environment (each brings
a CUDA PyTorch: 9 to 11 GB and about 15 minutes per release on two cores), then run with capflow's
Python (about 15 s per release):

    python3 -m venv /opt/vllm-0.11 && /opt/vllm-0.11/bin/pip install "vllm==0.11.*"
    python benchmarks/vllm_contract.py /opt/vllm-0.11/bin/python [/opt/vllm-0.34/bin/python ...]

``pip install vllm==0.34.0`` stops because its requirement flashinfer-python==0.7.3 has no files on
the package index; for this import-only check, install it with ``--no-deps`` and then its other
requirements.

For each interpreter the script imports its vLLM (only imports: nothing is built on a GPU), describes
the API surface capflow.generate.vllm_backend relies on, describes tests/fakes/fake_vllm set to mimic the
same API generation, and prints one line per checked item, ``ok`` or ``MISMATCH``: the keyword
arguments capflow gives ``LLM(...)``, ``LLM.chat``'s signature, the ``SamplingParams`` fields,
``StructuredOutputsParams``, how the real and the fake classes treat a few good and bad arguments,
and the output attributes capflow reads. It exits 1 on any mismatch. The fake mimics vLLM 0.11, 0.33
and 0.34; for the releases between, ``--calls-only`` checks capflow's calls alone.

``--record`` also writes each real description to tests/fakes/fake_vllm/api/vllm-<version>.json; the test
suite holds the fake against those recorded descriptions, so CI checks the fake without vLLM.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAKE_VLLM = REPO / "tests" / "fakes" / "fake_vllm"
RECORDED = FAKE_VLLM / "api"
# tests/fakes/fake_vllm mimics one API generation at a time (FAKE_VLLM_API); a release is compared with the
# newest generation that is not newer than itself.
FAKE_APIS = ("0.11", "0.33", "0.34")

# What capflow.generate.vllm_backend passes; tests/unit/test_vllm_contract.py holds this against the calls the
# backend really makes.
CAPFLOW_CALLS = {
    "LLM": ("model", "revision", "tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "dtype",
            "seed"),
    "LLM.chat positional": ("messages", "sampling_params"),
    "LLM.chat keywords": ("use_tqdm", "chat_template_kwargs"),
    "SamplingParams": ("temperature", "top_p", "max_tokens", "seed", "structured_outputs"),
    "StructuredOutputsParams": ("json",),
}
SCHEMA = {"type": "object", "properties": {"queries": {"type": "array", "items": {"type": "string"}}},
          "required": ["queries"]}


def parameters(func) -> list[list[str]]:
    """[name, kind, repr(default)] of each parameter but ``self``."""
    return [[p.name, p.kind.name, "" if p.default is p.empty else repr(p.default)]
            for p in inspect.signature(func).parameters.values() if p.name != "self"]


def public_fields(cls) -> list[str]:
    """The constructor fields of a msgspec Struct, a dataclass or a plain class, without private ones."""
    names = getattr(cls, "__struct_fields__", None)
    if names is None and dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls) if f.init]
    if names is None:
        names = [p.name for p in inspect.signature(cls).parameters.values()
                 if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return sorted(name for name in names if not name.startswith("_"))


def outcome(call) -> str:
    """'accepted', or the exception the call raised: its class and its message's first line, less the
    ': {...}' dump of the object that some vLLM messages end with."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the exception is the observation
        first = (str(exc).splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first.split(': {')[0]}"
    return "accepted"


def describe() -> dict:
    """The API surface of the ``vllm`` that this interpreter imports (real or fake)."""
    import vllm
    from vllm.engine.arg_utils import EngineArgs
    from vllm.outputs import CompletionOutput, RequestOutput
    from vllm.sampling_params import SamplingParams, StructuredOutputsParams

    structured = StructuredOutputsParams(json=SCHEMA)
    capflow_sampling = {"temperature": 0.6, "top_p": 0.9, "max_tokens": 300, "seed": 7,
                        "structured_outputs": structured}
    probes = {
        "SamplingParams(capflow's values)": lambda: SamplingParams(**capflow_sampling),
        "SamplingParams(max_new_tokens=10)": lambda: SamplingParams(max_new_tokens=10),
        "SamplingParams(top_p=0)": lambda: SamplingParams(top_p=0),
        "SamplingParams(max_tokens=0)": lambda: SamplingParams(max_tokens=0),
        "SamplingParams(temperature=2.5)": lambda: SamplingParams(temperature=2.5),
        "SamplingParams(seed='7')": lambda: SamplingParams(seed="7"),
        "StructuredOutputsParams(json=schema)": lambda: StructuredOutputsParams(json=SCHEMA),
        "StructuredOutputsParams()": lambda: StructuredOutputsParams(),
        "StructuredOutputsParams(json=schema, regex='a')": lambda: StructuredOutputsParams(json=SCHEMA, regex="a"),
        "StructuredOutputsParams(json_schema=schema)": lambda: StructuredOutputsParams(json_schema=SCHEMA),
    }
    return {
        "version": getattr(vllm, "__version__", "?"),
        "exports": sorted(name for name in ("LLM", "SamplingParams") if hasattr(vllm, name)),
        "LLM.__init__": parameters(vllm.LLM.__init__),
        "EngineArgs": public_fields(EngineArgs),
        "LLM.chat": parameters(vllm.LLM.chat),
        "SamplingParams": public_fields(SamplingParams),
        "StructuredOutputsParams": public_fields(StructuredOutputsParams),
        "RequestOutput": public_fields(RequestOutput),
        "CompletionOutput": public_fields(CompletionOutput),
        "probes": {name: outcome(call) for name, call in probes.items()},
    }


def fake_api_for(version: str) -> str:
    """The API generation of tests/fakes/fake_vllm to compare a vLLM release with."""
    key = tuple(int(part) for part in version.split(".")[:2])
    fitting = [api for api in FAKE_APIS if tuple(int(p) for p in api.split(".")) <= key]
    return fitting[-1] if fitting else FAKE_APIS[0]


def accepts_keyword(api: dict, name: str) -> str | None:
    """Where ``LLM(name=...)`` goes: a named parameter, an EngineArgs field, or nowhere (None)."""
    named = {p[0]: p[1] for p in api["LLM.__init__"]}
    if named.get(name) in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY"):
        return "parameter"
    if "VAR_KEYWORD" in named.values() and name in api["EngineArgs"]:
        return "EngineArgs field"
    return None


def differences(real: list, fake: list) -> str:
    """What one list has and the other lacks."""
    real_only = [item for item in real if item not in fake]
    fake_only = [item for item in fake if item not in real]
    parts = ([f"only in vLLM: {json.dumps(real_only, ensure_ascii=False)}"] if real_only else []) + \
            ([f"only in the fake: {json.dumps(fake_only, ensure_ascii=False)}"] if fake_only else [])
    if not parts and real != fake:
        parts = ["same items, another order"]
    return "; ".join(parts)


Check = tuple[str, bool, str]  # (item, ok, detail shown on a mismatch)


def check_calls(real: dict) -> list[Check]:
    """capflow's calls against one vLLM release."""
    chat = [p[0] for p in real["LLM.chat"]]
    exports = real["exports"]
    checks = [("vllm exports LLM and SamplingParams", exports == ["LLM", "SamplingParams"], str(exports))]
    for name in CAPFLOW_CALLS["LLM"]:
        checks.append((f"LLM({name}=...)", accepts_keyword(real, name) is not None, "rejected"))
    for position, name in enumerate(CAPFLOW_CALLS["LLM.chat positional"]):
        checks.append((f"LLM.chat argument {position + 1} is {name}", chat[position:position + 1] == [name],
                       f"it is {chat[position:position + 1]}"))
    for name in CAPFLOW_CALLS["LLM.chat keywords"]:
        checks.append((f"LLM.chat({name}=...)", name in chat, "no such parameter"))
    for name in CAPFLOW_CALLS["SamplingParams"]:
        checks.append((f"SamplingParams({name}=...)", name in real["SamplingParams"], "no such field"))
    for name in CAPFLOW_CALLS["StructuredOutputsParams"]:
        checks.append((f"vllm.sampling_params.StructuredOutputsParams({name}=...)",
                       name in real["StructuredOutputsParams"], "no such field"))
    verdict = real["probes"]["SamplingParams(capflow's values)"]
    checks.append(("SamplingParams(capflow's values) is accepted", verdict == "accepted", verdict))
    checks.append(("RequestOutput.outputs[0].text", "outputs" in real["RequestOutput"]
                   and "text" in real["CompletionOutput"], "no such attribute"))
    return checks


def check_fake(real: dict, fake: dict) -> list[Check]:
    """tests/fakes/fake_vllm against one vLLM release: the same signatures, fields and verdicts."""
    placed = {name: (accepts_keyword(real, name), accepts_keyword(fake, name)) for name in CAPFLOW_CALLS["LLM"]}
    misplaced = {name: f"vLLM: {where[0]}, fake: {where[1]}" for name, where in placed.items() if len(set(where)) > 1}
    stray = sorted(set(fake["EngineArgs"]) - set(real["EngineArgs"]))
    checks = [
        ("vllm exports LLM and SamplingParams", real["exports"] == fake["exports"], str(fake["exports"])),
        ("LLM(...) takes capflow's keywords where vLLM does", not misplaced, str(misplaced)),
        ("LLM.__init__ parameters", real["LLM.__init__"] == fake["LLM.__init__"],
         differences(real["LLM.__init__"], fake["LLM.__init__"])),
        ("EngineArgs fields the fake accepts are vLLM's", not stray, f"not in vLLM: {stray}"),
        ("LLM.chat parameters", real["LLM.chat"] == fake["LLM.chat"], differences(real["LLM.chat"], fake["LLM.chat"])),
    ]
    for cls in ("SamplingParams", "StructuredOutputsParams"):
        checks.append((f"{cls} fields", real[cls] == fake[cls], differences(real[cls], fake[cls])))
    for probe, verdict in real["probes"].items():
        checks.append((f"{probe} -> {verdict}", fake["probes"].get(probe) == verdict,
                       f"fake: {fake['probes'].get(probe)}"))
    checks.append(("RequestOutput.outputs[0].text", "outputs" in fake["RequestOutput"]
                   and "text" in fake["CompletionOutput"], "no such attribute"))
    return checks


def report(title: str, checks: list[Check]) -> str:
    lines = [title]
    for item, ok, detail in checks:
        lines.append(f"  {'ok' if ok else 'MISMATCH'}  {item}" + ("" if ok else f"  ({detail})"))
    return "\n".join(lines)


def run_describe(python: str, fake_api: str | None = None) -> dict:
    """describe() in another interpreter: a venv's real vLLM, or (fake_api given) tests/fakes/fake_vllm."""
    env = dict(os.environ)
    if fake_api is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(FAKE_VLLM), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["FAKE_VLLM_API"] = fake_api
    result = subprocess.run([python, str(Path(__file__).resolve()), "--describe"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise ImportError(f"importing vllm failed: {tail[0].strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pythons", nargs="*", help="interpreters of venvs that have vLLM installed")
    parser.add_argument("--record", action="store_true", help="write each vLLM's description to " + str(RECORDED))
    parser.add_argument("--calls-only", action="store_true", help="check capflow's calls, not tests/fakes/fake_vllm")
    parser.add_argument("--describe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.describe:
        print(json.dumps(describe()))
        return 0
    if not args.pythons:
        parser.error("name at least one interpreter with vLLM installed")
    failed = False
    for python in args.pythons:
        start = time.monotonic()
        try:
            real = run_describe(python)
        except ImportError as exc:
            print(f"vLLM ({python})\n  MISMATCH  {exc}")
            failed = True
            continue
        calls = check_calls(real)
        if args.calls_only:
            print(f"vLLM {real['version']} ({python}), {time.monotonic() - start:.0f} s")
            print(report(" capflow's calls:", calls))
            failed |= not all(ok for _, ok, _ in calls)
            continue
        fake_api = fake_api_for(real["version"])
        checks = check_fake(real, run_describe(sys.executable, fake_api))
        recorded = RECORDED / f"vllm-{real['version']}.json"
        if args.record:
            from capflow.io import write_json

            RECORDED.mkdir(exist_ok=True)
            write_json(recorded, real)
        stored = json.loads(recorded.read_text()) if recorded.exists() else None
        checks.append((f"recorded in {recorded.relative_to(REPO)}", stored == real,
                       "absent: rerun with --record" if stored is None else "stale: rerun with --record"))
        print(f"vLLM {real['version']} ({python}), {time.monotonic() - start:.0f} s")
        print(report(" capflow's calls:", calls))
        print(report(f" tests/fakes/fake_vllm as vLLM {fake_api}:", checks))
        failed |= not all(ok for _, ok, _ in calls + checks)
    checked = "capflow's calls match" if args.calls_only else "tests/fakes/fake_vllm and capflow's calls match"
    print("MISMATCH" if failed else f"ok: {checked} every vLLM checked")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
