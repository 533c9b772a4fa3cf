"""What each view of the HTML dashboard shows, computed from the tables (no drawing).

Each function returns a small frozen dataclass (the pattern of Optuna's
``_get_*_info``): the runs, values and labels a view draws. The page
(:mod:`experiments.analysis.dashboard`) serializes them and a thin script
draws them with plotly.js; the tests check these functions without a browser.

Terms:

- *filter column*: a column the page filters runs by: every config column
  that varies (whatever it is: ``activation``, ``init``, ``lr``, ``optimizer``,
  ``variant``, ...), the seed when there are several, and the outcome
  (``outcome`` when the tables have it, else ``status``).
- *heatmap cell*: a setting of every varying axis (a grid cell, as in
  ``summary.csv``); rows are the plots' group column (activation or variant),
  columns the learning rate (or the next varying axis), one panel (*facet*)
  per setting of the remaining axes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

import nn
from experiments.analysis import outcomes
from experiments.analysis.plots import best_cells, format_value, group_column, n_layers, rank_column
from experiments.analysis.tables import Tables

# Display order of outcomes: best first, the reverse of the order their rules are tried in.
OUTCOME_ORDER = tuple(reversed(outcomes.NAMES))
STATUS_ORDER = ("ok", "diverged", "failed")
# Pre-activation percentiles of layers.csv, when the tables have them:
# the outer band, the inner band and the median line of the bands view.
BAND_COLUMNS = ("z_p07", "z_p16", "z_p50", "z_p84", "z_p93")
# What the applied weight step of each backprop rule is. Under ``exact`` it is
# the true gradient (so it is not drawn twice); under ``book`` it is the
# book's update step, which is not the gradient of anything.
STEP_NAMES = {
    "exact": None,
    "book": "update step of the book's rule (not a gradient)",
}
TRUE_GRADIENT_NAME = "true gradient |dL/dW|"


def outcome_column(runs: pd.DataFrame) -> str:
    """``outcome`` when runs.csv has it, else ``status``."""
    return "outcome" if "outcome" in runs else "status"


def ordered_values(values: Sequence[Any], known: Sequence[str] = ()) -> list[Any]:
    """Distinct ``values``: those in ``known`` in its order, then numbers in
    numeric order, then the rest by text; missing values last."""
    present = pd.unique(pd.Series(list(values), dtype=object))
    missing = [v for v in present if pd.api.types.is_scalar(v) and pd.isna(v)]
    rest = [v for v in present if not (pd.api.types.is_scalar(v) and pd.isna(v))]
    first = [k for k in known if k in rest]
    others = [v for v in rest if v not in known]
    numbers = sorted(v for v in others if isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
    texts = sorted((v for v in others if v not in numbers), key=str)
    return [*first, *numbers, *texts, *missing[:1]]


def value_codes(column: pd.Series, values: list[Any]) -> np.ndarray:
    """Index of each entry of ``column`` in ``values`` (missing values match a missing value)."""
    index = {format_value(v): i for i, v in enumerate(values)}
    return np.array([index[format_value(v)] for v in column], dtype=int)


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterInfo:
    """One filter: a column, its values in display order, and each run's value index.

    ``codes`` has one entry per row of ``tables.runs`` (in its order).
    """

    column: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    codes: np.ndarray


def filter_infos(tables: Tables) -> list[FilterInfo]:
    """The filters of the page: varying axes, then seed (when several), then outcome."""
    runs = tables.runs
    if runs.empty:
        return []
    columns = [c for c in tables.axes if c in runs]
    if "seed" in runs and runs["seed"].nunique() > 1:
        columns.append("seed")
    columns.append(outcome_column(runs))
    known = {"activation": tuple(nn.ACTIVATIONS), "outcome": OUTCOME_ORDER, "status": STATUS_ORDER}
    out = []
    for col in columns:
        values = ordered_values(runs[col], known.get(col, ()))
        out.append(FilterInfo(col, tuple(values), tuple(format_value(v) for v in values), value_codes(runs[col], values)))
    return out


# --------------------------------------------------------------------------
# The heatmap
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class HeatmapInfo:
    """Mean final test accuracy per cell: rows x columns, one panel per facet.

    ``row``/``col`` name the columns on the two axes (``col`` is None when
    only one axis varies); ``facets`` the columns that tell panels apart
    (empty: one panel). ``run_cell`` is (n_runs, 3): facet, row and column
    index of each run of ``tables.runs``. ``acc`` is (n_facets, n_rows,
    n_cols): mean final test accuracy over the cell's runs that did not fail
    (the ``acc_mean`` of summary.csv), NaN where no run finished. ``best`` is
    (facet, row, col) of the cell chosen as the report chooses it: the highest
    mean final validation accuracy (test accuracy without a validation split).
    """

    row: str
    rows: tuple[Any, ...]
    col: str | None
    cols: tuple[Any, ...]
    facets: tuple[str, ...]
    facet_values: tuple[tuple[Any, ...], ...]
    run_cell: np.ndarray
    acc: np.ndarray
    best: tuple[int, int, int] | None


def free_axes(tables: Tables) -> list[str]:
    """Axes other than the group column that vary within a group.

    A variant fixes its own settings: the axes its overrides make vary are
    not free, since the variant's name already says them.
    """
    row, runs = group_column(tables), tables.runs
    if row not in runs:
        return [a for a in tables.axes if a != row]
    return [a for a in tables.axes if a != row and a in runs
            and runs.groupby(row, dropna=False, sort=False)[a].nunique(dropna=False).max() > 1]


def heatmap_axes(tables: Tables) -> tuple[str, str | None, list[str]]:
    """(row column, column column or None, facet columns) of the heatmap.

    Axes that the row fixes (a variant's own settings) are left out: they
    would only spread each variant over panels of its own.
    """
    row = group_column(tables)
    others = free_axes(tables)
    col = "lr" if "lr" in others else (others[-1] if others else None)
    return row, col, [a for a in others if a != col]


def heatmap_info(tables: Tables) -> HeatmapInfo:
    """The heatmap's cells and each run's place in it (see :class:`HeatmapInfo`)."""
    runs = tables.runs.reset_index(drop=True)
    row, col, facets = heatmap_axes(tables)
    rows = ordered_values(runs[row], nn.ACTIVATIONS if row == "activation" else ()) if row in runs else [None]
    cols = ordered_values(runs[col]) if col else [None]
    if facets:
        combos = runs[facets].astype(object).apply(lambda r: tuple(format_value(v) for v in r), axis=1)
        firsts = runs[facets].drop_duplicates()
        ordered = firsts.sort_values(facets, kind="stable") if not firsts.empty else firsts
        facet_values = [tuple(r) for r in ordered.itertuples(index=False)]
        labels = [tuple(format_value(v) for v in f) for f in facet_values]
        facet_codes = np.array([labels.index(c) for c in combos], dtype=int)
    else:
        facet_values, facet_codes = [()], np.zeros(len(runs), dtype=int)
    row_codes = value_codes(runs[row], rows) if row in runs else np.zeros(len(runs), dtype=int)
    col_codes = value_codes(runs[col], cols) if col else np.zeros(len(runs), dtype=int)
    run_cell = np.stack([facet_codes, row_codes, col_codes], axis=1) if len(runs) else np.zeros((0, 3), dtype=int)

    # A summary row is a heatmap cell (the axes the row fixes follow from it): its acc_mean.
    acc = np.full((len(facet_values), len(rows), len(cols)), np.nan)
    for _, cell in tables.summary.iterrows():
        acc[_cell_position(cell, row, rows, col, cols, facets, facet_values)] = cell["acc_mean"]

    best = None
    cells = best_cells(tables)
    if cells:
        ranks = rank_column(tables)
        top = max(cells.values(), key=lambda s: -math.inf if pd.isna(s[ranks]) else s[ranks])
        best = _cell_position(top, row, rows, col, cols, facets, facet_values)
    return HeatmapInfo(row, tuple(rows), col, tuple(cols), tuple(facets), tuple(facet_values), run_cell, acc, best)


def _cell_position(cell: pd.Series, row: str, rows: list[Any], col: str | None, cols: list[Any],
                   facets: list[str], facet_values: list[tuple[Any, ...]]) -> tuple[int, int, int]:
    """(facet, row, col) index of a summary row."""
    def index(values: list[Any], value: Any) -> int:
        return [format_value(v) for v in values].index(format_value(value))

    f = [tuple(format_value(v) for v in fv) for fv in facet_values].index(
        tuple(format_value(cell[k]) for k in facets)) if facets else 0
    r = index(rows, cell[row]) if row in cell else 0
    c = index(cols, cell[col]) if col else 0
    return f, r, c


# --------------------------------------------------------------------------
# Parallel coordinates
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One axis of the parallel coordinates: numbers, or category codes with their labels."""

    label: str
    column: str
    values: np.ndarray  # one per drawn run
    ticktext: tuple[str, ...] = ()  # categories: code i is ticktext[i]


@dataclass(frozen=True)
class ParcoordsInfo:
    """All runs as lines over the varying config keys, accuracy, dead fractions and outcome.

    ``run_index`` are the rows of ``tables.runs`` drawn (runs with a missing
    number are left out, ``left_out`` counts them); ``color`` the final test
    accuracy of each.
    """

    dimensions: tuple[Dimension, ...]
    run_index: np.ndarray
    color: np.ndarray
    left_out: int


def parcoords_info(tables: Tables) -> ParcoordsInfo:
    """The parallel-coordinates view (see :class:`ParcoordsInfo`)."""
    runs = tables.runs.reset_index(drop=True)
    n = n_layers(tables)
    numeric = [c for c in ["test_acc", *[f"dead_frac_L{l}" for l in range(1, n + 1)]] if c in runs]
    labels = {"test_acc": "final test accuracy",
              **{f"dead_frac_L{l}": "dead output" if l == n else f"dead L{l}" for l in range(1, n + 1)}}
    keep = np.ones(len(runs), dtype=bool)
    for c in numeric:
        keep &= np.isfinite(runs[c].to_numpy(dtype=float))
    index = np.flatnonzero(keep)
    dims = []
    for f in filter_infos(tables):
        if f.column == "seed":
            continue
        dims.append(Dimension(f.column, f.column, f.codes[index].astype(float), f.labels))
    outcome = dims.pop() if dims else None  # the outcome goes last, after the numbers
    for c in numeric:
        dims.append(Dimension(labels[c], c, runs[c].to_numpy(dtype=float)[index]))
    if outcome is not None:
        dims.append(outcome)
    color = runs["test_acc"].to_numpy(dtype=float)[index] if "test_acc" in runs else np.zeros(len(index))
    return ParcoordsInfo(tuple(dims), index, color, int(len(runs) - len(index)))


# --------------------------------------------------------------------------
# The run panel: what is drawn for each run of the selected cell
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One line per run: ``column`` of the epochs or layers table, named ``name``.

    ``name_column`` instead takes each run's name from a per-run column of
    the payload (an empty name: not drawn for that run).
    """

    table: str  # "epochs" or "layers"
    column: str
    name: str
    dash: str = "solid"
    name_column: str | None = None


@dataclass(frozen=True)
class Panel:
    """One figure of the run panel: over epochs, one subplot per layer when ``per_layer``."""

    key: str
    title: str
    y_title: str
    series: tuple[Series, ...]
    per_layer: bool = False
    log: bool = False
    y_range: tuple[float, float] | None = None
    bands: bool = False


PANELS = (
    Panel("accuracy", "Accuracy over epochs", "accuracy", (
        Series("epochs", "test_acc", "test"),
        Series("epochs", "train_acc", "train (running mean)", "dot"),
    ), y_range=(0.0, 1.02)),
    Panel("loss", "Training loss over epochs", "loss", (Series("epochs", "train_loss", "train loss"),)),
    Panel("dead", "Dead-unit fraction per layer", "dead fraction",
          (Series("layers", "dead_frac", "dead fraction"),), per_layer=True, y_range=(0.0, 1.02)),
    Panel("gradient", "Gradient flow per layer (log scale: a norm of 0 is not drawn)", "Frobenius norm", (
        Series("layers", "true_grad_w_norm", TRUE_GRADIENT_NAME),
        Series("layers", "grad_w_norm", "", "dash", name_column="step_name"),
    ), per_layer=True, log=True),
    Panel("bands", "Pre-activations z per layer: median, 16-84th and 7-93rd percentiles", "z",
          (Series("layers", "z_p50", "median z"),), per_layer=True, bands=True),
)


def panels(tables: Tables) -> list[Panel]:
    """The run panel's figures that the tables have data for (bands only with z percentiles)."""
    have = {"epochs": set(tables.epochs), "layers": set(tables.layers)}
    out = []
    for p in PANELS:
        if p.bands and not set(BAND_COLUMNS) <= have["layers"]:
            continue
        if any(s.column in have[s.table] for s in p.series):
            out.append(p)
    return out


def step_names(runs: pd.DataFrame) -> list[str]:
    """Per run, the name of its applied weight step (empty when it is the true gradient)."""
    rules = runs["backprop"] if "backprop" in runs else pd.Series("exact", index=runs.index)
    return [STEP_NAMES.get(r, f"applied step of rule {r!r}") or "" for r in rules]


def run_labels(tables: Tables) -> list[str]:
    """Per run, its group, the free axes and seed: ``"relu, init=he_normal, lr=0.1, seed 2"``."""
    runs = tables.runs
    gcol = group_column(tables)
    keys = [k for k in [gcol, *free_axes(tables), "seed"] if k in runs]
    named = {gcol: "{}", "seed": "seed {}"}
    columns = [[named.get(k, f"{k}={{}}").format(format_value(v)) for v in runs[k]] for k in keys]
    return [", ".join(parts) for parts in zip(*columns)] if columns else [""] * len(runs)


@dataclass(frozen=True)
class CellRuns:
    """The runs the run panel shows: rows of ``tables.runs`` and their labels."""

    cell: dict[str, Any]
    run_index: np.ndarray
    labels: tuple[str, ...]


def cell_runs_info(tables: Tables, info: HeatmapInfo, cell: tuple[int, int, int] | None) -> CellRuns:
    """The runs of one heatmap cell, every seed (what the run panel shows on a click)."""
    if cell is None:
        return CellRuns({}, np.zeros(0, dtype=int), ())
    f, r, c = cell
    hit = np.flatnonzero((info.run_cell == np.array([f, r, c])).all(axis=1))
    key = {info.row: info.rows[r]}
    if info.col:
        key[info.col] = info.cols[c]
    key.update(zip(info.facets, info.facet_values[f]))
    labels = run_labels(tables)
    return CellRuns(key, hit, tuple(labels[i] for i in hit))
