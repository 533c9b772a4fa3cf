"""Run a sweep: plan the missing runs, train them in parallel, store each at once.

Progress, storage and aggregation live here; the training itself is the pure
task :func:`experiments.train.run_task`, one per group of runs that share a
data stream.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import sys
import time
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml
from joblib import Parallel, delayed, parallel_config
from joblib.externals.loky.process_executor import TerminatedWorkerError
from tqdm.auto import tqdm

from experiments.config import RunConfig, SweepConfig
from experiments.store import FolderLock, RunStore, atomic_write_text
from experiments.train import failed_result, group_key, load_run_data, run_task

# Stacks larger than this are split: beyond it the speed-up flattens and the
# work spreads worse over workers.
MAX_STACK = 32
BACKENDS = ("loky", "dask")
# A group whose worker died is dispatched again this many times in all.
MAX_ATTEMPTS = 2


@dataclass
class Plan:
    """Which runs of a sweep are done and which are to do."""

    runs: list[RunConfig]
    done: dict[str, dict]  # run_id -> stored result
    corrupt: dict[str, str]  # run_id -> why its stored file is unusable

    @property
    def todo(self) -> list[RunConfig]:
        return [r for r in self.runs if r.run_id not in self.done]


def plan(sweep: SweepConfig, out_dir: str | Path, force: bool = False) -> Plan:
    runs = sweep.runs()
    done, corrupt = RunStore(out_dir).load([r.run_id for r in runs])
    return Plan(runs, {} if force else done, corrupt)


def make_groups(runs: Sequence[RunConfig], max_stack: int = MAX_STACK) -> list[list[RunConfig]]:
    """Split runs into stacks that can train together, deterministically.

    The grouping depends on the runs alone (never on the worker count), so a
    sweep gives the same numbers with any number of workers.
    """
    by_key: dict[tuple, list[RunConfig]] = {}
    for run in sorted(runs, key=lambda r: r.run_id):
        by_key.setdefault(group_key(run), []).append(run)
    groups = []
    for members in by_key.values():
        n_chunks = -(-len(members) // max_stack)
        size = -(-len(members) // n_chunks)  # even chunks: 40 -> 20 + 20, not 32 + 8
        groups += [members[i : i + size] for i in range(0, len(members), size)]
    # Largest first: the slowest tasks start early and the tail stays short.
    return sorted(groups, key=lambda g: -len(g) * g[0].epochs * _width(g[0]))


def _width(run: RunConfig) -> int:
    return sum(run.hidden)


@dataclass
class SweepOutcome:
    counts: Counter = field(default_factory=Counter)  # ok / diverged / failed / skipped
    seconds: float = 0.0
    corrupt: dict[str, str] = field(default_factory=dict)


def _indexed(i: int, runs: list[RunConfig]) -> tuple[int, list[dict]]:
    return i, run_task(runs)


def execute(
    groups: list[list[RunConfig]],
    store: RunStore,
    jobs: int = 1,
    backend: str = "loky",
    on_result: Callable[[dict], None] | None = None,
    scheduler: str | None = None,
) -> None:
    """Train every group, writing each result as soon as it arrives.

    A worker that dies (killed, out of memory) takes its tasks with it: those
    are dispatched again, and recorded as ``failed`` after
    :data:`MAX_ATTEMPTS` tries; finished results are already on disk.
    """
    pending = dict(enumerate(groups))
    attempts: Counter = Counter()
    while pending:
        try:
            with _backend(backend, jobs, scheduler):
                tasks = [delayed(_indexed)(i, g) for i, g in pending.items()]
                for i, results in Parallel(return_as="generator_unordered")(tasks):
                    for result in results:
                        store.write(result)
                        if on_result:
                            on_result(result)
                    del pending[i]
        except (TerminatedWorkerError, BrokenProcessPool) as exc:
            for i in list(pending):
                attempts[i] += 1
                if attempts[i] >= MAX_ATTEMPTS:
                    for run in pending.pop(i):
                        result = failed_result(run, RuntimeError(f"worker died twice: {exc}"))
                        store.write(result)
                        if on_result:
                            on_result(result)


def _backend(backend: str, jobs: int, scheduler: str | None):
    if backend == "dask":
        from experiments.dask_backend import dask_config

        return dask_config(scheduler, jobs)
    # inner_max_num_threads caps BLAS in loky workers before any import; the
    # task pins it again itself (threadpoolctl), which covers every backend.
    return parallel_config(backend=backend, n_jobs=jobs, inner_max_num_threads=1)


def check_data(runs: Sequence[RunConfig]) -> None:
    """Load each distinct data set once up front, so a broken file stops the
    sweep before any training, with one clear message."""
    seen = set()
    for run in runs:
        key = (run.data, run.input_scale, run.test_fraction, run.train_size, run.test_size)
        if key not in seen:
            seen.add(key)
            load_run_data(run)


def package_versions() -> dict[str, str]:
    names = ("numpy", "pandas", "matplotlib", "joblib", "scikit-learn", "scipy", "threadpoolctl", "pyyaml")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def run_sweep(
    sweep: SweepConfig,
    out_dir: str | Path,
    jobs: int = 1,
    force: bool = False,
    backend: str = "loky",
    scheduler: str | None = None,
    progress: bool = True,
    max_stack: int = MAX_STACK,
    report: bool = True,
) -> SweepOutcome:
    """Train the missing runs of ``sweep`` into ``out_dir`` and rebuild its outputs."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    out_dir = Path(out_dir)
    store = RunStore(out_dir)
    store.prepare()
    outcome = SweepOutcome()
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    with FolderLock(out_dir):
        p = plan(sweep, out_dir, force)
        for run_id, why in p.corrupt.items():
            where = store.quarantine(run_id)
            outcome.corrupt[run_id] = why
            print(f"warning: stored run {run_id} was {why}; moved to {where} and recomputed", file=sys.stderr)
        todo = p.todo
        outcome.counts["skipped"] = len(p.runs) - len(todo)
        check_data(todo)
        atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(sweep.resolved(), sort_keys=False))
        bar = tqdm(total=len(todo), unit="run", desc=sweep.name, disable=not progress, smoothing=0.1)

        def on_result(result: dict) -> None:
            outcome.counts[result["status"]] += 1
            bar.update(1)

        try:
            execute(make_groups(todo, max_stack), store, jobs, backend, on_result, scheduler)
        finally:
            bar.close()
            outcome.seconds = time.perf_counter() - t0
        manifest = {
            "sweep": sweep.name,
            "started": started.isoformat(timespec="seconds"),
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(outcome.seconds, 3),
            "jobs": jobs,
            "backend": backend,
            "cpu_count": os.cpu_count(),
            "runs_total": len(p.runs),
            "runs": dict(outcome.counts),
            "versions": package_versions(),
        }
        atomic_write_text(out_dir / "manifest.yaml", yaml.safe_dump(manifest, sort_keys=False))
        if report:
            build_outputs(out_dir, sweep)
    return outcome


def build_outputs(out_dir: str | Path, sweep: SweepConfig | None = None) -> list[Path]:
    """Tables, plots and report from the runs of ``sweep`` stored in ``out_dir``
    (all stored runs when ``sweep`` is None)."""
    from experiments.plots import make_plots
    from experiments.report import write_report
    from experiments.tables import build_tables

    out_dir = Path(out_dir)
    store = RunStore(out_dir)
    ids = None if sweep is None else [r.run_id for r in sweep.runs()]
    results, bad = store.load(ids)
    for run_id, why in bad.items():
        print(f"warning: stored run {run_id} is {why}; left out (a sweep will recompute it)", file=sys.stderr)
    tables = build_tables(results.values())
    paths = tables.write(out_dir)
    paths += make_plots(tables, out_dir / "plots")
    paths.append(write_report(tables, out_dir))
    if sweep is not None and sweep.variants:
        from experiments.diagnosis import write_diagnosis

        diagnosis = write_diagnosis(tables, sweep, out_dir)
        if diagnosis is not None:
            paths += [diagnosis, out_dir / "diagnosis.csv"]
    return paths
