"""The outputs stage (:func:`experiments.analysis.build.build_outputs`): the same
stored runs give the same files whatever the number of drawing workers, and the
CSV files read back to the numbers the reports are computed from."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from experiments import config as cfg
from experiments.analysis import plots
from experiments.analysis.build import build_outputs, load_tables
from experiments.runner import run_sweep
from experiments.store import RunStore

# A tiny slice of the default grid: two activations, so every figure has two groups.
SETS = ["activations=relu,tanh", "inits=he_normal,glorot_uniform", "lrs=0.01,0.5", "seeds=0,1", "epochs=2",
        "train_size=120", "test_size=60", "probe_size=16"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A results folder holding the slice's runs and no outputs yet."""
    sweep = cfg.parse_set(cfg.load(cfg.CONFIG_DIR / "default.yaml"), SETS)
    out = tmp_path_factory.mktemp("stored") / "runs_only"
    run_sweep(sweep, out, jobs=1, progress=False, report=False)
    return sweep, out


@pytest.fixture(scope="module")
def built(stored, tmp_path_factory):
    """jobs -> (results folder, paths build_outputs returned) for 1 and 2 drawing workers."""
    sweep, runs_only = stored
    out = {}
    for jobs in (1, 2):
        folder = tmp_path_factory.mktemp("built") / f"jobs{jobs}"
        shutil.copytree(runs_only, folder)
        out[jobs] = folder, build_outputs(folder, sweep, jobs=jobs)
    return out


def _files(folder):
    """Relative path -> bytes of every file of a results folder (the stored runs aside)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "runs" not in p.relative_to(folder).parts}


def test_outputs_do_not_depend_on_the_drawing_workers(built):
    (listed1, files1), (listed2, files2) = (
        (sorted(p.relative_to(out).as_posix() for p in paths), _files(out)) for out, paths in (built[1], built[2]))
    assert listed1 == listed2
    assert {"runs.csv", "epochs.csv", "layers.csv", "summary.csv", "report.md", "report.html",
            "plots/accuracy_heatmap.png"} <= set(files1)
    assert sorted(files1) == sorted(files2)
    different = [name for name in files1 if files1[name] != files2[name]]
    assert not different, f"files that differ between 1 and 2 drawing workers: {different}"


def test_csv_files_read_back_to_the_numbers_of_the_tables(stored, built):
    sweep, _ = stored
    out, _ = built[2]
    tables = load_tables(out, sweep)
    for name in ("runs", "epochs", "layers", "summary"):
        held = getattr(tables, name)
        read = pd.read_csv(out / f"{name}.csv")
        assert list(read.columns) == list(held.columns), name
        for col in held.select_dtypes("number").columns:
            a, b = held[col].to_numpy(dtype=float), read[col].to_numpy(dtype=float)
            assert np.array_equal(a, b, equal_nan=True), f"{name}.csv column {col} does not read back exactly"


def test_a_failing_plot_warns_and_the_others_are_drawn(stored, tmp_path, monkeypatch):
    sweep, runs_only = stored
    tables = load_tables(runs_only, sweep)

    def broken(tables):
        raise ValueError("broken on purpose")

    # Two plots are enough (and quick): the broken one and one that draws.
    monkeypatch.setattr(plots, "PLOTTERS", {"outcomes.png": broken,
                                            "dead_init_vs_trained.png": plots.plot_dead_init_vs_trained})
    (tmp_path / "outcomes.png").write_bytes(b"stale")
    with pytest.warns(RuntimeWarning, match="plot outcomes.png failed and was skipped: ValueError"):
        paths = plots.make_plots(tables, tmp_path, jobs=1)  # in this process, where the patch is
    assert "outcomes.png" not in {p.name for p in paths}
    assert not (tmp_path / "outcomes.png").exists(), "the stale file is removed"
    assert [p.name for p in paths] == [p.name for p in tmp_path.glob("*.png")] == ["dead_init_vs_trained.png"]


def test_report_with_no_workers_is_one_error(tmp_path, capsys):
    from experiments import cli

    (tmp_path / "runs").mkdir()
    assert cli.main(["report", str(tmp_path), "--jobs", "0"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == ["error: --jobs: 0 is not valid; it must be a positive number of workers"]


def test_a_sweeps_outputs_from_the_runs_it_holds_equal_a_rebuild_from_the_files(stored, tmp_path):
    """The runner hands the results it just trained to the outputs stage instead of
    reading them back; a resumed sweep (half the runs stored before) mixes both.
    Rebuilding from the files alone gives every file byte for byte."""
    sweep, runs_only = stored
    folder = tmp_path / "resumed"
    shutil.copytree(runs_only, folder)
    files = sorted((folder / "runs").glob("*.json"))
    for path in files[::2]:
        path.unlink()
    outcome = run_sweep(sweep, folder, jobs=1, progress=False)
    assert outcome.counts["skipped"] == len(files) - len(files[::2]) > 0
    from_runner = _files(folder)
    build_outputs(folder, sweep, jobs=1)
    assert _files(folder) == from_runner


def test_known_results_are_used_as_given_and_the_rest_read_in_sweep_order(stored):
    sweep, runs_only = stored
    held, _ = RunStore(runs_only).load_runs(sweep.runs())
    ids = [r.run_id for r in sweep.runs()]
    known = {run_id: {**held[run_id], "seconds": 123.0} for run_id in ids[1::3]}
    runs = load_tables(runs_only, sweep, known).runs
    assert list(runs["run_id"]) == list(load_tables(runs_only, sweep).runs["run_id"])
    assert set(runs.loc[runs["seconds"] == 123.0, "run_id"]) == set(known)
