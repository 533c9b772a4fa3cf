"""Stored runs of a results folder -> every table, plot and report in it."""
from __future__ import annotations

import sys
from pathlib import Path

from experiments.analysis.diagnosis import write_diagnosis
from experiments.analysis.plots import make_plots
from experiments.analysis.report import write_report
from experiments.analysis.tables import Tables, build_tables
from experiments.config import SweepConfig
from experiments.store import RunStore


def build_outputs(out_dir: str | Path, sweep: SweepConfig | None = None) -> list[Path]:
    """Tables, plots and report from the runs of ``sweep`` stored in ``out_dir``
    (all stored runs when ``sweep`` is None)."""
    out_dir = Path(out_dir)
    tables = load_tables(out_dir, sweep)
    paths = tables.write(out_dir)
    paths += make_plots(tables, out_dir / "plots")
    paths.append(write_report(tables, out_dir))
    if sweep is not None and sweep.variants:
        diagnosis = write_diagnosis(tables, sweep, out_dir)
        if diagnosis is not None:
            paths += [diagnosis, out_dir / "diagnosis.csv"]
    return paths


def load_tables(out_dir: str | Path, sweep: SweepConfig | None = None) -> Tables:
    """The tables of the runs of ``sweep`` stored in ``out_dir`` (all stored runs when None);
    unreadable run files are left out with a warning."""
    store = RunStore(Path(out_dir))
    results, bad = store.load() if sweep is None else store.load_runs(sweep.runs())
    for run_id, why in bad.items():
        print(f"warning: stored run {run_id} is {why}; left out (a sweep will recompute it)", file=sys.stderr)
    return build_tables(results.values())
