"""Stored runs of a results folder -> every table, plot and report in it."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from experiments.analysis.dashboard import write_dashboard
from experiments.analysis.diagnosis import diagnosis_body, write_diagnosis
from experiments.analysis.page import packed_plotly
from experiments.analysis.plots import start_plots
from experiments.analysis.report import report_body, write_report
from experiments.analysis.tables import Tables, build_tables
from experiments.config import SweepConfig
from experiments.store import RunStore, StoreError


def build_outputs(out_dir: str | Path, sweep: SweepConfig | None = None, jobs: int | None = None,
                  known: dict[str, dict] | None = None) -> list[Path]:
    """Tables, plots, reports and report.html from the runs of ``sweep`` stored in ``out_dir``
    (all stored runs when ``sweep`` is None); ``known``: see :func:`load_tables`.

    The figures are drawn by ``jobs`` worker processes (default: one per core)
    while this one writes the tables, works out the reports and writes
    report.html; only the reports' lists of plots wait for the figures. The
    files do not depend on ``jobs``.
    """
    out_dir = Path(out_dir)
    jobs = jobs or os.cpu_count() or 1
    # plotly.js for report.html is compressed on a thread (zlib lets go of the
    # GIL) while the runs load; joined before the figure workers are forked.
    packing = threading.Thread(target=packed_plotly, daemon=True)
    packing.start()
    try:
        tables = load_tables(out_dir, sweep, known)
    finally:
        packing.join()
    plots_drawn = start_plots(tables, out_dir / "plots", jobs)
    paths = tables.write(out_dir)
    report = report_body(tables, out_dir)
    texts = {"report.md": "\n".join(report)}  # the findings report.html shows
    diagnosis = diagnosis_body(tables, sweep) if sweep is not None else None
    if diagnosis is not None:
        texts["diagnosis.md"] = "\n".join(diagnosis[0])
    dashboard = write_dashboard(tables, out_dir, sweep.name if sweep is not None else None, texts)
    paths += plots_drawn()  # the reports link the plots that exist: wait for them
    paths.append(write_report(tables, out_dir, report))
    if diagnosis is not None:
        paths += [write_diagnosis(tables, sweep, out_dir, diagnosis), out_dir / "diagnosis.csv"]
    paths.append(dashboard)
    return paths


def load_tables(out_dir: str | Path, sweep: SweepConfig | None = None, known: dict[str, dict] | None = None) -> Tables:
    """The tables of the runs of ``sweep`` stored in ``out_dir`` (all stored runs when None);
    unreadable run files are left out with a warning. A folder without stored runs is a StoreError.

    ``known``: results by run_id that the caller holds as they were stored
    (the runner's, of the runs it just trained and wrote); only the other
    runs of ``sweep`` are read back from their files.
    """
    out_dir = Path(out_dir)
    if not (out_dir / "runs").is_dir():
        raise StoreError(f"{out_dir} holds no stored runs (no {out_dir / 'runs'} folder)")
    store = RunStore(out_dir)
    if sweep is None:
        results, bad = store.load()
    else:
        known = known or {}
        runs = sweep.runs()
        stored, bad = store.load_runs([r for r in runs if r.run_id not in known])
        results = {r.run_id: known.get(r.run_id) or stored[r.run_id]  # the sweep's order, as load_runs keeps
                   for r in runs if r.run_id in known or r.run_id in stored}
    for run_id, why in bad.items():
        print(f"warning: stored run {run_id} is {why}; left out (a sweep will recompute it)", file=sys.stderr)
    if not results:
        raise StoreError(f"{out_dir / 'runs'} holds no readable run")
    return build_tables(results.values())
