"""The sweep end to end on tiny grids: outputs, resume, determinism, failures."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from experiments import config as cfg
from experiments.runner import make_groups, plan, run_sweep
from experiments.store import FolderLock, StoreError
from experiments.analysis.tables import TIMING_COLUMNS
from experiments.train import blas_threads, run_task

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "name": "tiny",
    "hidden": [8, 8],
    "epochs": 2,
    "train_size": 200,
    "test_size": 100,
    "probe_size": 32,
    "activations": ["relu", "sigmoid"],
    "inits": ["he_normal", "book"],
    "lrs": [0.1, 1.0],
    "seeds": [0, 1],
}


def tiny(**changes):
    return cfg.parse({**TINY, **changes})


def runs_table(out):
    return pd.read_csv(out / "runs.csv").drop(columns=list(TIMING_COLUMNS))


def test_sweep_writes_every_output(tmp_path):
    out = tmp_path / "r"
    outcome = run_sweep(tiny(), out, jobs=1, progress=False)
    assert outcome.counts["ok"] + outcome.counts["diverged"] == 16
    for name in ("runs.csv", "epochs.csv", "layers.csv", "summary.csv", "report.md", "config.yaml", "manifest.yaml"):
        assert (out / name).stat().st_size > 0, name
    assert len(list((out / "runs").glob("*.json"))) == 16
    assert list((out / "plots").glob("*.png"))
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 16
    for col in ("run_id", "activation", "init", "lr", "seed", "status", "epochs_done", "test_acc",
                "best_test_acc", "train_loss", "dead_frac_L1", "grad_w_norm_L3", "seconds"):
        assert col in runs, col
    epochs = pd.read_csv(out / "epochs.csv")
    assert set(epochs["epoch"]) == {0, 1, 2}
    layers = pd.read_csv(out / "layers.csv")
    assert set(layers["layer"]) == {1, 2, 3}
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 8 and (summary["n_seeds"] == 2).all()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_results_identical_for_one_and_two_workers(tmp_path, dtype):
    run_sweep(tiny(dtype=dtype), tmp_path / "j1", jobs=1, progress=False)
    run_sweep(tiny(dtype=dtype), tmp_path / "j2", jobs=2, progress=False)
    a, b = runs_table(tmp_path / "j1"), runs_table(tmp_path / "j2")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    ea = pd.read_csv(tmp_path / "j1" / "layers.csv")
    eb = pd.read_csv(tmp_path / "j2" / "layers.csv")
    pd.testing.assert_frame_equal(ea, eb, check_exact=True)


def test_resume_skips_done_runs_and_new_axis_value_computes_only_new_cells(tmp_path):
    out = tmp_path / "r"
    run_sweep(tiny(lrs=[0.1]), out, jobs=1, progress=False, report=False)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    again = run_sweep(tiny(lrs=[0.1]), out, jobs=1, progress=False, report=False)
    assert again.counts["skipped"] == 8 and again.counts["ok"] + again.counts["diverged"] == 0
    grown = run_sweep(tiny(lrs=[0.1, 0.5]), out, jobs=1, progress=False, report=False)
    assert grown.counts["skipped"] == 8
    assert grown.counts["ok"] + grown.counts["diverged"] == 8
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json") if p.name in mtimes} == mtimes
    forced = run_sweep(tiny(lrs=[0.1]), out, jobs=1, progress=False, force=True, report=False)
    assert forced.counts["skipped"] == 0


def test_corrupted_run_file_is_detected_and_recomputed(tmp_path):
    out = tmp_path / "r"
    sweep = tiny(activations=["relu"], inits=["he_normal"], lrs=[0.1])
    run_sweep(sweep, out, jobs=1, progress=False, report=False)
    victim = sorted((out / "runs").glob("*.json"))[0]
    good = json.loads(victim.read_text())
    victim.write_text(victim.read_text()[:100])  # truncated
    outcome = run_sweep(sweep, out, jobs=1, progress=False, report=False)
    assert victim.stem in outcome.corrupt
    assert json.loads(victim.read_text())["epochs"] == good["epochs"]
    assert (out / "corrupt" / victim.name).exists()


def test_diverging_runs_are_recorded_and_tables_still_build(tmp_path):
    out = tmp_path / "r"
    sweep = tiny(activations=["identity", "relu"], inits=["uniform"], lrs=[1000.0], epochs=3)
    outcome = run_sweep(sweep, out, jobs=1, progress=False)
    assert outcome.counts["diverged"] >= 1
    runs = pd.read_csv(out / "runs.csv")
    div = runs[runs["status"] == "diverged"]
    assert div["diverged_epoch"].notna().all()
    assert (div["epochs_done"] == div["diverged_epoch"]).all()
    assert (out / "summary.csv").exists() and (out / "report.md").exists()


def test_a_failing_run_does_not_fail_its_group(monkeypatch):
    import experiments.train as train

    runs = tiny(activations=["relu"], seeds=[0]).runs()
    real = train.train_group

    def flaky(group):
        if any(r.init == "book" and r.lr == 1.0 for r in group):
            raise FloatingPointError("boom")
        return real(group)

    monkeypatch.setattr(train, "train_group", flaky)
    results = run_task(runs)
    status = {(r["config"]["init"], r["config"]["lr"]): r["status"] for r in results}
    assert status[("book", 1.0)] == "failed"
    assert sum(s == "failed" for s in status.values()) == 1
    failed = next(r for r in results if r["status"] == "failed")
    assert "boom" in failed["error"]


def test_grouping_stacks_runs_that_share_a_data_stream():
    runs = tiny().runs()
    groups = make_groups(runs)
    assert sum(len(g) for g in groups) == len(runs)
    assert len(groups) == 2  # one per activation: inits, learning rates and seeds stack
    for g in groups:
        assert len({r.activation for r in g}) == 1 and len({r.seed for r in g}) == 2
    # A group too big for one stack splits along seeds first (one shared sample order per stack).
    small = make_groups(runs, max_stack=4)
    assert sorted(len(g) for g in small) == [4] * 4
    assert all(len({(r.activation, r.seed) for r in g}) == 1 for g in small)
    assert make_groups(list(reversed(runs))) == groups


def test_costliest_stacks_are_dispatched_first():
    """Largest first, counting maxout's pieces: its stacks (two pre-activations per
    unit) start before tanh's of the same size, and bigger stacks before smaller."""
    runs = tiny(activations=["relu", "sigmoid", "maxout", "tanh", "elu"], seeds=[0]).runs()
    runs += tiny(activations=["sigmoid"], seeds=[0], inits=["he_normal"], lrs=[0.1], epochs=1).runs()
    order = [(g[0].activation, len(g)) for g in make_groups(runs)]
    assert order[0][0] == "maxout"
    assert order[-1] == ("sigmoid", 1)
    assert order[0][1] == order[1][1] > 1  # (by run_id alone, elu would come first)


def test_blas_is_pinned_to_one_thread_inside_workers(tmp_path):
    out = tmp_path / "r"
    run_sweep(tiny(activations=["relu"], seeds=[0, 1]), out, jobs=2, progress=False)
    threads = {json.loads(p.read_text())["blas_threads"] for p in (out / "runs").glob("*.json")}
    assert threads == {1}
    with pytest.MonkeyPatch.context():
        assert blas_threads() >= 1


def test_second_sweep_on_same_folder_stops_with_clear_message(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(StoreError, match="another sweep"):
            run_sweep(tiny(), tmp_path, jobs=1, progress=False)


def test_dry_run_counts_done_runs(tmp_path):
    out = tmp_path / "r"
    run_sweep(tiny(lrs=[0.1]), out, jobs=1, progress=False)
    p = plan(tiny(), out)
    assert len(p.runs) == 16 and len(p.todo) == 8
    proc = subprocess.run(
        [sys.executable, "-m", "experiments", "sweep", "--config", "default", "--out", str(out),
         "--set", "activations=relu,sigmoid", "--dry-run"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0
    assert "120 runs" in proc.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--set", "activations=relu,bogus"], ["'bogus'", "valid choices"]),
        (["--set", "lrs=-0.1"], ["lrs", "> 0"]),
        (["--set", "colour=red"], ["unknown config key 'colour'"]),
        (["--set", "data=csv:/nonexistent/train.csv"], ["/nonexistent/train.csv"]),
        (["--config", "/nonexistent.yaml"], ["cannot read config file"]),
        (["--jobs", "0"], ["--jobs"]),
    ],
)
def test_cli_bad_input_is_one_clear_line(tmp_path, args, words):
    proc = subprocess.run(
        [sys.executable, "-m", "experiments", "sweep", "--out", str(tmp_path / "r"), "--no-progress", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for w in words:
        assert w in lines[0]


def test_ctrl_c_keeps_finished_runs_and_next_start_does_only_the_missing(tmp_path):
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "experiments", "sweep", "--config", "default", "--out", str(out),
           "--jobs", "1", "--no-progress", "--set", "activations=relu,tanh,sigmoid,elu",
           "--set", "inits=he_normal", "--set", "lrs=0.1", "--set", "seeds=0,1,2,3,4,5",
           "--set", "epochs=4", "--set", "hidden=64,64"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs_dir = out / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(runs_dir.glob("*.json"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "run the same command again" in err
    done = {p.stem for p in runs_dir.glob("*.json")}
    assert 3 <= len(done) < 24
    for p in runs_dir.glob("*.json"):
        json.loads(p.read_text())  # every stored file is whole
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(done)} skipped" in proc.stdout
    assert len(list(runs_dir.glob("*.json"))) == 24


def test_workers_stop_after_a_sweep_unless_kept(tmp_path):
    """By default a sweep's loky workers end with it; keep_workers (the benchmark's
    back-to-back timings) leaves them for the next sweep, which reuses them."""
    from joblib.externals.loky import reusable_executor

    from experiments.runner import stop_loky_workers

    def workers():
        executor = getattr(reusable_executor, "_executor", None)
        return {p.pid for p in (executor._processes.values() if executor is not None else []) if p.is_alive()}

    sweep = tiny(epochs=1)  # two stacks (one per activation): two workers
    try:
        run_sweep(sweep, tmp_path / "a", jobs=2, progress=False, report=False, keep_workers=True)
        kept = workers()
        assert len(kept) == 2
        run_sweep(sweep, tmp_path / "b", jobs=2, progress=False, report=False, keep_workers=True)
        assert workers() == kept
        run_sweep(sweep, tmp_path / "c", jobs=2, progress=False, report=False)
        assert workers() == set()
    finally:
        stop_loky_workers()


def test_the_ahead_of_time_analysis_import_swallows_its_failure(monkeypatch):
    """It runs on a thread, which would print a traceback; the import after
    training meets the same failure where the sweep reports it."""
    import importlib

    from experiments import runner

    def broken(name):
        raise ImportError(f"no {name}")

    monkeypatch.setattr(importlib, "import_module", broken)
    assert runner._import_analysis() is None
