"""``report.html``: the sweep as one explorable, self-contained page.

Views, all linked by the same filters (every varying config column, seed,
outcome): the accuracy heatmap (click a cell: its runs, every seed, drawn
below: accuracy and loss, dead fraction and gradient flow per layer,
pre-activation bands when the tables have them), parallel coordinates of all
runs (brushable; the brush also filters the runs table), the runs and
summary tables (sortable, filterable), and the findings of ``report.md``
(plus ``diagnosis.md``'s for an ablation). On opening, the best cell is
selected and everything is drawn.

What each view shows is computed by :mod:`experiments.analysis.dashboard_views`;
this module serializes it and ``assets/dashboard.js`` draws it with plotly.js.
"""
from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from experiments.analysis import dashboard_views as views
from experiments.analysis.page import packed_plotly, write_page
from experiments.analysis.plots import format_value, layer_name, n_layers, rank_column
from experiments.analysis.tables import Tables

FILE = "report.html"


# --------------------------------------------------------------------------
# Markdown sections of report.md / diagnosis.md
# --------------------------------------------------------------------------


def markdown_section(text: str, heading: str) -> list[str]:
    """The lines under ``## heading`` up to the next ``## `` heading (empty when absent)."""
    lines = text.splitlines()
    try:
        start = lines.index(f"## {heading}") + 1
    except ValueError:
        return []
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def bullets(lines: list[str]) -> list[str]:
    """The ``- `` items of markdown lines."""
    return [line[2:] for line in lines if line.startswith("- ")]


def markdown_table(lines: list[str]) -> dict[str, Any] | None:
    """The first ``| a | b |`` table of markdown lines as {header, rows}; None without one."""
    rows = [line for line in lines if line.startswith("|")]
    if len(rows) < 2:
        return None

    def cells(line: str) -> list[str]:
        parts = [p.strip().replace("\\|", "|") for p in line.strip().strip("|").replace("\\|", "\0").split("|")]
        return [p.replace("\0", "|") for p in parts]

    return {"header": cells(rows[0]), "rows": [cells(r) for r in rows[2:]]}


def report_sections(out_dir: Path, texts: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Findings of report.md; findings, explanation and table of diagnosis.md (None when absent).

    ``texts``: file name -> the text that stands for that file of ``out_dir``
    (the parts of a report known before it is written); other files are read.
    """
    def read(name: str) -> str:
        if texts is not None and name in texts:
            return texts[name]
        try:
            return (out_dir / name).read_text(encoding="utf-8")
        except OSError:
            return ""

    report, diagnosis = read("report.md"), read("diagnosis.md")
    out: dict[str, Any] = {"findings": bullets(markdown_section(report, "Findings")), "diagnosis": None}
    if diagnosis:
        per_variant = markdown_section(diagnosis, "Per variant")
        note = next((line for line in per_variant if line and not line.startswith("|")), "")
        out["diagnosis"] = {"findings": bullets(markdown_section(diagnosis, "Findings")), "note": note,
                            "table": markdown_table(per_variant)}
    return out


# --------------------------------------------------------------------------
# The page's data
# --------------------------------------------------------------------------


def _ordered_rows(frame: pd.DataFrame, run_pos: dict[str, int], by: list[str]) -> pd.DataFrame:
    """``frame`` (epochs or layers) with a ``run`` position column, sorted by run then ``by``."""
    frame = frame.assign(run=frame["run_id"].map(run_pos))
    frame = frame[frame["run"].notna()].astype({"run": int})
    return frame.sort_values(["run", *by], kind="stable")


def _offsets(keys: np.ndarray, n: int) -> np.ndarray:
    """Start of each key 0..n-1 in sorted ``keys``, then the end: rows of key k are [o[k], o[k+1])."""
    return np.searchsorted(keys, np.arange(n + 1)).astype(int)


def series_data(tables: Tables, panels: list[views.Panel]) -> dict[str, Any]:
    """Per-run epoch and per-(run, layer) layer rows, columnar, with offsets into them."""
    runs = tables.runs.reset_index(drop=True)
    pos = {rid: i for i, rid in enumerate(runs["run_id"])}
    n, L = len(runs), n_layers(tables)
    wanted = {"epochs": {"epoch"}, "layers": {"epoch"}}
    for p in panels:
        for s in p.series:
            wanted[s.table].add(s.column)
        if p.bands:
            wanted["layers"].update(views.BAND_COLUMNS)
    epochs = _ordered_rows(tables.epochs, pos, ["epoch"])
    layers = _ordered_rows(tables.layers, pos, ["layer", "epoch"])
    block = layers["run"].to_numpy() * L + layers["layer"].to_numpy() - 1
    return {
        "epochs": {c: epochs[c].to_numpy(dtype=float) for c in sorted(wanted["epochs"]) if c in epochs},
        "epoch_offsets": _offsets(epochs["run"].to_numpy(), n),
        "layers": {c: layers[c].to_numpy(dtype=float) for c in sorted(wanted["layers"]) if c in layers},
        "layer_offsets": _offsets(block, n * L),
    }


def _table(frame: pd.DataFrame) -> dict[str, Any]:
    return {"columns": [str(c) for c in frame.columns],
            "data": [frame[c].to_numpy() if frame[c].dtype.kind in "fiub" else
                     np.array([None if pd.isna(v) else format_value(v) if not isinstance(v, str) else v
                               for v in frame[c]], dtype=object)
                     for c in frame.columns]}


def dashboard_data(tables: Tables, out_dir: Path, title: str, texts: Mapping[str, str] | None = None
                   ) -> dict[str, Any]:
    """Everything the page draws, as plain data (see the module docstring)."""
    runs = tables.runs.reset_index(drop=True)
    heat = views.heatmap_info(tables)
    panels = views.panels(tables)
    par = views.parcoords_info(tables)
    L = n_layers(tables)
    outcome = views.outcome_column(runs)
    counts = runs[outcome].value_counts() if outcome in runs else pd.Series(dtype=int)
    return {
        "title": title,
        "counts": {str(k): int(v) for k, v in counts.items()},
        "outcome_column": outcome,
        "layer_names": [layer_name(l, L) for l in range(1, L + 1)],
        "filters": [{"column": f.column, "labels": f.labels, "codes": f.codes,
                     "summary_codes": views.value_codes(tables.summary[f.column], list(f.values))
                     if f.column in tables.summary else None} for f in views.filter_infos(tables)],
        "heatmap": {
            "row": heat.row, "rows": [format_value(v) for v in heat.rows],
            "col": heat.col, "cols": [format_value(v) for v in heat.cols],
            "facets": heat.facets,
            "facet_labels": [", ".join(f"{k}={format_value(v)}" for k, v in zip(heat.facets, fv))
                             for fv in heat.facet_values],
            "run_cell": heat.run_cell, "acc": heat.acc, "best": heat.best,
        },
        "parcoords": {
            "dimensions": [{"label": d.label, "values": d.values, "ticktext": d.ticktext} for d in par.dimensions],
            "run_index": par.run_index, "color": par.color, "left_out": par.left_out,
        },
        "panels": panels,
        "run_labels": views.run_labels(tables),
        "step_name": views.step_names(runs),
        "series": series_data(tables, panels),
        "runs": _table(runs),
        "summary": _table(tables.summary),
        "rank_column": rank_column(tables),  # the cells table opens sorted as the report ranks them
        **report_sections(out_dir, texts),
    }


BODY = """
<header>
  <h1>{title}</h1>
  <p class="sub">{subtitle}</p>
  <p id="page-error" class="error" hidden></p>
</header>
<section id="filters-section"><h2>Filters</h2>
  <p class="note">Tick the values to keep; every view below shows only the runs that pass.
  <span id="visible-count"></span> <button id="reset-filters">show all</button></p>
  <div id="filters"></div>
</section>
<section><h2>Mean final test accuracy</h2>
  <p class="note">Mean over the cell's shown runs that did not fail. Click a cell: its runs appear below.
  <label><input type="checkbox" id="pool-facets"> pool the panels (one cell = every value of <span id="facet-names"></span>)</label></p>
  <div id="heatmap" class="plot"></div>
</section>
<section id="run-panel"><h2>Runs of the selected cell</h2>
  <p id="cell-title" class="note"></p>
  <div id="panel-plots"></div>
</section>
<section><h2>All runs: parallel coordinates</h2>
  <p class="note">One line per run, coloured by final test accuracy. Drag along an axis to brush a range
  (the runs table below follows the brush); click the range again to clear it. <span id="parcoords-note"></span></p>
  <div id="parcoords" class="plot"></div>
</section>
<section id="findings-section"><h2>Findings (report.md)</h2><ul id="findings"></ul>
  <div id="diagnosis"></div>
</section>
<section><h2>Runs (runs.csv)</h2><p class="note">Click a header to sort, type to filter; click a row to show its cell above.</p>
  <div id="runs-table"></div></section>
<section><h2>Cells (summary.csv)</h2><div id="summary-table"></div></section>
<footer>Written by <code>python -m experiments report</code>; opens offline (plotly.js {plotly} and the data are inside this file).</footer>
"""


def write_dashboard(tables: Tables, out_dir: str | Path, title: str | None = None,
                    texts: Mapping[str, str] | None = None) -> Path:
    """Write ``out_dir/report.html`` (atomically) and return its path.

    Reads the findings from ``report.md`` and ``diagnosis.md`` of ``out_dir``,
    so call it after those are written, or pass their text (their findings,
    at least) in ``texts`` (file name -> text).
    """
    out_dir = Path(out_dir)
    title = title or out_dir.resolve().name
    # Runs in grid order (axes, then seed): the order the run panel lists and colours them.
    order = [c for c in [*tables.axes, "seed"] if c in tables.runs]
    runs = tables.runs.sort_values(order, kind="stable") if order and not tables.runs.empty else tables.runs
    data = dashboard_data(dataclasses.replace(tables, runs=runs.reset_index(drop=True)), out_dir, title, texts)
    n = len(tables.runs)
    axes = ", ".join(tables.axes) or "none"
    subtitle = (f"{n} runs; axes that vary (seed aside): {axes}; "
                + ", ".join(f"{v} {k}" for k, v in data["counts"].items()) + ".")
    body = BODY.format(title=html.escape(f"Sweep: {title}"), subtitle=html.escape(subtitle),
                       plotly=html.escape(packed_plotly()[0]))
    return write_page(out_dir / FILE, f"Sweep: {title}", body, data, "dashboard.js")
