"""``make bench``: how fast nn/ and the sweep runner are, as ratios measured in one run.

    python -m benchmarks.bench [--quick] [--full] [--jobs N] [--out DIR] [--no-torch] [--scaling]

Its parts, each compared with something measured in the same run so that a
noisy machine cancels out:

1. Peak: float64/float32 GEMM GFLOP/s (2048^3, best of 3) at 1 BLAS thread
   and at all cores.
2. One network (BLAS pinned to 1 thread): training samples/s of nn/ (a stack
   of K=1) against the plain reference loop of :mod:`benchmarks.reference` and
   PyTorch CPU (when importable), best of alternating rounds; the achieved
   GFLOP/s as a fraction of the 1-thread peak.
3. Sweep: a fixed slice of the default grid (every activation, initializer
   and learning rate, seed 0: the same stacks as the full grid; --full for
   all of it) through the real runner, in the config's dtype (which carries
   the targets) and the other one, against the same runs done one after
   another with the float64 reference loop (timed on one run per activation
   x initializer, extrapolated); useful GFLOP/s as a fraction of the
   all-core peak; the float64 run checks the reference against the runner.
4. Scaling: the same sweep at --jobs 1, efficiency t1 / (jobs * t_jobs),
   beside a control (independent NumPy tasks on the same workers) that shows
   what a shared machine gives a second worker at that moment; BLAS threads
   per task; the peak memory of the sweep run as ``python -m experiments sweep``.
   With --scaling: the same sweep at 1, 2, 4, ... workers up to the cores,
   with loky and with a local Dask cluster, and the efficiency of each.
   Profile: the shares of one stack's time in training, evaluation and
   diagnostics.
5. Batch 1: the question's network (784-200-100-10, the book's rule) one
   sample per update, time per sample against the memory-bandwidth bound of
   its weights (:mod:`benchmarks.bandwidth`, a triad measured here).
6. Whole command: a 48-run sweep as ``python -m experiments sweep`` (start,
   training, tables, plots, report) against the same runs trained in PyTorch
   by :mod:`benchmarks.torch_sweep` (when torch is importable); the outputs
   stage against training time, for this sweep and the sweep of part 3.

Results: a printed table, ``OUT/bench.csv`` and ``OUT/README-table.md``
(OUT defaults to results/bench).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as _dt
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import nn
from benchmarks import bandwidth as bw
from benchmarks import reference as ref
from experiments import config as cfg
from experiments.runner import run_sweep, stop_loky_workers
from experiments.store import RunStore
from experiments.train import load_run_data

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("name", "value", "unit", "target", "met")

# One-network figures: hidden activation, initializer, learning rate (small,
# so that random data never diverges), and the shapes of the issue.
ONE_NET_ACTIVATION = "relu"
ONE_NET_SHAPES = (((64, 32, 32, 10), 32), ((784, 200, 100, 10), 64))
ONE_NET_LR = 0.01

# The sweep: the default config with these --set assignments. The slice keeps
# every activation x initializer x learning rate of seed 0 (240 of 720 runs):
# the runner splits the full grid's 60 runs per activation along seeds into
# stacks of 20, so every stack (task) is one of the full grid's, a third of them.
SLICE_SETS = ["seeds=0"]
QUICK_SETS = ["activations=relu,tanh", "inits=he_normal,book", "lrs=0.01,0.1", "seeds=0",
              "epochs=2", "train_size=300", "test_size=100", "probe_size=32"]
# The whole-command comparison with PyTorch: 48 runs x 10 epochs of activations
# PyTorch has as modules.
COMMAND_SETS = ["activations=relu,tanh,sigmoid,gelu", "inits=he_normal,glorot_uniform", "lrs=0.01,0.1",
                "seeds=0,1,2", "epochs=10"]
QUICK_COMMAND_SETS = ["activations=relu", "inits=he_normal", "lrs=0.1", "seeds=0,1", "epochs=1",
                      "train_size=100", "test_size=50", "probe_size=16"]


@dataclass
class Mode:
    gemm_n: int  # GEMM size of the peak
    gemm_repeats: int
    rounds: int  # alternating rounds of the one-network figures
    steps: dict[tuple[int, ...], int]  # training steps per one-network measurement
    sets: list[str]  # --set assignments that slice the default grid
    command_sets: list[str]  # the sweep of the whole-command comparison
    triad_n: int  # float64 elements per triad array
    batch1_samples: int  # samples per batch-1 timing
    memory_jobs: int | None = None  # workers of the memory run (None: --jobs)


FULL_MODE = Mode(2048, 3, 5, {(64, 32, 32, 10): 600, (784, 200, 100, 10): 100}, SLICE_SETS, COMMAND_SETS,
                 2**23, 600)
# --quick: the memory run at --jobs 1 spares the start of two more workers
# (each imports scikit-learn for the digits, about 2 s).
QUICK_MODE = Mode(1024, 1, 2, {(64, 32, 32, 10): 30, (784, 200, 100, 10): 10}, QUICK_SETS, QUICK_COMMAND_SETS,
                  2**20, 20, memory_jobs=1)


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    name: str
    value: float | None  # None: not measured (skipped)
    unit: str = ""
    target: str = ""  # ">= 7", "< 1024", or "" for information only
    met: str = ""  # "yes", "no", "skipped" or "" (no target)


def check(value: float | None, target: str) -> str:
    if not target:
        return ""
    if value is None or not math.isfinite(value):
        return "skipped"
    op, bound = target.split()
    ok = {">=": value >= float(bound), "<=": value <= float(bound), "<": value < float(bound)}[op]
    return "yes" if ok else "no"


def row(name: str, value: float | None, unit: str = "", target: str = "") -> Row:
    return Row(name, value, unit, target, check(value, target))


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    a = abs(value)
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 100:
        return f"{value:.1f}"
    if a >= 1 or a == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


# --------------------------------------------------------------------------- FLOPs


def layer_macs(sizes: tuple[int, ...], pieces: int = 1) -> list[int]:
    """Multiply-adds of each weight layer for one sample (maxout: pieces per hidden unit)."""
    outs = [n * pieces for n in sizes[1:-1]] + [sizes[-1]]
    return [n_in * n_out for n_in, n_out in zip(sizes[:-1], outs)]


def train_flops_per_sample(sizes: tuple[int, ...], pieces: int = 1) -> int:
    """GEMM FLOPs of one training sample: forward, dW and da (2 FLOPs per multiply-add).

    Forward ``z = a @ W`` and the weight gradient ``dW = a.T @ dz`` cost
    2 * macs each on every layer; ``da = dz @ W.T`` is needed on every layer
    but the first (nobody uses the gradient of the input), so it is not
    counted there. Elementwise work (activations, softmax, updates) is not
    counted: these are the FLOPs a perfect implementation cannot avoid.
    """
    macs = layer_macs(sizes, pieces)
    return 2 * sum(macs) + 2 * sum(macs) + 2 * sum(macs[1:])


def run_train_flops(run: cfg.RunConfig) -> float:
    """Training FLOPs of a whole run: epochs x training samples x per-sample FLOPs.

    Every run counts its planned epochs, diverged or not (the arithmetic the
    grid asks for); the per-epoch evaluation (test set, probe diagnostics) is
    not counted.
    """
    data = load_run_data(run)
    sizes = (data.n_features, *run.hidden, data.n_classes)
    pieces = nn.ACTIVATIONS[run.activation].pieces
    return float(run.epochs * len(data.X_train) * train_flops_per_sample(sizes, pieces))


# --------------------------------------------------------------------------- peak


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def gemm_gflops(n: int, dtype: str, threads: int, repeats: int) -> float:
    """Best GFLOP/s of an n^3 matrix product with BLAS limited to ``threads``."""
    rng = np.random.default_rng(0)
    A = rng.random((n, n)).astype(dtype)
    B = rng.random((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    best = math.inf
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(A, B, out=C)  # warm-up: thread start, page faults
        for _ in range(repeats):
            t = time.perf_counter()
            np.matmul(A, B, out=C)
            best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best / 1e9


def measure_peaks(mode: Mode) -> tuple[dict[tuple[str, int], float], list[Row]]:
    peaks, rows = {}, []
    n_cores = cores()
    for dtype in ("float64", "float32"):
        for threads in sorted({1, n_cores}):
            g = gemm_gflops(mode.gemm_n, dtype, threads, mode.gemm_repeats)
            peaks[(dtype, threads)] = g
            label = "1 thread" if threads == 1 else f"{threads} threads"
            rows.append(row(f"peak GEMM {dtype}, {label} ({mode.gemm_n}^3)", g, "GFLOP/s"))
        if n_cores > 1:
            # What the machine gives a second core right now: on a shared
            # machine it caps the sweep's scaling efficiency too.
            rows.append(row(f"peak GEMM {dtype}, {n_cores}-thread efficiency p{n_cores} / ({n_cores} p1)",
                            peaks[(dtype, n_cores)] / (n_cores * peaks[(dtype, 1)]), "fraction"))
    return peaks, rows


# --------------------------------------------------------------------------- one network


def _one_net_data(sizes: tuple[int, ...], n: int, dtype: str):
    rng = np.random.default_rng(0)
    X = rng.random((n, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], n)
    T = np.eye(sizes[-1], dtype=dtype)[labels]
    return X, T, labels, rng.permutation(n)


def _ours(arch, X, T, labels, order, batch) -> Callable[[], tuple[float, float]]:
    params0 = nn.init_params(arch, ["he_normal"], [np.random.default_rng(1)])
    lr = np.array([ONE_NET_LR])

    def train() -> tuple[float, float]:
        params = params0.copy()
        t = time.perf_counter()
        loss, _ = nn.train_epoch(arch, params, X, T, order, lr, batch, "exact", labels)
        return time.perf_counter() - t, float(loss[0])

    return train


def _initial_weights(arch) -> list[np.ndarray]:
    params0 = nn.init_params(arch, ["he_normal"], [np.random.default_rng(1)])
    return [w[0] for w in params0.W]


def _reference(arch, X, T, labels, order, batch) -> Callable[[], tuple[float, float]]:
    W0 = _initial_weights(arch)

    def train() -> tuple[float, float]:
        net = ref.Net([w.copy() for w in W0], [np.zeros(w.shape[1], w.dtype) for w in W0], arch.activation)
        t = time.perf_counter()
        loss, _ = ref.train_epoch(net, X, T, order, ONE_NET_LR, batch, labels)
        return time.perf_counter() - t, loss

    return train


def _torch(torch, arch, X, T, labels, order, batch) -> Callable[[], tuple[float, float]]:
    """nn.Sequential of Linear + ReLU, cross-entropy, torch.optim.SGD: the usual loop."""
    W0 = _initial_weights(arch)
    tdtype = {"float64": torch.float64, "float32": torch.float32}[arch.dtype]
    layers = []
    for l, w in enumerate(W0):
        layers.append(torch.nn.Linear(*w.shape, dtype=tdtype))
        if l < len(W0) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=ONE_NET_LR)
    Xt, yt, ot = torch.from_numpy(X), torch.from_numpy(labels), torch.from_numpy(order)

    def train() -> tuple[float, float]:
        with torch.no_grad():
            for lin, w in zip(linears, W0):
                lin.weight.copy_(torch.from_numpy(w.T))
                lin.bias.zero_()
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.int64)
        t = time.perf_counter()
        for s in range(0, len(order), batch):
            idx = ot[s : s + batch]
            x, y = Xt[idx], yt[idx]
            out = model(x)
            loss = loss_fn(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
            correct += (out.argmax(dim=1) == y).sum()
        total = float(loss_sum)  # running figures, like the other two
        return time.perf_counter() - t, total / len(order)

    return train


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def one_network(mode: Mode, peaks: dict, torch) -> tuple[list[Row], list[str]]:
    rows, notes = [], []
    with threadpool_limits(limits=1, user_api="blas"):
        for sizes, batch in ONE_NET_SHAPES:
            for dtype in ("float64", "float32"):
                n = mode.steps[sizes] * batch
                arch = nn.Architecture(sizes, ONE_NET_ACTIVATION, "softmax", True, dtype)
                data = _one_net_data(sizes, n, dtype)
                trainers = {"nn/": _ours(arch, *data, batch), "reference": _reference(arch, *data, batch)}
                if torch is not None:
                    trainers["PyTorch"] = _torch(torch, arch, *data, batch)
                best = {k: math.inf for k in trainers}
                losses = {}
                for _ in range(mode.rounds):  # alternating rounds: noise hits all alike
                    for name, train in trainers.items():
                        seconds, losses[name] = train()
                        best[name] = min(best[name], seconds)
                rate = {k: n / v for k, v in best.items()}
                label = f"1 net {'-'.join(map(str, sizes))} b{batch} {dtype}"
                gflops = rate["nn/"] * train_flops_per_sample(sizes) / 1e9
                small = sizes == ONE_NET_SHAPES[0][0]
                rows += [
                    row(f"{label}: nn/", rate["nn/"], "samples/s"),
                    row(f"{label}: reference", rate["reference"], "samples/s"),
                    row(f"{label}: PyTorch", rate.get("PyTorch"), "samples/s"),
                    row(f"{label}: nn/ vs reference", rate["nn/"] / rate["reference"], "x", ">= 1.3" if small else ""),
                    row(f"{label}: nn/ vs PyTorch", rate["nn/"] / rate["PyTorch"] if "PyTorch" in rate else None,
                        "x", ">= 5" if small else ""),
                    row(f"{label}: nn/ GFLOP/s / 1-thread peak", gflops / peaks[(dtype, 1)], "fraction",
                        "" if small else ">= 0.6"),
                ]
                spread = max(abs(v - losses["nn/"]) for v in losses.values())
                notes.append(f"{label}: running loss of one epoch, nn/ {losses['nn/']:.6g}, largest difference "
                             f"to the others {spread:.2g} (same weights, data and order: they do the same math)")
    return rows, notes


# --------------------------------------------------------------------------- sweep


def default_sweep(sets: list[str], dtype: str | None = None) -> cfg.SweepConfig:
    sweep = cfg.parse_set(cfg.load(cfg.CONFIG_DIR / "default.yaml"), sets)
    return cfg.parse_set(sweep, [f"dtype={dtype}"]) if dtype else sweep


def sweep_dtype(sweep: cfg.SweepConfig) -> str:
    dtypes = {r.dtype for r in sweep.runs()}
    if len(dtypes) != 1:
        raise ValueError(f"the benchmark needs a sweep of one dtype, got {sorted(dtypes)}")
    return dtypes.pop()


def reference_subset(runs: list[cfg.RunConfig]) -> list[cfg.RunConfig]:
    """One run per cell of every axis but learning rate and seed: the middle
    learning rate (rarely diverges) and the first seed."""
    lrs = sorted({r.lr for r in runs})
    seed = min(r.seed for r in runs)
    cells = {}
    for r in runs:
        if r.lr == lrs[len(lrs) // 2] and r.seed == seed:
            key = tuple(v for k, v in r.flat().items() if k not in ("lr", "seed"))
            cells.setdefault(key, r)
    return list(cells.values())


def time_reference(subset: list[cfg.RunConfig]) -> tuple[float, dict[str, dict]]:
    """Seconds per run of the float64 reference loop, one run after another, 1 BLAS thread."""
    for run in subset:
        load_run_data(run)  # data loading is not what is measured
    results = {}
    with threadpool_limits(limits=1, user_api="blas"):
        t = time.perf_counter()
        for run in subset:
            results[run.run_id] = ref.reference_run(run, "float64")
        seconds = time.perf_counter() - t
    return seconds / len(subset), results


def timed_sweep(sweep: cfg.SweepConfig, jobs: int, outputs: bool = False) -> tuple[float, dict[str, dict], float]:
    """Wall seconds of the real runner (no progress bar, no report), its stored
    results, and (``outputs``) the wall seconds of its outputs stage, else NaN."""
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        t = time.perf_counter()
        run_sweep(sweep, tmp, jobs=jobs, progress=False, report=False, keep_workers=True)
        seconds = time.perf_counter() - t
        results, _ = RunStore(tmp).load([r.run_id for r in sweep.runs()])
        output_seconds = outputs_stage(sweep, tmp) if outputs else math.nan
    return seconds, results, output_seconds


def outputs_stage(sweep: cfg.SweepConfig, folder: str | Path) -> float:
    """Wall seconds of the outputs stage (tables, plots, reports) on a finished sweep's folder,
    as ``run_sweep`` runs it after training (matplotlib's import included the first time)."""
    t = time.perf_counter()
    from experiments.analysis.build import build_outputs  # imported when used, as the runner does

    build_outputs(folder, sweep)
    return time.perf_counter() - t


def _warmup_sweep(sweep: cfg.SweepConfig, n: int) -> cfg.SweepConfig:
    """n tasks of ``sweep``'s first run with no training epochs (one batch size
    each, so none stack together): they start n workers, their imports and the
    sweep's data set, which the reference's timing leaves out too."""
    first = sweep.runs()[0]
    return cfg.parse_set(sweep, ["epochs=0", f"activations={first.activation}", f"inits={first.init}",
                                 f"lrs={first.lr}", f"seeds={first.seed}",
                                 "batch_size=" + ",".join(str(b) for b in range(1, n + 1))])


def warm_up_workers(sweep: cfg.SweepConfig, jobs: int) -> None:
    """Start the loky workers once, so that no timed sweep pays their start
    (~1 s): the timed sweeps keep them, as the reference keeps its one process."""
    with tempfile.TemporaryDirectory(prefix="bench_warmup_") as tmp:
        run_sweep(_warmup_sweep(sweep, jobs), tmp, jobs=jobs, progress=False, report=False, keep_workers=True)


# A small launcher process runs the sweep: a child's ru_maxrss starts from
# the RSS of the process that spawned it (Linux records the old address space
# at exec), so spawning from this process, which holds NumPy and maybe
# PyTorch, would inflate the figure by this process's own size.
_LAUNCHER = """
import resource, subprocess, sys
with open(sys.argv[1], "w") as log:
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def control_work(iterations: int) -> None:
    """A fixed amount of work like a sweep's (small matrix products and a tanh), 1 BLAS thread."""
    a = np.full((20, 32, 32), 0.01)
    w = np.full((20, 32, 32), 0.02)
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(iterations):
            np.tanh(np.matmul(a, w))


def parallel_control(jobs: int, task_seconds: float = 0.4) -> float:
    """Efficiency t1 / (jobs t_jobs) of 2 x jobs identical independent tasks on the
    runner's loky workers: what this machine gives extra workers right now
    (1.0 on an idle machine; less when other processes hold cores)."""
    from joblib import Parallel, delayed, parallel_config

    t = time.perf_counter()
    control_work(100)
    iterations = max(1, int(100 * task_seconds / (time.perf_counter() - t)))
    tasks = [delayed(control_work)(iterations) for _ in range(2 * jobs)]
    walls = {}
    for n in (jobs, 1):
        with parallel_config(backend="loky", n_jobs=n, inner_max_num_threads=1):
            Parallel()(tasks[:1])  # workers up
            t = time.perf_counter()
            Parallel()(tasks)
            walls[n] = time.perf_counter() - t
    return walls[1] / (jobs * walls[jobs])


def _tree_memory(launcher) -> tuple[int, int, int]:
    """(sum of RSS, sum of PSS, largest RSS) in bytes over the launcher's descendants."""
    import psutil

    rss = pss = largest = 0
    try:
        procs = launcher.children(recursive=True)
    except psutil.Error:
        return 0, 0, 0
    for p in procs:
        try:
            info = p.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
        largest = max(largest, info.rss)
    return rss, pss, largest


def sweep_memory(sets: list[str], jobs: int) -> tuple[list[Row], float, float, list[str]]:
    """Run ``python -m experiments sweep`` (its report included) and measure its memory.

    - getrusage(RUSAGE_CHILDREN).ru_maxrss, read by the launcher: the peak RSS
      of the LARGEST single process among the sweep process and the loky
      workers it waited for as it exited. A max, not a sum: the bound
      reported is (jobs + 1) x that max.
    - psutil, when importable (it is not a dependency): every 50 ms the RSS
      of the sweep process and all its descendants (workers, loky's resource
      tracker), summed; the peak of the sum. Shared pages (NumPy's and
      SciPy's libraries) count once per process, so it overstates; the sum
      of PSS (shared pages split between the processes that map them) does not.

    Returns rows, the subprocess's wall time, the runner's own wall time
    (its manifest: training, without the report) and notes.
    """
    notes = []
    try:
        import psutil
    except ImportError:
        psutil = None
    with tempfile.TemporaryDirectory(prefix="bench_mem_") as tmp:
        cmd = [sys.executable, "-m", "experiments", "sweep", "--out", tmp, "--jobs", str(jobs), "--no-progress"]
        for s in sets:
            cmd += ["--set", s]
        log_path = Path(tmp) / "log.txt"
        launcher = [sys.executable, "-c", _LAUNCHER, str(log_path), *cmd]
        peak_rss = peak_pss = peak_one = 0
        t = time.perf_counter()
        if psutil is not None:
            proc = psutil.Popen(launcher, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            while proc.poll() is None:
                rss, pss, largest = _tree_memory(proc)
                peak_rss, peak_pss, peak_one = max(peak_rss, rss), max(peak_pss, pss), max(peak_one, largest)
                time.sleep(0.05)
            out = proc.stdout.read()
        else:
            out = subprocess.run(launcher, cwd=ROOT, stdout=subprocess.PIPE, text=True).stdout
        wall = time.perf_counter() - t
        rc, maxrss = (int(x) for x in out.split())
        if rc != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {rc}):\n{log_path.read_text()[-2000:]}")
        import yaml

        manifest = yaml.safe_load((Path(tmp) / "manifest.yaml").read_text())
    mib = 2.0**20
    maxrss *= 1024  # KiB on Linux
    rows = [row(f"sweep peak memory, bound ({jobs} + 1) x largest process (getrusage)",
                (jobs + 1) * maxrss / mib, "MiB", "" if psutil else "< 1024"),
            row("sweep peak memory, largest single process (getrusage)", maxrss / mib, "MiB")]
    if psutil is not None:
        rows = [row("sweep peak memory, sum of RSS over its processes (psutil)", peak_rss / mib, "MiB", "< 1024"),
                row("sweep peak memory, sum of PSS over its processes (psutil)", peak_pss / mib, "MiB"),
                *rows]
        notes.append(f"memory: largest single process seen by psutil (sampled every 50 ms) {peak_one / mib:.0f} MiB")
    else:
        notes.append("memory: psutil not installed; the sum over processes is bounded by (jobs + 1) x the largest")
    return rows, wall, float(manifest["wall_seconds"]), notes


def max_loss_difference(reference: dict[str, dict], runner: dict[str, dict]) -> float:
    """Largest |train loss difference| between the reference and the runner over
    the epochs both recorded, on runs that stayed finite in both."""
    worst = 0.0
    for run_id, r in reference.items():
        s = runner.get(run_id)
        if s is None or r["status"] != "ok" or s["status"] != "ok":
            continue
        theirs = {e["epoch"]: e["train_loss"] for e in s["epochs"]}
        for e in r["epochs"]:
            if e["epoch"] in theirs:
                worst = max(worst, abs(e["train_loss"] - theirs[e["epoch"]]))
    return worst


def sweep_section(mode: Mode, jobs: int, peaks: dict) -> tuple[list[Row], list[str]]:
    rows, notes = [], []
    n_cores = cores()
    sweep = default_sweep(mode.sets)
    dtype = sweep_dtype(sweep)
    runs = sweep.runs()
    n_full = len(default_sweep([]).runs())
    what = "the whole default grid" if not mode.sets else f"default grid with --set {' '.join(mode.sets)}"
    notes.append(f"sweep: {what}: {len(runs)} runs (the full default grid has {n_full}); times are for these runs")
    flops = sum(run_train_flops(r) for r in runs)
    notes.append(f"useful FLOPs of the sweep: {flops / 1e9:.1f} GFLOP, training GEMMs only (forward, dW, and da "
                 "except the first layer's), planned epochs of every run; evaluation not counted")

    mem_jobs = mode.memory_jobs or jobs
    mem_rows, cli_wall, cli_train, mem_notes = sweep_memory(mode.sets, mem_jobs)
    rows += mem_rows
    notes += mem_notes
    rows.append(row(f"sweep {dtype} --jobs {mem_jobs}, cold `python -m experiments sweep` (start, report)",
                    cli_wall, "s"))
    notes.append(f"the cold CLI run's own wall time (manifest, without the report): {cli_train:.1f} s")

    subset = reference_subset(runs)
    per_run, ref_results = time_reference(subset)
    ref_total = per_run * len(runs)
    notes.append(f"reference: {len(subset)} of the {len(runs)} runs timed one after another (one per "
                 "activation x initializer, middle learning rate, first seed; float64, 1 BLAS thread), "
                 f"{per_run * 1e3:.0f} ms per run, times {len(runs)} runs = {ref_total:.1f} s (extrapolated)")
    rows.append(row("sweep reference float64, one run after another (extrapolated)", ref_total, "s"))

    warm_up_workers(sweep, jobs)
    # The config's dtype carries the targets; the other dtype is shown beside
    # it, and the float64 run checks the reference against the runner. The
    # --jobs 1 run comes right after the first, so both see about the same load.
    blas = 0
    for d in (dtype, "float32" if dtype == "float64" else "float64"):
        s = sweep if d == dtype else default_sweep(mode.sets, d)
        main = d == dtype
        wall, results, output_wall = timed_sweep(s, jobs, outputs=main)
        blas = max([blas] + [r.get("blas_threads", 0) for r in results.values()])
        tag = f"sweep {d} --jobs {jobs}" + ("" if main else " (other dtype)")
        rows += [
            row(f"{tag}, real runner, no report", wall, "s"),
            row(f"{tag}: speedup vs float64 reference", ref_total / wall, "x", ">= 8" if main else ""),
            row(f"{tag}: useful GFLOP/s", flops / wall / 1e9, "GFLOP/s"),
            row(f"{tag}: fraction of {n_cores}-core {d} GEMM peak",
                flops / wall / 1e9 / peaks[(d, n_cores)], "fraction", ">= 0.25" if main else ""),
        ]
        if main:
            # The full grid's target is 0.25 (at 720 runs); a slice has the
            # figure without it.
            rows += [row(f"outputs stage (tables, plots, reports), {len(runs)} runs", output_wall, "s"),
                     row(f"outputs stage / training time, {len(runs)} runs", output_wall / wall, "x",
                         "<= 0.25" if len(runs) == n_full else "")]
        if d == "float64":
            rows.append(row("reference vs runner, float64: largest |train loss difference|",
                            max_loss_difference(ref_results, results), "", "<= 1e-6"))
        if main and jobs > 1:
            wall1, results1, _ = timed_sweep(sweep, 1)
            blas = max([blas] + [r.get("blas_threads", 0) for r in results1.values()])
            rows += [
                row(f"sweep {d} --jobs 1", wall1, "s"),
                # One core each: what a busy machine's second core cannot blur.
                row(f"sweep {d} --jobs 1: speedup vs float64 reference (one core each)", ref_total / wall1, "x"),
                row(f"scaling efficiency t1 / ({jobs} t{jobs})", wall1 / (jobs * wall), "fraction", ">= 0.85"),
                row(f"control: {2 * jobs} independent NumPy tasks, t1 / ({jobs} t{jobs}), same workers",
                    parallel_control(jobs), "fraction"),
            ]
        elif main:
            rows.append(row("scaling efficiency t1 / (jobs t_jobs)", None, "fraction", ">= 0.85"))
            notes.append("scaling: skipped at --jobs 1")
    rows.append(row("BLAS threads in any sweep task (max)", float(blas), "threads", "<= 1"))
    return rows, notes


# --------------------------------------------------------------------------- scaling


def worker_counts(n_cores: int) -> list[int]:
    """1, 2, 4, ... up to the cores, and the core count itself (1, 2, 4, 6 on 6 cores)."""
    counts = [1 << i for i in range(n_cores.bit_length()) if 1 << i <= n_cores]
    return counts + ([n_cores] if counts[-1] != n_cores else [])


# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns
# off glibc's adaptive mmap threshold: every temporary array over 128 KiB is
# then mapped and unmapped, and a default-grid stack trained 1.6x slower
# (1.05-1.48 s against 0.66-0.76 s). The README tells workers to unset it.
DASK_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": None}}


def _dask_sweep_seconds(sweep: cfg.SweepConfig, n: int) -> float:
    """Wall seconds of the sweep on a fresh local Dask cluster of n one-thread worker
    processes (configured as the README says), its start and a warm-up sweep
    (imports, data) not counted."""
    import dask
    import distributed

    with dask.config.set(DASK_WORKER_CONFIG), distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        with tempfile.TemporaryDirectory(prefix="bench_dask_") as tmp:
            run_sweep(_warmup_sweep(sweep, n), f"{tmp}/warmup", backend="dask", scheduler=cluster.scheduler_address,
                      progress=False, report=False)
            t = time.perf_counter()
            run_sweep(sweep, f"{tmp}/sweep", backend="dask", scheduler=cluster.scheduler_address, progress=False,
                      report=False)
            return time.perf_counter() - t


def scaling_section(mode: Mode) -> tuple[list[Row], list[str]]:
    """The sweep slice at 1, 2, 4, ... workers with loky and (when installed) Dask:
    wall time and efficiency t1 / (n tn) against the same backend at 1 worker."""
    sweep = default_sweep(mode.sets)
    counts = worker_counts(cores())
    backends = {"loky": lambda n: timed_sweep(sweep, n)[0]}
    try:
        import distributed  # noqa: F401
    except ImportError:
        notes = ["scaling: Dask not installed (pip install -e '.[dask]'), loky only"]
    else:
        backends["dask"] = lambda n: _dask_sweep_seconds(sweep, n)
        notes = []
    rows = []
    for backend, seconds in backends.items():
        walls = {}
        for n in counts:
            if backend == "loky":
                warm_up_workers(sweep, n)
            walls[n] = seconds(n)
            rows.append(row(f"scaling {backend} {n} workers: sweep wall", walls[n], "s"))
            rows.append(row(f"scaling {backend} {n} workers: efficiency t1 / ({n} t{n})", walls[1] / (n * walls[n]),
                            "fraction"))
    notes.append(f"scaling: the sweep above ({len(sweep.runs())} runs) at {', '.join(map(str, counts))} workers, "
                 f"one BLAS thread each; efficiency against the same backend at 1 worker")
    return rows, notes


# --------------------------------------------------------------------------- profile

# What a sweep task spends its time on: the nn/ entry points train_group calls.
PROFILED = {"training epochs (nn.train_epoch)": "train_epoch",
            "test and validation accuracy (nn.accuracy)": "accuracy",
            "probe diagnostics (nn.diagnose)": "diagnose"}


def stack_profile(mode: Mode) -> tuple[list[Row], list[str]]:
    """Shares of one stack's wall time (the first stack the runner would dispatch,
    1 BLAS thread, best of 2) spent in each of :data:`PROFILED`; the rest is
    set-up and bookkeeping (weights, data casts, result rows)."""
    from experiments.runner import make_groups
    from experiments.train import train_group

    stack = make_groups(default_sweep(mode.sets).runs())[0]
    load_run_data(stack[0])
    spent = dict.fromkeys(PROFILED.values(), 0.0)
    originals = {name: getattr(nn, name) for name in spent}

    def timed(name: str) -> Callable:
        def call(*args, **kwargs):
            t = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
        return call

    best, shares = math.inf, {}
    try:
        for name in spent:  # train_group looks them up on the nn module at each call
            setattr(nn, name, timed(name))
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(2):
                spent.update(dict.fromkeys(spent, 0.0))
                t = time.perf_counter()
                train_group(stack)
                wall = time.perf_counter() - t
                if wall < best:
                    best, shares = wall, {k: v / wall for k, v in spent.items()}
    finally:
        for name, fn in originals.items():
            setattr(nn, name, fn)
    first = stack[0]
    label = f"one stack ({len(stack)} x {first.activation}, {first.epochs} epochs)"
    rows = [row(f"{label}: wall", best, "s")]
    rows += [row(f"{label}: share in {what}", shares[name], "fraction") for what, name in PROFILED.items()]
    rows.append(row(f"{label}: share in set-up and bookkeeping", 1 - sum(shares.values()), "fraction"))
    return rows, [f"profile: the runner's first stack of the sweep above, trained alone in this process "
                  f"(1 BLAS thread, best of 2); shares of its wall time"]


# --------------------------------------------------------------------------- batch 1


def batch1_section(mode: Mode) -> tuple[list[Row], list[str]]:
    """The question's network one sample per update against the bandwidth bound of its weights."""
    dtype = cfg.RunConfig.__dataclass_fields__["dtype"].default  # configs/question.yaml keeps it
    bandwidth = bw.triad_bandwidth(mode.triad_n)
    bound = bw.weight_bytes_per_step(bw.QUESTION_SIZES, dtype) / bandwidth
    label = f"question net {'-'.join(map(str, bw.QUESTION_SIZES))} b1 {dtype} (book rule)"
    rows = [row("STREAM-style triad bandwidth, 1 thread", bandwidth / 1e9, "GB/s"),
            row(f"{label}: bandwidth bound per sample", bound * 1e6, "us")]
    for K in (1, 5):
        per_sample = bw.seconds_per_sample(K, mode.batch1_samples, dtype, max(2, mode.rounds // 2))
        what = "one network" if K == 1 else f"stack of {K} (a variant's seeds), per network"
        rows += [row(f"{label}, {what}: time per sample", per_sample * 1e6, "us"),
                 row(f"{label}, {what}: time / bound", per_sample / bound, "x", "<= 2" if K == 1 else "")]
    notes = [f"batch 1: bound = weights read once and written once per step "
             f"({bw.weight_bytes_per_step(bw.QUESTION_SIZES, dtype) / 1e6:.2f} MB in {dtype}) / triad bandwidth; "
             f"triad on {mode.triad_n:,} float64 elements per array, 5 x n x 8 bytes per triad (NumPy's two passes); "
             f"{mode.batch1_samples} samples of random data, best of rounds, BLAS 1 thread"]
    return rows, notes


# --------------------------------------------------------------------------- whole command


def _timed_command(args: list[str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(args)}` failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall


def command_section(mode: Mode, jobs: int, torch) -> tuple[list[Row], list[str]]:
    """A small sweep as a user runs it, whole command, against the same runs in PyTorch."""
    sweep = default_sweep(mode.command_sets)
    n = len(sweep.runs())
    epochs = sweep.runs()[0].epochs
    sets = [a for s in mode.command_sets for a in ("--set", s)]
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bench_cmd_") as tmp:
        ours = _timed_command(["-m", "experiments", "sweep", "--out", f"{tmp}/ours", "--jobs", str(jobs),
                               "--no-progress", *sets])
        import yaml

        # Both as the command timed them: its training, and its outputs stage
        # after it (the analysis imports and plotly.js packed during training).
        manifest = yaml.safe_load((Path(tmp) / "ours" / "manifest.yaml").read_text())
        training, outputs = float(manifest["wall_seconds"]), float(manifest["outputs_seconds"])
        theirs = None
        if torch is not None:
            theirs = _timed_command(["-m", "benchmarks.torch_sweep", "--out", f"{tmp}/torch", "--jobs", str(jobs),
                                     *sets])
            notes.append(f"whole command: PyTorch {torch.__version__}, one nn.Sequential per run, SGD, test "
                         f"accuracy every epoch, joblib {jobs} workers x 1 thread (benchmarks/torch_sweep.py); "
                         f"same initial weights and sample order, largest |final test accuracy difference| "
                         f"{_torch_agreement(f'{tmp}/ours', f'{tmp}/torch'):.3g}")
    tag = f"{n} runs x {epochs} epochs --jobs {jobs}"
    rows += [
        row(f"whole command {tag}: `python -m experiments sweep`", ours, "s"),
        row(f"whole command {tag}: of which training (manifest)", training, "s"),
        row(f"outputs stage / training time, {n} runs", outputs / training, "x", "<= 0.5"),
        row(f"whole command {tag}: same runs in PyTorch", theirs, "s"),
        row(f"whole command {tag}: PyTorch / ours", theirs / ours if theirs else None, "x", ">= 3"),
    ]
    notes.append(f"whole command: training {training:.2f} s and outputs stage {outputs:.2f} s as the command "
                 "timed them (manifest.yaml)")
    return rows, notes


def _torch_agreement(ours: str, theirs: str) -> float:
    import pandas as pd

    a = pd.read_csv(Path(ours) / "epochs.csv")
    b = pd.read_csv(Path(theirs) / "torch_epochs.csv")
    last = lambda df: df.sort_values("epoch").groupby("run_id")["test_acc"].last()  # noqa: E731
    return float((last(a) - last(b)).abs().max())


# --------------------------------------------------------------------------- output


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def blas_summary() -> str:
    pools = [f"{p.get('internal_api')} {p.get('version')} ({p.get('threading_layer', '?')}, "
             f"{p.get('architecture', '?')})" for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(pools) or "unknown BLAS"


def table_text(rows: list[Row]) -> str:
    cells = [COLUMNS] + [(r.name, fmt(r.value), r.unit, r.target, r.met) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = []
    for i, c in enumerate(cells):
        lines.append("  ".join(x.ljust(w) if j != 1 else x.rjust(w) for j, (x, w) in enumerate(zip(c, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: list[Row], header: list[str], notes: list[str]) -> str:
    lines = header + ["", "| figure | value | unit | target | met |", "|---|---:|---|---|---|"]
    lines += [f"| {r.name} | {fmt(r.value)} | {r.unit} | {r.target.replace('<', '&lt;')} | {r.met} |"
              for r in rows]
    lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, rows: list[Row], header: list[str], notes: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "bench.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([r.name, "" if r.value is None else f"{r.value:.6g}", r.unit, r.target, r.met])
    (out / "README-table.md").write_text(markdown(rows, header, notes))


def run_part(label: str, part: Callable[[], tuple[list[Row], list[str]]], rows: list[Row], notes: list[str]) -> None:
    """Run one part of the bench, printing its name and duration; its rows and notes are appended."""
    print(f"{label} ...", flush=True)
    start = time.perf_counter()
    r, n = part()
    rows += r
    notes += n
    print(f"  {time.perf_counter() - start:.1f} s", flush=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes and a tiny sweep (seconds; for the tests)")
    p.add_argument("--full", action="store_true", help="the whole default grid instead of its seed-0 slice (slow)")
    p.add_argument("--jobs", type=int, default=cores(), help="sweep workers (default: all cores)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench"), help="output folder (default: results/bench)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is importable")
    p.add_argument("--scaling", action="store_true",
                   help="also time the sweep at 1, 2, 4, ... workers up to the cores, loky and Dask")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    mode = QUICK_MODE if args.quick else FULL_MODE
    if args.full:
        mode = dataclasses.replace(mode, sets=[])
    command = "python -m benchmarks.bench" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    load0 = os.getloadavg()
    started = time.perf_counter()
    header = [
        f"`{command}` on {_dt.date.today().isoformat()}: {cpu_model()}, {platform.machine()}, {cores()} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, {blas_summary()}",
    ]
    print(header[0], flush=True)
    print(f"load average at start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)

    print("peak GEMM ...", flush=True)
    section = time.perf_counter()
    peaks, rows = measure_peaks(mode)
    torch = None if args.no_torch else import_torch()
    notes = []
    if torch is None:
        print("PyTorch not installed: skipped" if not args.no_torch else "PyTorch: skipped (--no-torch)")
        notes.append("PyTorch: skipped (not installed)" if not args.no_torch else "PyTorch: skipped (--no-torch)")
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same single core as nn/ and the reference
        notes.append(f"PyTorch {torch.__version__}, 1 thread, nn.Sequential + CrossEntropyLoss + optim.SGD")
    print(f"  {time.perf_counter() - section:.1f} s\none network ...", flush=True)
    section = time.perf_counter()
    try:
        r, n = one_network(mode, peaks, torch)
    finally:
        if torch is not None:
            torch.set_num_threads(threads)
    rows += r
    notes += n
    notes.append(f"one network: hidden activation {ONE_NET_ACTIVATION}, softmax + cross-entropy, biases, "
                 f"lr {ONE_NET_LR}, random data; nn/ is a stack of K=1; BLAS pinned to 1 thread; best of "
                 f"{mode.rounds} alternating rounds; GFLOP/s by the training convention below")
    print(f"  {time.perf_counter() - section:.1f} s", flush=True)
    # The parts timed on the sweep's loky workers first: they keep them warm
    # from one timing to the next, and they are stopped before the rest.
    on_workers = [("sweep", lambda: sweep_section(mode, args.jobs, peaks))]
    if args.scaling:
        on_workers.append(("scaling", lambda: scaling_section(mode)))
    in_process = [("profile", lambda: stack_profile(mode)), ("batch 1", lambda: batch1_section(mode)),
                  ("whole command", lambda: command_section(mode, args.jobs, torch))]
    for label, part in on_workers:
        run_part(label, part, rows, notes)
    stop_loky_workers()
    for label, part in in_process:
        run_part(label, part, rows, notes)
    load1 = os.getloadavg()
    notes.append(f"load average (1, 5, 15 min): {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} at start, "
                 f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} at the end; bench took "
                 f"{time.perf_counter() - started:.0f} s")
    print()
    print(table_text(rows))
    print()
    for note in notes:
        print(f"- {note}")
    out = Path(args.out)
    write_outputs(out, rows, header, notes)
    print(f"\nwrote {out / 'bench.csv'} and {out / 'README-table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
