"""``capflow estimate``: what a full configuration will cost, from a rehearsal of it.

A rehearsal (the configuration with ``config/smoke.yaml`` after it) runs every job on a cut of the work.
Each heavy job logs its work record (capflow.worklog): units done, the seconds the work took, and the
sizes the slice cut from. For each job of the full configuration this takes the rehearsal's job of the
same rule and names (or, for a shard the rehearsal did not run, one of the same rule and pool), keeps
its time outside the work as it was (start-up, model loading), and scales the work's seconds by the
ratio of full to rehearsed units:

- zero-shot and evaluation: texts of the benchmark (candidates and queries);
- pool: passages; leakage: passage x test-caption pairs;
- generation: queries asked of the LLM (passages per shard x queries per passage);
- finetuning: training pairs (steps x batch size).

Other jobs (data, tables, analyses) keep their rehearsal time. Downloads are not estimated
(`capflow prefetch --dry-run` lists their sizes). The figures hold for the hardware of the rehearsal.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from capflow import worklog
from capflow.errors import UserError
from capflow.plan import Plan
from capflow.plan.jobs import PlannedJob, planned_jobs

log = logging.getLogger(__name__)

SMOKE = "config/smoke.yaml"
# What each scaled rule's work is counted in (a work record's units key).
WORK_UNITS = {
    "zeroshot": "texts",
    "evaluate": "texts",
    "pool": "passages",
    "leakage": "pairs",
    "generate": "queries",
    "finetune": "pairs",
    "finetune_knobs": "pairs",
}


@dataclass(frozen=True)
class JobEstimate:
    rule: str
    key: str
    seconds: float
    gpus: int
    measured: bool  # False: the rehearsal has no time for this job


@dataclass(frozen=True)
class Measured:
    """A rehearsal job: its wall seconds (Snakemake's benchmark file) and its work record, if any."""

    wall: float
    record: worklog.WorkRecord | None


# Wildcards that repeat the same work (a rehearsal may run fewer shards or seeds than the full run).
REPEATS = ("shard", "seed")


def job_key(job: PlannedJob, leave_out: tuple[str, ...] = ()) -> str:
    return "/".join(value for name, value in job.wildcards if name not in leave_out)


def wall_seconds(path: str | Path) -> float | None:
    """The `s` column of a Snakemake benchmark file."""
    try:
        with open(path, encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        return float(rows[0]["s"])
    except (OSError, KeyError, IndexError, ValueError):
        return None


def measure(jobs: list[PlannedJob]) -> dict[tuple[str, str], tuple[Measured, str]]:
    """(rule, key) -> the measured job and its key without repeats, for every rehearsal job that ran."""
    measured = {}
    for job in jobs:
        wall = wall_seconds(job.timing) if job.timing else None
        records = worklog.read(job.log) if job.log else []
        if wall is None and records:
            wall = records[-1].seconds + records[-1].setup_seconds
        if wall is not None:
            measured[(job.rule, job_key(job))] = (Measured(wall, records[-1] if records else None),
                                                  job_key(job, REPEATS))
    return measured


class Estimator:
    def __init__(self, full: Plan, rehearsal: Plan, rehearsal_report, full_report):
        self.full = full
        self.rehearsal = rehearsal
        self.full_jobs = planned_jobs(full, full_report)
        self.by_names = measure(planned_jobs(rehearsal, rehearsal_report))
        self.measured = {key: measured for key, (measured, _) in self.by_names.items()}
        if not self.measured:
            raise UserError(
                f"no rehearsal results under {rehearsal.layout.results}/benchmarks: run the rehearsal first "
                f"(snakemake ... --configfile <configs> {SMOKE} all)"
            )

    # --- sizes -----------------------------------------------------------------------------------
    def benchmark_ratio(self, benchmark: str, parts=("candidates", "queries")) -> float:
        """Full over rehearsed texts of a benchmark (its candidates and queries, or `parts` of them), from
        its data job's record."""
        for rule in ("benchmark_data", "mteb_data"):
            found = self.measured.get((rule, benchmark))
            if found and found.record and found.record.units:
                done = sum(found.record.units.get(part, 0) for part in parts)
                full = sum(found.record.full.get(part, 0) for part in parts) or done
                return full / done if done else 1.0
        return 1.0

    def full_pool_passages(self, pool: str) -> float | None:
        size = self.full.pools[pool]["size"]
        found = self.measured.get(("pool", pool))
        available = found.record.full.get("passages") if found and found.record else None
        if size is None:
            return available
        return min(size, available) if available else size

    def kept_after_leakage(self, pool: str) -> float:
        found = self.measured.get(("leakage", pool))
        if found and found.record and found.record.units.get("passages"):
            return found.record.units.get("kept", found.record.units["passages"]) / found.record.units["passages"]
        return 1.0

    def full_units(self, job: PlannedJob, record: worklog.WorkRecord) -> float | None:
        """The full configuration's units of `job`, in its rule's WORK_UNITS."""
        done = record.units.get(WORK_UNITS[job.rule], 0)
        rule = job.rule
        if rule in ("zeroshot", "evaluate"):
            return done * self.benchmark_ratio(job.wildcard("benchmark"))
        pool = job.wildcard("pool")
        passages = self.full_pool_passages(pool)
        if passages is None:
            return None
        if rule == "pool":
            return passages
        if rule == "leakage":
            benchmark = self.full.leakage["benchmark"]
            captions = record.units.get("test_captions", 0) * self.benchmark_ratio(benchmark, ("candidates",))
            return passages * captions
        if rule == "generate":
            kind = job.wildcard("kind")
            per_shard = passages * self.kept_after_leakage(pool) / self.full.generate["shards"]
            return per_shard * self.full.generate["queries_per_passage"][kind]
        if rule in ("finetune", "finetune_knobs"):
            return self.full.finetune["max_steps"] * self.full.finetune["batch_size"]
        return None

    # --- jobs ------------------------------------------------------------------------------------
    def counterpart(self, job: PlannedJob) -> Measured | None:
        """The rehearsal's job of the same rule and names; for a shard or seed the rehearsal did not run,
        one of the same rule and other names."""
        found = self.measured.get((job.rule, job_key(job)))
        if found is not None:
            return found
        names = job_key(job, REPEATS)
        return next((m for (rule, _), (m, k) in self.by_names.items() if rule == job.rule and k == names), None)

    def gpus(self, job: PlannedJob) -> int:
        plan = self.full
        if job.rule == "zeroshot":
            return plan.zeroshot_gpus(job.wildcard("model"))
        if job.rule == "evaluate":
            return plan.evaluation_gpus(job.wildcard("run"))
        if job.rule == "generate":
            return plan.generation_gpus()
        if job.rule in ("finetune", "finetune_knobs"):
            return plan.finetune["gpus"]
        if job.rule == "negatives":
            return plan.negatives_gpus()
        return 0

    def estimate(self, job: PlannedJob) -> JobEstimate:
        found = self.counterpart(job)
        if found is None:
            return JobEstimate(job.rule, job_key(job), 0.0, self.gpus(job), measured=False)
        seconds = found.wall
        record = found.record
        if job.rule in WORK_UNITS and record is not None:
            done = record.units.get(WORK_UNITS[job.rule], 0)
            full = self.full_units(job, record)
            if done and full is not None:
                seconds = found.wall - record.seconds + record.seconds * full / done
        return JobEstimate(job.rule, job_key(job), seconds, self.gpus(job), measured=True)

    def estimates(self) -> list[JobEstimate]:
        return [self.estimate(job) for job in self.full_jobs if job.rule not in ("all", "prefetch_item")]

    def unit_times(self) -> dict[str, tuple[float, str]]:
        """Each scaled rule's measured seconds per unit of work, over its rehearsal jobs."""
        totals: dict[str, list[float]] = {}
        for (rule, _), found in self.measured.items():
            if rule in WORK_UNITS and found.record and found.record.units.get(WORK_UNITS[rule]):
                pair = totals.setdefault(rule, [0.0, 0.0])
                pair[0] += found.record.seconds
                pair[1] += found.record.units[WORK_UNITS[rule]]
        return {rule: (seconds / units, WORK_UNITS[rule]) for rule, (seconds, units) in totals.items()}

    def devices(self) -> list[str]:
        return sorted({f.record.device for f in self.measured.values() if f.record and f.record.device})


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}"


def report(estimator: Estimator) -> str:
    """The estimate as Markdown: per stage (rule) the jobs, hours and GPU-hours, and the total."""
    stages: dict[str, list[JobEstimate]] = {}
    for estimate in estimator.estimates():
        stages.setdefault(estimate.rule, []).append(estimate)
    units = estimator.unit_times()
    devices = ", ".join(estimator.devices()) or "unknown"
    lines = [
        f"Estimate for the full configuration, from the rehearsal in {estimator.rehearsal.layout.results}/ "
        f"(measured on: {devices})",
        "",
        "| stage | jobs | measured per unit | wall hours (jobs one after another) | GPU-hours |",
        "|---|---|---|---|---|",
    ]
    total = gpu_total = 0.0
    for rule, estimates in stages.items():
        seconds = sum(e.seconds for e in estimates)
        gpu = sum(e.seconds * e.gpus for e in estimates)
        total, gpu_total = total + seconds, gpu_total + gpu
        unit = f"{units[rule][0] * 1000:.3g} s per 1,000 {units[rule][1]}" if rule in units else ""
        missing = sum(not e.measured for e in estimates)
        note = f" ({missing} not timed)" if missing else ""
        lines.append(f"| {rule} | {len(estimates)}{note} | {unit} | {hours(seconds)} | {hours(gpu)} |")
    lines.append(f"| **total** | {sum(map(len, stages.values()))} | | **{hours(total)}** | **{hours(gpu_total)}** |")
    lines += ["", "Jobs not timed: rules without a benchmark file (the light report jobs, seconds each), or jobs "
              "the rehearsal did not run. Downloads are not included (`capflow prefetch --dry-run` lists their "
              "sizes)."]
    return "\n".join(lines)


def configure_parser(parser) -> None:
    parser.add_argument("--configfile", nargs="+", default=[], metavar="FILE",
                        help="the full configuration's files, as given to snakemake (after config/config.yaml)")
    parser.add_argument("--rehearsal", default=SMOKE, metavar="FILE",
                        help="the overlay the rehearsal ran with, after the same files (default %(default)s)")
    parser.add_argument("--root", default=".", help="the workflow's folder (default: the current one)")
    parser.add_argument("--out", type=Path, help="also write the estimate (Markdown) to this file")


def main(args) -> None:
    from capflow.io import write_text
    from capflow.plan.build import plan_from_files

    full, full_report = plan_from_files(args.configfile, args.root)
    rehearsal, rehearsal_report = plan_from_files([*args.configfile, args.rehearsal], args.root)
    text = report(Estimator(full, rehearsal, rehearsal_report, full_report))
    print(text)
    if args.out:
        write_text(args.out, text + "\n")
