"""Run a sweep: plan the missing runs, train them in parallel, store each at once.

Progress, storage and aggregation live here; the training itself is the pure
task :func:`experiments.train.run_task`, one per group of runs that share a
data stream.
"""
from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import functools
import importlib
import importlib.metadata
import os
import platform
import sys
import threading
import time
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import yaml
from joblib import Parallel, delayed, parallel_config
from joblib.externals.loky.process_executor import TerminatedWorkerError
from tqdm.auto import tqdm

import nn
from experiments.config import RunConfig, SweepConfig
from experiments.data import data_notes
from experiments.store import FolderLock, RunStore, atomic_write_text
from experiments.train import data_args, failed_result, group_key, load_run_data, run_task

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
    failed: set[str] = field(default_factory=set)  # stored as failed, to be retried

    @property
    def todo(self) -> list[RunConfig]:
        return [r for r in self.runs if r.run_id not in self.done]


def plan(sweep: SweepConfig, out_dir: str | Path, force: bool = False, retry_failed: bool = True) -> Plan:
    """The runs of ``sweep`` and which of them ``out_dir`` holds already.

    A stored ``failed`` run is not a result (its worker may have died for a
    reason of the moment): it is to do again unless ``retry_failed`` is False.
    """
    runs = sweep.runs()
    done, corrupt = RunStore(out_dir).load_runs(runs)
    retry = retry_failed and not force  # --force recomputes them anyway
    failed = {run_id for run_id, r in done.items() if r["status"] == "failed"} if retry else set()
    done = {} if force else {run_id: r for run_id, r in done.items() if run_id not in failed}
    return Plan(runs, done, corrupt, failed)


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
        parts = [members]
        if len(members) > max_stack:
            # Split anyway: along seeds first, so that a stack shares one
            # sample order (one batch per step; per-network orders cost a
            # (K, B, n_0) gather, and K=30 of three seeds was no faster than
            # K=20 of one). Small groups keep their seeds together.
            by_seed: dict[int, list[RunConfig]] = {}
            for run in members:
                by_seed.setdefault(run.seed, []).append(run)
            parts = list(by_seed.values())
        for part in parts:
            n_chunks = -(-len(part) // max_stack)
            size = -(-len(part) // n_chunks)  # even chunks: 40 -> 20 + 20, not 32 + 8
            groups += [part[i : i + size] for i in range(0, len(part), size)]
    # Largest first: the slowest tasks start early and the tail stays short.
    return sorted(groups, key=lambda g: -len(g) * g[0].epochs * _width(g[0]))


def _width(run: RunConfig) -> int:
    """Hidden pre-activations per sample, the size a task's arithmetic grows with
    (a maxout unit has ``pieces`` of them: its stacks took twice a tanh stack's time)."""
    return sum(run.hidden) * nn.ACTIVATIONS[run.activation].pieces


@dataclass
class SweepOutcome:
    counts: Counter = field(default_factory=Counter)  # ok / diverged / failed / skipped
    seconds: float = 0.0  # training (the manifest's wall_seconds)
    outputs_seconds: float | None = None  # tables, plots and reports after it; None without them
    corrupt: dict[str, str] = field(default_factory=dict)


class WorkerDied(RuntimeError):
    """A worker process died under a task; ``groups`` are the indices of
    the groups that may have been running on it."""

    def __init__(self, groups: set[int], reason: str):
        super().__init__(reason)
        self.groups = groups


# fn(i, item) for each item of a dict, results as they complete (see _backend).
MapUnordered = Callable[[Callable[[int, Any], Any], dict[int, Any]], Iterator[Any]]


def _indexed(task: Callable[[list[RunConfig]], list[dict]], i: int, runs: list[RunConfig]) -> tuple[int, list[dict]]:
    return i, task(runs)


def execute(
    groups: list[list[RunConfig]],
    store: RunStore,
    map_unordered: MapUnordered,
    on_result: Callable[[dict], None] | None = None,
    task: Callable[[list[RunConfig]], list[dict]] = run_task,
) -> None:
    """Train every group with ``task``, writing each result as soon as it arrives.

    A worker that dies (killed, out of memory) takes its task with it. The
    groups that may have been running on it are dispatched again one at a
    time, so that a group that kills its worker once more is known for
    certain: it is recorded as ``failed`` after :data:`MAX_ATTEMPTS` tries,
    and no other group pays for it. Finished results are already on disk.
    """
    pending = dict(enumerate(groups))
    attempts: Counter = Counter()

    def record(result: dict) -> None:
        if isinstance(result.get("error"), str):  # a traceback-like message stays on one CSV line
            result["error"] = one_line(result["error"])
        store.write(result)
        if on_result:
            on_result(result)

    while pending:
        retry = [i for i in pending if attempts[i]]
        batch = {i: pending[i] for i in retry[:1] or pending}
        try:
            for i, results in map_unordered(functools.partial(_indexed, task), batch):
                for result in results:
                    record(result)
                del pending[i]
        except WorkerDied as died:
            # Each round either finishes a group or charges one: the loop ends.
            for i in died.groups & pending.keys():
                attempts[i] += 1
                if attempts[i] >= MAX_ATTEMPTS:
                    error = RuntimeError(f"its worker died in each of {MAX_ATTEMPTS} tries ({one_line(str(died))})")
                    for run in pending.pop(i):
                        record(failed_result(run, error))


def one_line(text: str) -> str:
    """``text`` with its line breaks folded into spaces: an error stays on one CSV line."""
    return " ".join(text.split())


def _joblib_map(fn: Callable[[int, Any], Any], items: dict[int, Any]) -> Iterator[Any]:
    """:data:`MapUnordered` on joblib's active backend.

    joblib does not say which task a dead worker held, so :class:`WorkerDied`
    names every item joblib had taken from ``items`` and not finished: the
    running ones and at most ``jobs - 1`` queued behind them (with
    ``pre_dispatch="n_jobs"``). Those few are retried alone, a small price
    for never failing a group that did nothing wrong.
    """
    taken: set[int] = set()

    def calls() -> Iterator[Any]:
        for i, item in items.items():
            taken.add(i)
            yield delayed(fn)(i, item)

    try:
        yield from Parallel(return_as="generator_unordered", batch_size=1, pre_dispatch="n_jobs")(calls())
    except (TerminatedWorkerError, BrokenProcessPool) as exc:
        raise WorkerDied(taken, _exit_codes(exc)) from None


def _exit_codes(exc: BaseException) -> str:
    """The useful end of loky's long message: 'The exit codes of the workers are {SIGKILL(-9)}'."""
    text = str(exc).strip()
    return text[text.find("The exit codes"):] if "The exit codes" in text else f"{type(exc).__name__}: {text}"


@contextlib.contextmanager
def _backend(backend: str, jobs: int, scheduler: str | None, keep_workers: bool = False) -> Iterator[MapUnordered]:
    """Set up ``backend`` (for dask: connect) and yield how to map tasks on it;
    loky's workers are stopped at the end unless ``keep_workers``."""
    if backend == "dask":
        from experiments.dask_backend import dask_map

        with dask_map(scheduler) as map_unordered:
            yield map_unordered
        return
    # inner_max_num_threads caps BLAS in loky workers before any import; the
    # task pins it again itself (threadpoolctl), which covers every backend.
    try:
        with parallel_config(backend=backend, n_jobs=jobs, inner_max_num_threads=1):
            yield _joblib_map
    finally:
        if not keep_workers:
            stop_loky_workers()


def _import_analysis() -> None:
    """Import the outputs stage ahead of time, and pack plotly.js for report.html
    (0.2 s, the same for every sweep). A failure is left to the import after
    training, where the sweep reports it: a thread would print a traceback."""
    try:
        importlib.import_module("experiments.analysis.build")
        importlib.import_module("experiments.analysis.page").packed_plotly()
    except Exception:  # noqa: BLE001 - see the docstring
        pass


def stop_loky_workers() -> None:
    """Stop the worker processes joblib keeps for reuse, however the sweep ends:
    left alone they (and loky's resource tracker) outlive a sweep ended by a
    signal by many minutes."""
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


def check_data(runs: Sequence[RunConfig]) -> list[str]:
    """Load each distinct data set once up front, so a broken file stops the
    sweep before any training, with one clear message.

    Returns warnings about data that loads but is suspect (one class only).
    """
    seen = set()
    warnings = []
    for run in runs:
        # Every argument of load_run_data, so each distinct split is checked (a
        # val_fraction too large for the data is one error line here, not failed runs).
        key = data_args(run)
        if key not in seen:
            seen.add(key)
            data = load_run_data(run)
            warnings += data_notes(run.data)
            present = sorted(set(data.y_train.tolist()))  # class indices
            if len(present) < 2:
                label = data.classes[present[0]] if data.classes else present[0]
                warnings.append(f"the training set of {run.data!r} holds one class only (label {label}): "
                                "every run can reach 100% by predicting it")
    return list(dict.fromkeys(warnings))


def package_versions() -> dict[str, str]:
    names = ("numpy", "pandas", "matplotlib", "joblib", "scikit-learn", "scipy", "threadpoolctl", "pyyaml")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def write_manifest(out_dir: Path, name: str, invocation: dict[str, Any], amend: bool = False) -> None:
    """manifest.yaml: the latest invocation's record at the top, and under
    ``history`` every invocation's, oldest first, so that the record of the
    sweep that computed the numbers survives the reruns that found nothing to do.
    ``amend``: ``invocation`` replaces the last record of the history (the same
    invocation, completed) instead of adding one."""
    path = out_dir / "manifest.yaml"
    try:
        old = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        old = {}
    history = old.get("history") if isinstance(old, dict) else None
    history = [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    if amend:
        history = history[:-1]
    # A copy in the history: shared objects would be written as YAML aliases.
    manifest = {"sweep": name, **invocation, "history": [*history, copy.deepcopy(invocation)]}
    atomic_write_text(path, yaml.safe_dump(manifest, sort_keys=False))


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
    task: Callable[[list[RunConfig]], list[dict]] = run_task,
    retry_failed: bool = True,
    command: Sequence[str] = (),
    keep_workers: bool = False,
) -> SweepOutcome:
    """Train the missing runs of ``sweep`` into ``out_dir`` and rebuild its outputs.

    ``task`` trains one group (tests pass one that crashes its worker).
    Stored failed runs are trained again unless ``retry_failed`` is False.
    ``command`` (the command line) is recorded in the manifest's history.
    ``keep_workers`` leaves loky's worker processes running for the next sweep
    of this process (the benchmark times sweeps back to back without their
    start); by default they are stopped, however the sweep ends.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    out_dir = Path(out_dir)
    store = RunStore(out_dir)
    outcome = SweepOutcome()
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    # Bad data, an unreachable cluster or a busy folder stop the sweep before
    # it writes anything.
    sweep = sweep.pinned()  # read the data's fingerprints once
    todo = plan(sweep, out_dir, force, retry_failed).todo
    for warning in check_data(todo):
        print(f"warning: {warning}", file=sys.stderr)
    draw_jobs = jobs  # the figures of the outputs are drawn by as many workers as asked
    jobs = max(1, min(jobs, len(make_groups(todo, max_stack))))  # a worker per task at most
    with contextlib.ExitStack() as stack:
        map_unordered = stack.enter_context(_backend(backend, jobs, scheduler, keep_workers))
        store.prepare()
        stack.enter_context(FolderLock(out_dir))
        store.remove_leftovers()  # of a process killed while it wrote; none is writing now
        p = plan(sweep, out_dir, force, retry_failed)  # again, now that no other sweep can write
        for run_id, why in p.corrupt.items():
            where = store.quarantine(run_id)
            outcome.corrupt[run_id] = why
            print(f"warning: stored run {run_id} was {why}; moved to {where} and recomputed", file=sys.stderr)
        todo = p.todo
        outcome.counts["skipped"] = len(p.runs) - len(todo)
        outcome.counts["retried"] = len(p.failed)
        if p.failed:
            print(f"note: retrying {len(p.failed)} runs stored as failed (--no-retry-failed keeps them)",
                  file=sys.stderr)
        atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(sweep.resolved(), sort_keys=False))
        bar = tqdm(total=len(todo), unit="run", desc=sweep.name, disable=not progress, smoothing=0.1)

        trained: dict[str, dict] = {}  # this sweep's results, for the outputs (no second read)

        def on_result(result: dict) -> None:
            outcome.counts[result["status"]] += 1
            if report:
                trained[result["run_id"]] = result
            bar.update(1)

        ahead = None
        if report and todo:
            # The analysis side's imports (matplotlib, pandas: most of a second)
            # would run alone on one core after training; on a thread they
            # overlap with it, whose main process only waits for results.
            ahead = threading.Thread(target=_import_analysis, daemon=True)
            ahead.start()
        try:
            execute(make_groups(todo, max_stack), store, map_unordered, on_result, task)
        finally:
            bar.close()
            outcome.seconds = time.perf_counter() - t0
        invocation = {
            "command": " ".join(command),
            "started": started.isoformat(timespec="seconds"),
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(outcome.seconds, 3),
            "jobs": jobs,
            "backend": backend,
            **({"scheduler": scheduler} if backend == "dask" else {}),
            "cpu_count": os.cpu_count(),
            "runs_total": len(p.runs),
            "runs": dict(outcome.counts),
            "data_fingerprints": dict(sweep.data_fingerprints),
            "versions": package_versions(),
        }
        write_manifest(out_dir, sweep.name, invocation)
        if report:
            if ahead is not None:
                ahead.join()  # no thread may run when the figure workers are forked
            t1 = time.perf_counter()
            from experiments.analysis.build import build_outputs  # the analysis side, imported only when used

            build_outputs(out_dir, sweep, jobs=draw_jobs, known=trained)
            outcome.outputs_seconds = time.perf_counter() - t1
            invocation["outputs_seconds"] = round(outcome.outputs_seconds, 3)
            write_manifest(out_dir, sweep.name, invocation, amend=True)
    return outcome
