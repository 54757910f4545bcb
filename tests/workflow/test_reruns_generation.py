"""What an LLM generation job reruns for, under Snakemake's default rerun triggers: an edited prompt or
answer schema, or another sampling setting, reruns the generation; nothing else does.

Real Snakemake over the real rules, an OpenAI-compatible server on 127.0.0.1."""

import os
import re

import yaml

from conftest import run_snakemake, write_jsonl
from fakes.openai_server import FakeOpenAIServer, completion

SNAKEFILE = """\
from snakemake.utils import validate
validate(config, "workflow/schemas/config.schema.yaml")
include: "rules/common.smk"
include: "rules/prefetch.smk"
include: "rules/generate.smk"
"""
TARGETS = ["results/generate/ood/sm/shard-0.jsonl", "results/generate/ood/kw/shard-0.jsonl"]


def planned(workdir, *configs) -> list[str]:
    files = ["--configfile", "config/config.yaml", "generate.yaml", *configs]
    result = run_snakemake(workdir, "-s", "Snakefile.generate", "-n", "--cores", "1", *files, "--", *TARGETS)
    assert result.returncode == 0, result.stderr[-3000:]
    return re.findall(r"wildcards: (.+)", result.stdout)


def test_prompt_schema_and_sampling_changes_rerun_generation(workflow_copy):
    wf = workflow_copy
    (wf / "Snakefile.generate").write_text(SNAKEFILE)
    write_jsonl(wf / "results" / "pools" / "ood" / "passages.jsonl",
                [{"id": f"p{i}", "text": f"passage {i} about cats", "source": "test"} for i in range(3)])

    def respond(body, attempt):
        return 200, completion('{"queries": ["cats", "a passage"]}'), {}, 0.0

    with FakeOpenAIServer(respond) as server:
        (wf / "generate.yaml").write_text(yaml.safe_dump({"generate": {
            "backend": "openai", "model": "fake", "shards": 1,
            "openai": {"base_url": server.base_url, "max_retries": 0}}}))
        run = run_snakemake(wf, "-s", "Snakefile.generate", "--cores", "1", "--configfile", "config/config.yaml",
                            "generate.yaml", "--", *TARGETS)
        assert run.returncode == 0, run.stderr[-3000:]
        assert len(server.requests) == 6

    assert planned(wf) == []
    both = ["pool=ood, kind=sm, shard=0", "pool=ood, kind=kw, shard=0"]

    for name, edit in (("en.yaml", lambda t: t.replace("keywords", "key words", 1)),
                       ("queries.schema.json", lambda t: t.replace("{", "{\n", 1))):
        path = wf / "config" / "prompts" / name
        original, times = path.read_text(), path.stat()
        path.write_text(edit(original))
        assert sorted(planned(wf)) == sorted(both), name
        path.write_text(original)
        os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
        assert planned(wf) == [], name

    (wf / "hotter.yaml").write_text("generate:\n  sampling:\n    temperature: 0.9\n")
    assert sorted(planned(wf, "hotter.yaml")) == sorted(both)
    (wf / "more.yaml").write_text("generate:\n  queries_per_passage:\n    kw: 9\n")
    assert planned(wf, "more.yaml") == ["pool=ood, kind=kw, shard=0"]
