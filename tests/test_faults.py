"""Faults during a sweep: dead workers, corrupt files, a busy folder, a full
or read-only disk, diverging runs. Each ends in a finished sweep or one
clear error, and never costs a run that was already stored."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import nn
from experiments import cli
from experiments import config as cfg
from experiments.runner import MAX_ATTEMPTS, WorkerDied, execute, make_groups, run_sweep
from experiments.store import RunStore
from experiments.train import run_task

ROOT = Path(__file__).resolve().parents[1]

# 6 groups (activation x seed) of 2 runs (lr): a few tasks per worker.
SMALL = {
    "name": "faults",
    "hidden": [8, 8],
    "epochs": 2,
    "train_size": 200,
    "test_size": 100,
    "probe_size": 32,
    "activations": ["relu", "sigmoid", "tanh"],
    "inits": ["he_normal"],
    "lrs": [0.1, 0.5],
    "seeds": [0, 1],
}


def small(**changes):
    return cfg.parse({**SMALL, **changes})


def stored(out):
    """run_id -> the stored result without its timing."""
    results = {}
    for p in (out / "runs").glob("*.json"):
        r = json.loads(p.read_text())
        r.pop("seconds")
        results[p.stem] = r
    return results


# ------------------------------------------------------------- dead workers
# Tasks that kill their own worker process (SIGKILL: no clean-up, no
# exception), as the out-of-memory killer would. Module level, so loky
# workers import them by reference.


def die_in(run_id, runs):
    """Train ``runs``, except that a group holding ``run_id`` kills its worker."""
    if any(r.run_id == run_id for r in runs):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_task(runs)


def die_once_in(run_id, flag, runs):
    """As :func:`die_in`, the first time only: ``flag`` is a file that records it."""
    if any(r.run_id == run_id for r in runs):
        try:
            os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return run_task(runs)
        os.kill(os.getpid(), signal.SIGKILL)
    return run_task(runs)


def test_a_worker_that_dies_twice_fails_its_group_only(tmp_path):
    sweep = small()
    victim = sweep.runs()[3]
    group = next(g for g in make_groups(sweep.runs()) if victim in g)
    run_sweep(sweep, tmp_path / "clean", jobs=1, progress=False, report=False)

    out = tmp_path / "r"
    outcome = run_sweep(sweep, out, jobs=2, progress=False, task=partial(die_in, victim.run_id))

    assert outcome.counts["failed"] == len(group) == 4  # 2 learning rates x 2 seeds stack together
    assert outcome.counts["ok"] + outcome.counts["diverged"] == 12 - len(group)
    results, clean = stored(out), stored(tmp_path / "clean")
    assert results.keys() == clean.keys()
    for run_id, r in results.items():
        if run_id in {g.run_id for g in group}:
            assert r["status"] == "failed"
            assert "worker died" in r["error"] and "SIGKILL" in r["error"]
        else:  # every other run is stored, with the numbers of a clean sweep
            assert r == clean[run_id]
    runs = pd.read_csv(out / "runs.csv")
    assert (runs["status"] == "failed").sum() == len(group)
    assert (out / "summary.csv").exists() and (out / "report.md").exists()


def test_a_worker_killed_once_costs_nothing(tmp_path):
    sweep = small(seeds=[0])
    victim = sweep.runs()[2]
    flag = tmp_path / "killed"
    out = tmp_path / "r"
    outcome = run_sweep(sweep, out, jobs=2, progress=False, report=False,
                        task=partial(die_once_in, victim.run_id, str(flag)))
    assert flag.exists()  # the worker did die
    assert outcome.counts["failed"] == 0
    assert outcome.counts["ok"] + outcome.counts["diverged"] == 6
    assert len(list((out / "runs").glob("*.json"))) == 6


class _Store:
    def __init__(self):
        self.results = {}

    def write(self, result):
        assert result["run_id"] not in self.results, "a run was written twice"
        self.results[result["run_id"]] = result


def test_only_groups_in_flight_are_charged_and_retried_alone():
    """A map that reports a death in group 0 with group 1 in flight: group 0
    fails after two tries, group 1 (charged once) and the rest finish."""
    groups = make_groups(small().runs())
    calls = []

    def map_unordered(fn, items):
        calls.append(sorted(items))
        for i, item in items.items():
            if i == 0:
                raise WorkerDied({0, 1} & items.keys(), "killed")
            yield fn(i, item)

    store = _Store()
    execute(groups, store, map_unordered, task=lambda runs: [{"run_id": r.run_id, "status": "ok"} for r in runs])
    status = Counter(r["status"] for r in store.results.values())
    assert status == {"failed": len(groups[0]), "ok": 12 - len(groups[0])}
    assert all(store.results[r.run_id]["status"] == "failed" for r in groups[0])
    assert calls[0] == list(range(len(groups)))
    assert calls[1:3] == [[0], [1]]  # each suspect alone: 0 dies again, 1 finishes
    assert calls[3] == list(range(2, len(groups)))  # never charged, never failed
    assert len(calls) == 1 + MAX_ATTEMPTS + 1


# ------------------------------------------------------------ corrupt files


@pytest.fixture(scope="module")
def one_group(tmp_path_factory):
    """A stored sweep of one group of two runs."""
    out = tmp_path_factory.mktemp("one") / "r"
    sweep = small(activations=["relu"], seeds=[0], epochs=1)
    run_sweep(sweep, out, jobs=1, progress=False, report=False)
    return sweep, out


def _edit(path, change):
    r = json.loads(path.read_text())
    change(r)
    path.write_text(json.dumps(r))


def _other_run(path):
    """The file of the other run of the group, under this run's name."""
    other = next(p for p in path.parent.glob("*.json") if p != path)
    shutil.copy(other, path)


CORRUPTIONS = {
    "truncated": lambda p: p.write_text(p.read_text()[:100]),
    "empty": lambda p: p.write_text(""),
    "not json": lambda p: p.write_text("{this is not json"),
    "binary": lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe"),
    "a list": lambda p: p.write_text("[1, 2, 3]"),
    "missing fields": lambda p: _edit(p, lambda r: r.pop("layers")),
    "epochs a string": lambda p: _edit(p, lambda r: r.update(epochs="0,1")),
    "row without epoch": lambda p: _edit(p, lambda r: r["epochs"][0].pop("epoch")),
    "text in a row": lambda p: _edit(p, lambda r: r["layers"][1].update(dead_frac="lots")),
    "epochs_done a string": lambda p: _edit(p, lambda r: r.update(epochs_done="1")),
    "config a string": lambda p: _edit(p, lambda r: r.update(config="relu")),
    "unknown status": lambda p: _edit(p, lambda r: r.update(status="great")),
    "another run's file": _other_run,
    "run_id edited": lambda p: _edit(p, lambda r: r.update(run_id="0123456789ab")),
    "config edited": lambda p: _edit(p, lambda r: r["config"].update(lr=0.3)),
    # Valid JSON, wrong inside: each was read as data before the schema check.
    "epoch rows without test_acc": lambda p: _edit(p, lambda r: [e.pop("test_acc") for e in r["epochs"]]),
    "layer 99": lambda p: _edit(p, lambda r: r["layers"][0].update(layer=99)),
    "an epoch row twice": lambda p: _edit(p, lambda r: r["epochs"].append(dict(r["epochs"][-1]))),
    "a layer row missing": lambda p: _edit(p, lambda r: r["layers"].pop()),
    "ok without rows": lambda p: _edit(p, lambda r: r.update(status="ok", diverged_epoch=None, epochs=[], layers=[])),
    "epochs_done 10**400": lambda p: _edit(p, lambda r: r.update(epochs_done=10**400)),
    "failed with rows": lambda p: _edit(p, lambda r: r.update(status="failed", error="RuntimeError: x")),
    "NaN test_acc": lambda p: _edit(p, lambda r: r["epochs"][-1].update(test_acc=float("nan"))),
    "test_acc of 2": lambda p: _edit(p, lambda r: r["epochs"][-1].update(test_acc=2.0)),
    "a bool as a metric": lambda p: _edit(p, lambda r: r["layers"][0].update(dead_frac=True)),
    "an unknown text key in a row": lambda p: _edit(p, lambda r: r["layers"][0].update(z_note="high")),
    "negative seconds": lambda p: _edit(p, lambda r: r.update(seconds=-1.0)),
    "200,000 nested [": lambda p: p.write_text("[" * 200_000),
    "a 5,000-digit integer": lambda p: p.write_text('{"run_id": ' + "9" * 5000 + "}"),
}


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_a_corrupt_run_file_is_detected_reported_and_recomputed(one_group, tmp_path, how, capsys):
    sweep, original = one_group
    out = tmp_path / "r"
    shutil.copytree(original, out)
    victim = sorted((out / "runs").glob("*.json"))[0]
    good = json.loads(victim.read_text())
    CORRUPTIONS[how](victim)
    broken = victim.read_bytes()

    done, bad = RunStore(out).load_runs(sweep.runs())
    assert victim.stem in bad and victim.stem not in done  # never read as data

    outcome = run_sweep(sweep, out, jobs=1, progress=False, report=False)
    assert set(outcome.corrupt) == {victim.stem}
    assert outcome.counts["skipped"] == 1 and outcome.counts["ok"] + outcome.counts["diverged"] == 1
    err = capsys.readouterr().err
    assert f"stored run {victim.stem} was" in err and "recomputed" in err
    again = json.loads(victim.read_text())
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in good.items() if k != "seconds"}
    assert (out / "corrupt" / victim.name).read_bytes() == broken  # kept for inspection


def test_unknown_numeric_row_keys_pass_so_new_metrics_need_no_schema_change(one_group, tmp_path):
    sweep, original = one_group
    out = tmp_path / "r"
    shutil.copytree(original, out)
    victim = sorted((out / "runs").glob("*.json"))[0]
    _edit(victim, lambda r: [row.update(z_p50=0.5, z_max=float("inf"), n=3) for row in r["layers"]])
    done, bad = RunStore(out).load_runs(sweep.runs())
    assert not bad and victim.stem in done


def test_a_second_quarantine_keeps_the_first_copy_and_leftover_tmp_files_go(one_group, tmp_path, capsys):
    sweep, original = one_group
    out = tmp_path / "r"
    shutil.copytree(original, out)
    victim = sorted((out / "runs").glob("*.json"))[0]
    leftovers = [out / ".manifest.yaml.abc123.tmp", out / "runs" / f".{victim.name}.xyz789.tmp"]
    for i, text in enumerate(["{first", "{second"]):
        victim.write_text(text)
        if i == 0:
            for p in leftovers:
                p.write_text("half a file")
        run_sweep(sweep, out, jobs=1, progress=False, report=False)
        assert not any(p.exists() for p in leftovers)
    assert (out / "corrupt" / victim.name).read_text() == "{first"
    assert (out / "corrupt" / f"{victim.stem}.1.json").read_text() == "{second"


def test_a_fifo_under_a_run_name_is_quarantined_without_waiting(one_group, tmp_path):
    sweep, original = one_group
    out = tmp_path / "r"
    shutil.copytree(original, out)
    victim = sorted((out / "runs").glob("*.json"))[0]
    victim.unlink()
    os.mkfifo(victim)
    outcome = run_sweep(sweep, out, jobs=1, progress=False, report=False)
    assert set(outcome.corrupt) == {victim.stem} and victim.is_file()
    assert (out / "corrupt" / victim.name).is_fifo()  # the FIFO itself, set aside


# ------------------------------------------------------------ failed runs


def _as_failed(path, error="RuntimeError: its worker died in each of 2 tries"):
    _edit(path, lambda r: r.update(status="failed", error=error, epochs=[], layers=[], epochs_done=0,
                                   sizes=None, diverged_epoch=None))


@pytest.mark.parametrize("retry", [True, False])
def test_failed_runs_are_retried_unless_told_not_to(one_group, tmp_path, retry, capsys):
    sweep, original = one_group
    out = tmp_path / "r"
    shutil.copytree(original, out)
    victim = sorted((out / "runs").glob("*.json"))[0]
    _as_failed(victim)
    outcome = run_sweep(sweep, out, jobs=1, progress=False, report=False, retry_failed=retry)
    after = json.loads(victim.read_text())
    if retry:
        assert outcome.counts["retried"] == 1 and outcome.counts["skipped"] == 1
        assert after["status"] in ("ok", "diverged")
        assert "retrying 1 runs stored as failed" in capsys.readouterr().err
    else:
        assert outcome.counts["skipped"] == 2 and after["status"] == "failed"


def test_the_cli_retries_failed_runs_and_says_how_many(one_group, tmp_path, capsys):
    sweep, original = one_group
    out = tmp_path / "r"
    shutil.copytree(original, out)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(sweep.resolved()))
    _as_failed(sorted((out / "runs").glob("*.json"))[0])
    args = ["--config", str(config), "--out", str(out)]
    assert _cli(capsys, *args, "--no-retry-failed")[0] == 0
    assert cli.main(["sweep", "--jobs", "1", "--no-progress", *args]) == 0
    assert "1 of them failed before and retried, 1 skipped" in capsys.readouterr().out


def test_an_error_of_many_lines_stays_on_one_csv_line(tmp_path, monkeypatch):
    import experiments.train as train

    def broken(runs):
        raise ValueError("first line\nsecond line\r\n\tthird")

    monkeypatch.setattr(train, "train_group", broken)
    out = tmp_path / "r"
    sweep = small(activations=["relu"], seeds=[0], epochs=1)
    outcome = run_sweep(sweep, out, jobs=1, progress=False)
    assert outcome.counts["failed"] == 2
    lines = (out / "runs.csv").read_text().splitlines()
    assert len(lines) == 3  # the header and one line per run
    assert "ValueError: first line second line third" in lines[1]


# --------------------------------------------------------- two sweeps at once


def test_a_second_sweep_on_a_busy_folder_stops_and_writes_nothing(tmp_path):
    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump({**SMALL, "hidden": [64, 64], "epochs": 8, "train_size": None,
                                      "seeds": [0, 1, 2], "activations": ["relu", "tanh"]}))
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "experiments", "sweep", "--config", str(config), "--out", str(out),
           "--jobs", "1", "--no-progress"]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((out / "runs").glob("*.json")):
            time.sleep(0.05)
        assert list((out / "runs").glob("*.json")), "the first sweep stored nothing"
        lock_mtime = (out / ".sweep.lock").stat().st_mtime_ns
        others = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for c in (cmd, [sys.executable, "-m", "experiments", "report", str(out)])]
        errors = [p.communicate(timeout=120)[1] for p in others]
        assert first.poll() is None, "the first sweep ended before the others were refused"
    finally:
        _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    for proc, err in zip(others, errors):  # a second sweep, and a report
        lines = err.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, err
        assert lines[0].startswith(f"error: another sweep (pid {first.pid}) is writing to {out}")
    # The lock file is as the first sweep left it, and its sweep is whole.
    assert lock_mtime == (out / ".sweep.lock").stat().st_mtime_ns
    assert len(list((out / "runs").glob("*.json"))) == 12
    for p in (out / "runs").glob("*.json"):
        json.loads(p.read_text())
    assert not list(out.rglob("*.tmp"))


# ------------------------------------------------- a full or read-only disk


def _snapshot(out):
    return {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _cli(capsys, *args):
    code = cli.main(["sweep", "--jobs", "1", "--no-progress", *map(str, args)])
    captured = capsys.readouterr()
    lines = [l for l in captured.err.splitlines() if l.strip()]
    return code, lines


@pytest.fixture
def config_file(tmp_path):
    """A sweep of 6 runs; 2 of them (relu) are stored in tests that start from a stored sweep."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "seeds": [0], "epochs": 1}))
    return path


def store_relu_runs(config_file, out):
    run_sweep(cfg.parse_set(cfg.load(config_file), ["activations=relu"]), out, jobs=1, progress=False, report=False)


def before_runs(snapshot):
    return [p for p in snapshot if p.parent.name == "runs"]


def _fail_after(n, exc):
    """A stand-in that succeeds ``n`` times, then raises ``exc``."""
    calls = Counter()

    def fail(real, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n:
            raise exc
        return real(*args, **kwargs)

    return fail


@pytest.mark.parametrize("good_writes", [0, 3, 7])
def test_disk_full_is_one_error_and_stored_runs_stay_intact(tmp_path, config_file, capsys, monkeypatch, good_writes):
    """The first sweep stores 2 runs; the second (4 more) hits a full disk
    after ``good_writes`` writes: at config.yaml, between runs, at the tables."""
    out = tmp_path / "r"
    store_relu_runs(config_file, out)
    before = _snapshot(out)

    real_fsync = os.fsync
    fail = _fail_after(good_writes, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    monkeypatch.setattr(os, "fsync", lambda fd: fail(real_fsync, fd))
    code, lines = _cli(capsys, "--config", config_file, "--out", out)
    monkeypatch.undo()

    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: cannot write ") and "the disk is full" in lines[0]
    after = _snapshot(out)
    assert not [p for p in after if p.name.endswith(".tmp")]
    assert len(before_runs(before)) == 2
    for path in before_runs(before):
        assert after[path] == before[path]  # every stored run intact
    for path in after:
        if path.suffix == ".json":
            json.loads(after[path])  # and every stored file whole
    # Space freed, the same sweep does only the missing runs.
    again = run_sweep(cfg.load(config_file), out, jobs=1, progress=False, report=False)
    assert again.counts["skipped"] == len(before_runs(after))
    assert len(list((out / "runs").glob("*.json"))) == 6


def test_disk_full_while_a_plot_is_written_is_one_error(tmp_path, config_file, capsys, monkeypatch):
    from matplotlib.figure import Figure

    def full(self, fname, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fname))

    monkeypatch.setattr(Figure, "savefig", full)
    out = tmp_path / "r"
    code, lines = _cli(capsys, "--config", config_file, "--out", out)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "No space left on device" in lines[0]
    assert len(list((out / "runs").glob("*.json"))) == 6
    assert (out / "runs.csv").exists() and not list(out.rglob("*.tmp"))


def test_results_folder_under_a_file_is_one_error_and_nothing_is_written(tmp_path, config_file, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, lines = _cli(capsys, "--config", config_file, "--out", blocker / "r")
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: cannot create results folder") and "Not a directory" in lines[0]
    assert blocker.read_text() == "not a folder"


def test_folder_that_turns_read_only_is_one_error_and_stored_runs_stay(tmp_path, config_file, capsys, monkeypatch):
    """Tests run as root, which chmod does not stop: the write itself is refused."""
    import tempfile

    out = tmp_path / "r"
    store_relu_runs(config_file, out)
    before = _snapshot(out)
    real_mkstemp = tempfile.mkstemp
    fail = _fail_after(1, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: fail(real_mkstemp, *a, **k))
    code, lines = _cli(capsys, "--config", config_file, "--out", out)
    monkeypatch.undo()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: cannot write in ") and "Permission denied" in lines[0]
    after = _snapshot(out)
    assert all(after[p] == data for p, data in before.items() if p.parent.name == "runs")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the test above refuses the write instead")
def test_read_only_results_folder_is_one_error(tmp_path, config_file, capsys):
    out = tmp_path / "r"
    store_relu_runs(config_file, out)
    before = _snapshot(out)
    for p in (out, out / "runs"):
        p.chmod(0o555)
    try:
        code, lines = _cli(capsys, "--config", config_file, "--out", out)
    finally:
        for p in (out, out / "runs"):
            p.chmod(0o755)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert _snapshot(out) == before


# ----------------------------------------------------------- diverging runs

# Network with this initializer gets a NaN weight at this epoch (0: at
# initialization, 3: the last one); "uniform" never does.
POISON = {"book": 0, "lecun_normal": 1, "glorot_uniform": 2, "he_normal": 3}


def test_a_run_diverging_at_any_epoch_is_recorded_for_every_activation(tmp_path, monkeypatch):
    real_init, real_epoch = nn.init_params, nn.train_epoch
    group = {}

    def init_params(arch, inits, *args, **kwargs):
        params = real_init(arch, inits, *args, **kwargs)
        group.update(inits=list(inits), epoch=0)
        poison(params, 0)
        return params

    def train_epoch(arch, params, *args, **kwargs):
        out = real_epoch(arch, params, *args, **kwargs)
        group["epoch"] += 1
        poison(params, group["epoch"])
        return out

    def poison(params, epoch):
        for k, init in enumerate(group["inits"]):
            if POISON.get(init) == epoch:
                params.W[1][k, 0, 0] = np.inf if epoch % 2 else np.nan

    monkeypatch.setattr(nn, "init_params", init_params)
    monkeypatch.setattr(nn, "train_epoch", train_epoch)
    sweep = small(activations=list(nn.ACTIVATIONS), inits=[*POISON, "uniform"], lrs=[0.1], seeds=[0],
                  epochs=3, train_size=100, test_size=50, probe_size=16)
    out = tmp_path / "r"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_sweep(sweep, out, jobs=1, progress=False)  # jobs=1: in this process, where the patches are
    assert not [w for w in caught if "skipped" in str(w.message)]  # every plot was drawn

    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 5 * len(nn.ACTIVATIONS)
    for _, row in runs.iterrows():
        epoch = POISON.get(row["init"])
        where = f"{row['activation']}/{row['init']}"
        if epoch is None:
            assert row["status"] == "ok" and row["epochs_done"] == 3, where
        else:
            assert row["status"] == "diverged" and row["diverged_epoch"] == epoch == row["epochs_done"], where
    epochs = pd.read_csv(out / "epochs.csv")
    assert (epochs.groupby("run_id")["epoch"].max() == runs.set_index("run_id")["epochs_done"]).all()
    summary = pd.read_csv(out / "summary.csv")
    assert (summary.groupby("activation")["diverged"].sum() == len(POISON)).all()
    assert set(summary["activation"]) == set(nn.ACTIVATIONS)
    assert (out / "report.md").stat().st_size > 0 and list((out / "plots").glob("*.png"))


# ------------------------------------------------------- what a run trains on


def _write_csv(path, n_pixels, labels=range(10), rows=60, header=None):
    rng = np.random.default_rng(n_pixels)
    lines = [header] if header else []
    labels = list(labels)
    lines += [",".join(map(str, [labels[i % len(labels)], *rng.integers(0, 256, n_pixels)])) for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def test_a_data_file_replaced_under_the_same_path_is_trained_on_again(tmp_path):
    data = tmp_path / "d.csv"
    raw = {"name": "csv", "data": f"csv:{data}", "hidden": [4], "epochs": 1, "probe_size": 8, "seeds": [0, 1]}
    out = tmp_path / "r"
    _write_csv(data, 16)
    run_sweep(cfg.parse(raw), out, jobs=1, progress=False, report=False)
    _write_csv(data, 20)  # same path, new contents
    outcome = run_sweep(cfg.parse(raw), out, jobs=1, progress=False)
    assert outcome.counts["skipped"] == 0 and outcome.counts["ok"] + outcome.counts["diverged"] == 2
    runs = pd.read_csv(out / "runs.csv")
    fingerprint = cfg.parse(raw).fingerprints()[f"csv:{data}"]
    assert list(runs["data_fingerprint"]) == [fingerprint] * 2
    for run_id in runs["run_id"]:
        assert json.loads((out / "runs" / f"{run_id}.json").read_text())["sizes"][0] == 20
    manifest = yaml.safe_load((out / "manifest.yaml").read_text())
    assert manifest["data_fingerprints"] == {f"csv:{data}": fingerprint}
    # report rebuilds from the fingerprints the sweep pinned, without the data
    data.unlink()
    assert cli.main(["report", str(out)]) == 0
    assert len(pd.read_csv(out / "runs.csv")) == 2


@pytest.mark.parametrize("labels, header, words", [
    ([3], None, "one class only (label 3)"),
    (range(10), "5a,pixels", "is read as a header and skipped"),
])
def test_suspect_data_is_named_before_the_sweep(tmp_path, capsys, labels, header, words):
    data = tmp_path / "d.csv"
    _write_csv(data, 8, labels=labels, header=header)
    raw = {"name": "s", "data": f"csv:{data}", "hidden": [4], "epochs": 1, "probe_size": 8}
    run_sweep(cfg.parse(raw), tmp_path / "r", jobs=1, progress=False, report=False)
    err = capsys.readouterr().err
    assert "warning: " in err and words in err, err


# ------------------------------------------------ sweeps that share a folder


def test_a_set_override_gets_its_own_folder_and_the_manifest_keeps_every_invocation(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "mini.yaml"
    config.write_text(yaml.safe_dump({**SMALL, "name": "mini", "activations": ["relu"], "seeds": [0], "epochs": 1}))
    base = ["sweep", "--jobs", "1", "--no-progress", "--config", str(config)]
    assert cli.main(base) == 0
    first = _snapshot(tmp_path / "results" / "mini")
    capsys.readouterr()

    assert cli.main([*base, "--set", "epochs=2"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [line for line in err if line.startswith("note: ")] and len(err) == 1
    assert "results/mini-epochs=2" in err[0]
    assert _snapshot(tmp_path / "results" / "mini") == first  # the unchanged sweep's folder is untouched
    assert len(list((tmp_path / "results" / "mini-epochs=2" / "runs").glob("*.json"))) == 2
    assert cli.main([*base, "--set", "epochs=1"]) == 0  # the same config: its own folder
    assert cli.main([*base, "--set", "epochs=2", "--set", "name=chosen"]) == 0
    assert (tmp_path / "results" / "chosen" / "runs").is_dir()

    manifest = yaml.safe_load((tmp_path / "results" / "mini" / "manifest.yaml").read_text())
    assert [h["runs"].get("ok", 0) + h["runs"].get("diverged", 0) for h in manifest["history"]] == [2, 0]
    assert manifest["history"][0]["command"].startswith("sweep") and manifest["history"][0]["command"].endswith("mini.yaml")  # what computed the numbers survives
    assert manifest["runs"]["skipped"] == 2  # the latest invocation at the top
    # Each invocation's outputs stage is timed into its own record, not a record of its own.
    assert all(h["outputs_seconds"] > 0 for h in manifest["history"])
    assert manifest["outputs_seconds"] == manifest["history"][-1]["outputs_seconds"]


@pytest.mark.parametrize("sets", [["epochs=2"], ["data=csv:/a b/x.csv"], ["activations=relu,tanh", "lrs=0.5"]])
def test_derived_folder_names_are_safe_and_distinct(sets):
    base = cfg.parse({"name": "mini"})
    name = cli.own_name(base, sets)
    assert cfg.check_name(name) == name and name.startswith("mini-")
    assert name != cli.own_name(base, [*sets, "seeds=9"])


# ----------------------------------------------------------------- signals


def test_sigterm_is_handled_as_ctrl_c_and_no_worker_outlives_the_sweep(tmp_path):
    psutil = pytest.importorskip("psutil")
    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump({**SMALL, "hidden": [64, 64], "epochs": 8, "train_size": None,
                                      "seeds": [0, 1, 2], "activations": ["relu", "tanh"]}))
    out = tmp_path / "r"
    sweep = subprocess.Popen([sys.executable, "-m", "experiments", "sweep", "--config", str(config), "--out", str(out),
                              "--jobs", "2", "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((out / "runs").glob("*.json")):
            time.sleep(0.05)
        children = psutil.Process(sweep.pid).children(recursive=True)
        assert children, "the sweep started no worker"
        sweep.send_signal(signal.SIGTERM)
        _, err = sweep.communicate(timeout=120)
    finally:
        sweep.kill()
    assert sweep.returncode == 143 and "Traceback" not in err, err
    assert "terminated (SIGTERM): every finished run is stored" in err
    _, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, f"{len(alive)} processes outlived the sweep: {[p.cmdline() for p in alive]}"
    for p in (out / "runs").glob("*.json"):
        json.loads(p.read_text())
