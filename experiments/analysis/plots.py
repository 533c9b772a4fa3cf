"""Plots of a sweep: PNG files drawn from :class:`experiments.analysis.tables.Tables`.

Every plot compares *groups*: the hidden activations of a grid, or the named
variants of a variants sweep (:func:`group_column`). Plots over epochs show
each group at its *best cell* (:func:`best_cells`): the setting of the other
axes (learning rate, initializer, ...) with the highest mean final validation
accuracy over its seeds (test accuracy when the runs have no validation
split: :func:`experiments.analysis.tables.selection`); the test accuracy is
what they show. Each group keeps one colour in every plot
(:func:`group_colors`); an activation keeps it across sweeps too.

Files written by :func:`make_plots` (names are stable; see :data:`PLOT_FILES`):

- ``accuracy_heatmap.png``: mean final test accuracy, activation x learning
  rate, one panel per initializer (and optimizer, when it varies; grids where
  activation or lr varies);
- ``accuracy_bars.png``: the same as bars with 95% CI, one per cell
  (variant sweeps, or grids where neither activation nor lr varies);
- ``learning_curves.png``: test (and validation) accuracy over epochs at each
  activation's (or variant's) best cell, one column per optimizer when it varies;
- ``dead_units.png``: dead-unit fraction over epochs, one panel per layer;
- ``gradient_flow.png``: per-layer ``|dL/dW|`` over epochs, log scale;
- ``dead_init_vs_trained.png``: dead fraction per hidden layer at
  initialization vs at the end of training.

A plot without any data (all runs failed, no epochs recorded) is not written,
and a file of its name left by an earlier build is removed, so the folder
always matches the tables.
"""
from __future__ import annotations

import functools
import gc
import itertools
import math
import multiprocessing
import os
import sys
import tempfile
import textwrap
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: never open a window, work without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties, findfont, get_font  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from matplotlib.path import Path as Outline  # noqa: E402
from matplotlib.textpath import TextPath  # noqa: E402
from matplotlib.ticker import Formatter, FuncFormatter, LogLocator  # noqa: E402
from matplotlib.transforms import Affine2D  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import nn  # noqa: E402
from experiments.analysis import outcomes  # noqa: E402
from experiments.analysis.tables import Selection, Tables, selection  # noqa: E402

DPI = 110
# File name -> what the figure shows (the report uses these as captions).
PLOT_FILES = {
    "accuracy_heatmap.png": "Mean final test accuracy per activation, learning rate and initializer",
    "accuracy_bars.png": "Mean final test accuracy per cell, with 95% confidence intervals and every seed",
    "outcomes.png": "Share of runs with each outcome per activation (or variant), split by learning rate",
    "learning_curves.png": "Test (and validation) accuracy over epochs at each activation's (or variant's) best and "
                           "worst cell",
    "dead_units.png": "Dead-unit fraction per layer over epochs at each activation's (or variant's) best and worst cell",
    "gradient_flow.png": "Per-layer gradient (and update step) norm over epochs at each activation's (or variant's) "
                         "best and worst cell (log scale)",
    "dead_init_vs_trained.png": "Dead hidden units at initialization vs after training",
}

# One colour per activation, fixed by its place in nn.ACTIVATIONS, so it is
# the same in every plot of every sweep (tab10, then black and gold).
_PALETTE = [*plt.get_cmap("tab10").colors, "#000000", "#e7ba52"]
ACTIVATION_COLORS = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(nn.ACTIVATIONS)}


# --------------------------------------------------------------------------
# Selecting runs: groups, cells, best cells (shared with experiments.analysis.report)
# --------------------------------------------------------------------------


def group_column(tables: Tables) -> str:
    """The column plots compare: ``variant`` when the sweep names variants, else ``activation``."""
    return "variant" if "variant" in tables.axes else "activation"


def group_noun(tables: Tables) -> str:
    """``"activation"`` or ``"variant"``: how captions name a group."""
    return group_column(tables)


def cell_keys(tables: Tables) -> list[str]:
    """Columns that identify a grid cell, as ``tables.summary`` groups them."""
    return list(tables.axes) or ["data"]


def group_values(tables: Tables) -> list[Any]:
    """The groups present, in a stable order (activations in nn.ACTIVATIONS order)."""
    gcol = group_column(tables)
    if tables.runs.empty or gcol not in tables.runs:
        return []
    return _order(tables.runs[gcol].dropna(), nn.ACTIVATIONS if gcol == "activation" else ())


def group_colors(tables: Tables) -> dict[Any, Any]:
    """Group value -> matplotlib colour, the same in every plot."""
    return {g: style[0] for g, style in group_styles(tables).items()}


# Line styles, in the order they are handed out once the colours run out.
LINE_STYLES = ("-", "--", ":", "-.")


def group_styles(tables: Tables) -> dict[Any, tuple[Any, str]]:
    """Group value -> (colour, line style), distinct for every group.

    Activations keep their colour of :data:`ACTIVATION_COLORS` (solid); other
    groups (variants) take the palette's colours in order, then the same
    colours again with the next line style, so no two share both.
    """
    values = group_values(tables)
    if group_column(tables) == "activation" and all(v in ACTIVATION_COLORS for v in values):
        return {v: (ACTIVATION_COLORS[v], "-") for v in values}
    return distinct_styles(values)


def distinct_styles(values: Sequence[Any]) -> dict[Any, tuple[Any, str]]:
    """Value -> (colour, line style): the palette's colours in order, then the
    same colours again with the next line style, so no two values share both."""
    n = len(_PALETTE)
    return {v: (_PALETTE[i % n], LINE_STYLES[(i // n) % len(LINE_STYLES)]) for i, v in enumerate(values)}


def summary_with_group(tables: Tables) -> pd.DataFrame:
    """``tables.summary`` with the group column present even when it does not vary."""
    summary = tables.summary
    if summary.empty or "acc_mean" not in summary:
        return pd.DataFrame()
    gcol = group_column(tables)
    if gcol not in summary:
        summary = summary.assign(**{gcol: tables.runs[gcol].iloc[0]})
    return summary


def selects(tables: Tables) -> Selection:
    """The accuracy that ranks the cells of ``tables`` (validation, else test)."""
    return selection(tables.runs)


def rank_column(tables: Tables) -> str:
    """The column of ``tables.summary`` that ranks cells: ``val_acc_mean`` or ``acc_mean``."""
    column = selects(tables).summary_column
    return column if column in tables.summary else "acc_mean"


def selection_phrase(tables: Tables) -> str:
    """How best cells were chosen, for captions and the report."""
    if selects(tables).split == "validation":
        return "selected on validation accuracy; test accuracy reported"
    return "val_fraction 0: selection is on test accuracy"


def best_cells(tables: Tables) -> dict[Any, pd.Series]:
    """Each group's best cell: group value -> its row of ``tables.summary``.

    Best means the highest :func:`rank_column` (mean final validation
    accuracy over the cell's finished seeds; test accuracy without a
    validation split). A group whose cells all failed gets its first cell,
    with NaN accuracy.
    """
    return _extreme_cells(tables, worst=False)


def worst_cells(tables: Tables) -> dict[Any, pd.Series]:
    """Each group's worst cell: the lowest :func:`rank_column` (the first in sweep order among ties)."""
    return _extreme_cells(tables, worst=True)


def _extreme_cells(tables: Tables, worst: bool) -> dict[Any, pd.Series]:
    summary = summary_with_group(tables)
    if summary.empty:
        return {}
    gcol = group_column(tables)
    ranked = summary.sort_values(rank_column(tables), ascending=worst, na_position="last", kind="stable")
    found = {row[gcol]: row for _, row in ranked.drop_duplicates(gcol, keep="first").iterrows()}
    return {g: found[g] for g in group_values(tables) if g in found}


def best_and_worst(tables: Tables) -> list[tuple[str, dict[Any, tuple[pd.Series, pd.DataFrame]]]]:
    """``[("best", {group: (cell, runs)}), ("worst", {...})]``; the worst part only
    holds groups whose worst cell is not their best, and is left out when none has one."""
    best = {g: (cell, cell_runs(tables, cell)) for g, cell in best_cells(tables).items()}
    worst = {}
    for g, cell in worst_cells(tables).items():
        if g in best and not best[g][0][cell_keys(tables)].equals(cell[cell_keys(tables)]):
            worst[g] = (cell, cell_runs(tables, cell))
    return [("best", best), ("worst", worst)] if worst else [("best", best)]


def cell_runs(tables: Tables, cell: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``tables.runs`` that belong to ``cell`` (a summary row)."""
    runs = tables.runs
    # NumPy masks, not pandas ones: the plots and the report ask for a few
    # hundred cells, and each pandas comparison costs more than its rows.
    mask = np.ones(len(runs), dtype=bool)
    for key in cell_keys(tables):
        if key in cell and key in runs:
            mask &= _same_values(runs[key].to_numpy(), cell[key])
    return runs[mask]


def _same_values(values: np.ndarray, value: Any) -> np.ndarray:
    """``values == value`` (an array of a column's values) with missing values equal to each other."""
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return pd.isna(values)
    return np.asarray(values == value, dtype=bool)


def group_runs(tables: Tables, group: Any) -> pd.DataFrame:
    """All rows of ``tables.runs`` of one group, every cell."""
    return tables.runs[_same_values(tables.runs[group_column(tables)].to_numpy(), group)]


def format_value(value: Any) -> str:
    """A config value as captions show it: ``0.001``, ``he_normal``, ``none``."""
    if isinstance(value, (float, np.floating)):
        return "none" if math.isnan(value) else f"{value:g}"
    if value is None:
        return "none"
    return str(value)


def cell_label(tables: Tables, cell: Mapping[str, Any], skip: Iterable[str] = ()) -> str:
    """``"lr=0.1, init=he_normal"``: the axes that vary within the cell's group
    (a variant fixes its own settings, so those are left out), ``skip`` too."""
    return cell_labeler(tables, skip)(cell)


def cell_labeler(tables: Tables, skip: Iterable[str] = ()) -> Callable[[Mapping[str, Any]], str]:
    """:func:`cell_label` for many cells of the same tables.

    Which axes are fixed within a group is worked out once per group, not
    once per cell (a sweep has hundreds of cells and a dozen groups).
    """
    skip = set(skip)
    gcol = group_column(tables)
    fixed: dict[Any, set[str]] = {}  # group -> axes with a single value in it

    def label(cell: Mapping[str, Any]) -> str:
        hidden = skip
        if gcol in cell and gcol in tables.runs:
            group = cell[gcol]
            key = _MISSING if pd.api.types.is_scalar(group) and pd.isna(group) else group
            if key not in fixed:
                mine = group_runs(tables, group)
                fixed[key] = {k for k in tables.axes if k in mine and mine[k].nunique(dropna=False) <= 1}
            hidden = skip | fixed[key]
        return ", ".join(f"{k}={format_value(cell[k])}" for k in tables.axes if k not in hidden and k in cell)

    return label


# Stands for a missing group value as a dict key (NaN != NaN).
_MISSING = object()


def n_layers(tables: Tables) -> int:
    """Number of weight layers (the output layer is the last)."""
    if not tables.layers.empty:
        return int(tables.layers["layer"].max())
    cols = [c for c in tables.runs if c.startswith("dead_frac_L")]
    return len(cols) or 3


def layer_name(layer: int, n: int, depths: Iterable[int] = ()) -> str:
    """``"hidden layer 1"`` ... ``"output layer"`` for layer numbers 1..n.

    ``depths``: the numbers of weight layers of the runs shown, when they
    differ (``hidden`` as an axis of different lengths): then a layer that is
    the output of some nets and hidden in others says so.
    """
    depths = sorted(set(depths)) or [n]
    if len(depths) == 1:
        return "output layer" if layer == depths[0] else f"hidden layer {layer}"
    if layer < depths[0]:
        return f"hidden layer {layer}"
    if layer in depths:
        deeper = " (hidden in the deeper ones)" if layer < depths[-1] else ""
        return f"layer {layer}: output of the {layer}-layer nets{deeper}"
    return f"layer {layer}: hidden, deeper nets only"


def run_depths(tables: Tables) -> list[int]:
    """The numbers of weight layers among the runs (``hidden`` ``"32-32"``: 3)."""
    if "hidden" not in tables.runs or tables.runs.empty:
        return []
    return sorted({str(h).count("-") + 2 for h in tables.runs["hidden"].dropna().unique()})


def layer_label(tables: Tables, layer: int) -> str:
    """:func:`layer_name` of ``layer`` for the runs of ``tables``."""
    return layer_name(layer, n_layers(tables), run_depths(tables))


def epoch_curve(
    frame: pd.DataFrame, run_ids: Iterable[str], value: str, layer: int | None = None, hold: bool = False
) -> pd.DataFrame:
    """Mean, min, max and count over runs of ``value`` per epoch.

    ``frame`` is ``tables.epochs`` or ``tables.layers`` (then ``layer`` picks
    one layer). Non-finite values are left out. With ``hold``, a run that
    stopped early (diverged) keeps its last value to the last epoch, as the
    summary counts it. Returns a frame indexed by epoch with columns
    ``mean``, ``lo``, ``hi``, ``n``; epochs without any value are dropped.
    """
    keep = frame["run_id"].isin(list(run_ids)).to_numpy(copy=True)
    if layer is not None:
        keep &= frame["layer"].to_numpy() == layer
    if not keep.any():
        return pd.DataFrame(columns=["mean", "lo", "hi", "n"], dtype=float)
    # The (epoch, run) matrix in NumPy: a figure asks for a hundred curves,
    # and a pandas pivot per curve was most of the time of drawing them.
    epochs, row = np.unique(frame["epoch"].to_numpy()[keep], return_inverse=True)
    _, col = np.unique(frame["run_id"].to_numpy()[keep], return_inverse=True)  # runs in name order, as a pivot
    wide = np.full((len(epochs), col.max() + 1), np.nan)
    wide[row, col] = frame[value].to_numpy(dtype=float)[keep]
    wide[~np.isfinite(wide)] = np.nan
    if hold:
        every = np.arange(epochs[0], epochs[-1] + 1)
        full = np.full((len(every), wide.shape[1]), np.nan)
        full[epochs - epochs[0]] = wide
        for i in range(1, len(full)):  # forward fill, epoch by epoch
            missing = np.isnan(full[i])
            full[i, missing] = full[i - 1, missing]
        epochs, wide = every, full
    missing = np.isnan(wide)
    n = wide.shape[1] - missing.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # an epoch without values is dropped below
        mean = np.where(missing, 0.0, wide).sum(axis=1) / n  # as pandas' mean: NaN as 0, then / count
    out = pd.DataFrame({"mean": mean, "lo": np.fmin.reduce(wide, axis=1), "hi": np.fmax.reduce(wide, axis=1),
                        "n": n}, index=pd.Index(epochs, name="epoch"))
    return out[out["n"] > 0]


def _band(ax: Any, x: Iterable[float], lo: Iterable[float], hi: Iterable[float], **style: Any) -> None:
    """The area between ``lo`` and ``hi`` (finite, one value per ``x``): ``ax.fill_between``'s area, drawn
    as one polygon.

    ``fill_between`` adds a collection, and matplotlib settles the view limits
    of every Axes sharing an axis before adding one: with a dozen shared
    panels of a few bands each, that was most of the time of building a figure.
    A patch only extends the data limits; the limits are settled once, at layout.
    """
    x, lo, hi = (np.asarray(v, dtype=float) for v in (x, lo, hi))
    ax.fill(np.concatenate([x, x[::-1]]), np.concatenate([lo, hi[::-1]]), lw=0, **style)


class PathLabels(PathCollection):
    """Short text labels drawn as the filled outlines of their glyphs, one
    path per label; ``texts`` holds what each label says, in order."""

    def __init__(self, texts: Sequence[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.texts = tuple(texts)


@functools.lru_cache(maxsize=None)
def _font_height(size: float) -> float:
    """Ascent plus descent of the default font at ``size`` points (the
    typographic metrics ``ax.text`` spaces lines by), in points."""
    font = get_font(findfont(FontProperties()))
    metrics = font.get_sfnt_table("OS/2")
    ascent, descent = ((metrics["sTypoAscender"], metrics["sTypoDescender"]) if metrics
                       else (font.ascender, font.descender))
    return (ascent - descent) / font.units_per_EM * size


@functools.lru_cache(maxsize=None)
def _line_outline(line: str, size: float) -> tuple[Outline, float, float]:
    """One line of text as glyph outlines in points, baseline at y = 0 and
    centred on x = 0; with its ascent and descent (points, both >= 0)."""
    path = TextPath((0, 0), line, size=size) if line.strip() else None  # TextPath fails on ""
    if path is None or not len(path.vertices):
        return Outline(np.zeros((0, 2))), 0.0, 0.0
    x, y = path.vertices[:, 0], path.vertices[:, 1]
    return path.transformed(Affine2D().translate(-(x.min() + x.max()) / 2, 0)), float(y.max()), float(-y.min())


def _label_outline(text: str, size: float, linespacing: float) -> Outline:
    """``text`` laid out as ``ax.text(..., ha="center", va="center")`` lays it
    out: lines split at newlines, each centred, ``linespacing`` times the
    font's height apart, the block centred on (0, 0); in points."""
    height = linespacing * _font_height(size)
    lines = [_line_outline(line, size) for line in text.split("\n")]
    top = len(lines) * height / 2
    parts = [path.transformed(Affine2D().translate(0, top - i * height - (height + ascent - descent) / 2))
             for i, (path, ascent, descent) in enumerate(lines) if len(path.vertices)]
    return Outline.make_compound_path(*parts) if parts else Outline(np.zeros((0, 2)))


def _cell_labels(ax: Any, labels: Sequence[tuple[float, float, str, str, float]],
                 linespacing: float = 1.2) -> PathLabels | None:
    """Labels (x, y, text, colour, font size in points) centred on the data
    points (x, y) of ``ax``, as one :class:`PathLabels` collection above the
    image; None when there are none.

    ``ax.text`` lays out and renders every label glyph by glyph at each draw:
    drawing the default sweep's heatmap (240 cells) took 0.90 s. As outlines,
    each distinct line is laid out once per process and all of them are
    filled in one call: 0.37 s, the same letters in the same places, a little
    softer (outlines are not hinted to the pixel grid). The labels lie inside
    their cells, so the layout leaves them out.
    """
    if not labels:
        return None
    to_pixels = Affine2D().scale(1 / 72) + ax.figure.dpi_scale_trans  # points -> inches -> pixels at any DPI
    collection = PathLabels(
        [text for _, _, text, _, _ in labels],
        [_label_outline(text, size, linespacing) for _, _, text, _, size in labels],
        offsets=[(x, y) for x, y, *_ in labels], offset_transform=ax.transData, transform=to_pixels,
        facecolors=[colour for *_, colour, _ in labels], edgecolors="none", linewidths=0, zorder=3,
    )
    collection.set_in_layout(False)
    ax.add_collection(collection, autolim=False)
    return collection


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(n, max_cols))
    return math.ceil(n / cols), cols


def _fraction_top(largest: float) -> float:
    """Upper y limit for a fraction: room above the largest value, at least 0.1, at most ~1."""
    if not np.isfinite(largest):
        return 1.03
    return float(min(1.03, max(0.1, 1.15 * largest)))


class _MinorLogLabels(Formatter):
    """Minor labels of a log axis: 2x and 5x over less than two decades, else none.

    The axis limits are read once per set of ticks, not once per tick: a
    shared log axis has dozens of minor ticks, formatted at every layout pass.
    """

    def format_ticks(self, values: Iterable[float]) -> list[str]:
        lo, hi = self.axis.get_view_interval()
        if lo <= 0 or hi / lo > 100:
            return ["" for _ in values]
        return [self(v) for v in values]

    def __call__(self, v: float, pos: int | None = None) -> str:
        if v <= 0:
            return ""
        mantissa = round(v / 10 ** math.floor(math.log10(v)), 6)
        return f"{v:g}" if mantissa in (2.0, 5.0) else ""


class _MinorLogTicks(LogLocator):
    """Minor ticks of a log axis where :class:`_MinorLogLabels` labels them: over
    less than two decades; none over more.

    Unlabelled minor ticks over many decades cost as much to place, lay out
    and draw as the rest of a panel's axes (every shared panel has them) and
    add little to reading it: the labelled decades stay, with their grid lines.
    """

    def tick_values(self, vmin: float, vmax: float) -> Sequence[float]:
        lo, hi = sorted((vmin, vmax))
        if lo <= 0 or hi / lo > 100:
            return []
        return super().tick_values(vmin, vmax)


def _plain_log_labels(ax: Any) -> None:
    """Label a log y axis with plain numbers (0.01, 1, 100), readable and quick
    to draw (no mathtext); over less than two decades, label 2x and 5x too."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(_MinorLogTicks(subs="auto"))
    ax.yaxis.set_minor_formatter(_MinorLogLabels())


def _order(values: Iterable[Any], known: Iterable[str]) -> list[Any]:
    """Distinct ``values``: those in ``known`` in its order, then the rest by name."""
    known = list(known)
    return sorted(set(values), key=lambda v: (known.index(v) if v in known else len(known), str(v)))


# --------------------------------------------------------------------------
# The plots: each takes the tables and returns a Figure, or None without data
# --------------------------------------------------------------------------


def _heatmap_applies(tables: Tables) -> bool:
    return "variant" not in tables.axes and bool({"activation", "lr"} & set(tables.axes))


def _outcome_counts(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Runs per outcome for each combination of ``keys``: one ``n_<outcome>`` column per outcome."""
    onehot = pd.DataFrame({col: (runs["outcome"] == name).astype(int)
                           for col, name in zip(outcomes.COUNT_COLUMNS, outcomes.NAMES)}, index=runs.index)
    return pd.concat([runs[keys], onehot], axis=1).groupby(keys, dropna=False).sum()


def _mix_lines(counts: Mapping[str, int], total: int) -> list[str]:
    """``["2/3 learned", "1/3 collapsed"]``: the outcomes present, most frequent first."""
    present = sorted(((int(counts[c]), n) for c, n in zip(outcomes.COUNT_COLUMNS, outcomes.NAMES) if counts[c]),
                     key=lambda t: -t[0])
    return [f"{k}/{total} {name}" for k, name in present]


def _worst_outcome(counts: Mapping[str, int]) -> str | None:
    """The first (worst) failure outcome of :data:`outcomes.FAILURES` present, or None."""
    return next((n for n in outcomes.FAILURES if counts.get(outcomes.count_column(n), 0)), None)


def plot_accuracy_heatmap(tables: Tables) -> Figure | None:
    """Mean final test accuracy, activation (rows) x lr (columns), one panel per init
    (and per optimizer, when it varies), each cell marked with its outcome mix."""
    if not _heatmap_applies(tables):
        return None
    runs = tables.runs
    acc = runs["test_acc"].astype(float).where(runs["status"] != "failed")
    if not np.isfinite(acc).any():
        return None
    # One panel per initializer, and per optimizer where it varies: an
    # optimizer is one more axis, shown apart rather than pooled.
    split = "optimizer" in tables.axes
    runs = runs.assign(_opt=runs["optimizer"] if split else "")
    keys = ["init", "_opt", "activation", "lr"]
    cells = runs.assign(acc=acc).groupby(keys, dropna=False).agg(acc=("acc", "mean"), n=("run_id", "size"))
    cells = cells.join(_outcome_counts(runs, keys))
    found = dict(zip(cells.index, cells.to_dict("records")))  # (init, optimizer, activation, lr) -> cell
    acts = group_values(tables)
    lrs = sorted(runs["lr"].dropna().unique())
    inits = _order(runs["init"].dropna(), nn.INITIALIZERS)
    opts = _order(runs["_opt"].dropna(), nn.OPTIMIZERS)
    # A row of panels per initializer, a column per optimizer (up to 4 of them).
    panels = [(init, opt) for init in inits for opt in opts]
    rows, cols = _grid(len(panels), len(opts) if 1 < len(opts) <= 4 else 3)
    n_lines = 1 + max(sum(1 for c in outcomes.COUNT_COLUMNS if cell[c]) for cell in found.values())
    fig, axs = plt.subplots(
        rows, cols, squeeze=False, layout="constrained",
        figsize=(cols * (1.45 * len(lrs) + 2.2) + 1.2, rows * ((0.17 + 0.13 * n_lines) * len(acts) + 1.6) + 1.2),
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="#d9d9d9")
    image = None
    for ax, (init, opt) in zip(axs.flat, panels):
        M = np.full((len(acts), len(lrs)), np.nan)
        labels = []  # (column, row, text, colour, size) of each cell
        for i, a in enumerate(acts):
            for j, lr in enumerate(lrs):
                if (init, opt, a, lr) not in found:
                    labels.append((j, i, "not run", "#555555", 8))
                    continue
                c = found[init, opt, a, lr]
                M[i, j] = c["acc"]
                mix = _mix_lines(c, int(c["n"]))
                if np.isnan(c["acc"]):
                    labels.append((j, i, "\n".join(["no accuracy", *mix]), "#555555", 7))
                    continue
                worst = _worst_outcome(c)
                if worst is not None:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5,
                                           edgecolor=outcomes.BY_NAME[worst].color))
                labels.append((j, i, "\n".join([f"{c['acc']:.2f}", *mix]), "white" if c["acc"] < 0.6 else "black", 7))
        _cell_labels(ax, labels, linespacing=1.1)
        image = ax.imshow(np.ma.masked_invalid(M), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(lrs)), [format_value(lr) for lr in lrs])
        ax.set_yticks(range(len(acts)), acts)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("hidden activation")
        ax.set_title(f"init = {init}" + (f", optimizer = {opt}" if split else ""))
    for ax in axs.flat[len(panels):]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axs, label="mean final test accuracy (fraction)", shrink=0.8)
    borders = [Patch(facecolor="none", edgecolor=outcomes.BY_NAME[n].color, lw=2.5, label=n)
               for n in outcomes.FAILURES]
    fig.legend(handles=borders, title="border: worst outcome in the cell", loc="outside lower center",
               ncols=len(borders), fontsize=9)
    others = [a for a in tables.axes if a not in ("activation", "lr", "init", "optimizer")]
    over = "seeds" + (f" and {', '.join(others)}" if others else "")
    fig.suptitle(
        f"Mean final test accuracy (over {over}), and the outcome of the cell's runs\n"
        "diverged runs count with the accuracy they had when they diverged; outcomes as defined in the README",
        fontsize=12,
    )
    return fig


def _clipped_ci(acc: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Asymmetric error bars (2, n) of ``acc ± ci`` cut at 0 and 1."""
    lo = np.clip(acc - ci, 0.0, 1.0)
    hi = np.clip(acc + ci, 0.0, 1.0)
    return np.vstack([acc - lo, hi - acc])


def plot_accuracy_bars(tables: Tables) -> Figure | None:
    """Mean final test accuracy with 95% CI (cut at 0 and 1) and every seed, one bar per cell."""
    if _heatmap_applies(tables):
        return None
    summary = summary_with_group(tables)
    if summary.empty or not np.isfinite(summary["acc_mean"].astype(float)).any():
        return None
    gcol = group_column(tables)
    colors = group_colors(tables)
    # Ordered by the accuracy that selects (validation, when measured); the bars show test accuracy.
    summary = summary.sort_values(rank_column(tables), ascending=True, na_position="first", kind="stable")
    on_val = rank_column(tables) == "val_acc_mean"
    labels = []
    label = cell_labeler(tables, skip=[gcol])
    for _, row in summary.iterrows():
        where = label(row)
        labels.append(f"{row[gcol]} ({where})" if where else str(row[gcol]))
    y = np.arange(len(summary))
    acc = summary["acc_mean"].astype(float).to_numpy()
    ci = summary["acc_ci95"].astype(float).fillna(0.0).to_numpy()
    fig, ax = plt.subplots(figsize=(10.5, 1.8 + 0.42 * len(summary)), layout="constrained")
    ax.barh(y, np.nan_to_num(acc), xerr=_clipped_ci(np.nan_to_num(acc), ci),
            color=[colors.get(g, "grey") for g in summary[gcol]], alpha=0.55, capsize=4,
            error_kw={"elinewidth": 1.2})
    for yi, (_, row) in zip(y, summary.iterrows()):
        runs = cell_runs(tables, row)
        done = runs[runs["status"] != "failed"]
        for out, part in done.groupby("outcome", sort=False):
            ax.scatter(part["test_acc"].astype(float), np.full(len(part), yi), s=22, zorder=3,
                       color=outcomes.BY_NAME[out].color, edgecolor="black", lw=0.5)
        if np.isnan(row["acc_mean"]):
            note = "all runs failed" if row["failed"] == row["n_seeds"] else "n/a"
            ax.text(0.01, yi, note, va="center", fontsize=9, color="#555555")
            continue
        # The validation accuracy that ordered the bars, beside the test accuracy they show.
        val = f" (val {row['val_acc_mean']:.3f})" if on_val and np.isfinite(row["val_acc_mean"]) else ""
        note = f"{row['acc_mean']:.3f}{val}  " + ", ".join(_mix_lines(row, int(row["n_seeds"])))
        ax.text(1.02, yi, note, va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 1.55)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.axvline(1.0, color="#999999", lw=0.8)
    ax.set_xlabel("final test accuracy (fraction); bar: mean over seeds, error bar: 95% CI cut at 0 and 1, "
                  "dots: each seed")
    ax.set_ylabel(f"{gcol} (other settings of the cell)" if any(a != gcol for a in tables.axes) else gcol)
    present = [n for n in outcomes.NAMES if (tables.runs["outcome"] == n).any() and n != "failed"]
    fig.legend(handles=[plt.Line2D([], [], ls="", marker="o", color=outcomes.BY_NAME[n].color, mec="black",
                                   label=n) for n in present],
               title="dot colour: outcome of the seed", loc="outside lower center", ncols=max(1, len(present)),
               fontsize=8)
    order = ("validation" if selects(tables).split == "validation" else "test") + " accuracy, best at the top"
    ax.set_title(f"Final test accuracy per {'variant' if tables.axes == ['variant'] else 'cell'}, every seed\n"
                 f"text: mean{' (validation mean)' if on_val else ''}, then the outcomes of the seeds\n"
                 f"ordered by mean final {order}", fontsize=11)
    return fig


# Axes the outcome table and plot split by (when a group has several values), in this order.
SPLIT_AXES = ("optimizer", "lr")


def outcome_shares(tables: Tables) -> pd.DataFrame:
    """Runs per group (and optimizer, and learning rate, where some group has
    several) and outcome: the data of ``outcomes.png`` and of the report's outcome table.

    Columns: group, optimizer, lr (NaN when not split by it), runs, then one
    ``n_<outcome>`` per outcome.
    """
    runs = tables.runs
    columns = ["group", *SPLIT_AXES, "runs", *outcomes.COUNT_COLUMNS]
    if runs.empty or "outcome" not in runs:
        return pd.DataFrame(columns=columns)
    gcol = group_column(tables)
    # A variant fixes its own settings: split by an axis only where a group has several values.
    split = [a for a in SPLIT_AXES if a in runs and bool((runs.groupby(gcol)[a].nunique() > 1).any())]
    counts = _outcome_counts(runs, [gcol, *split]).reset_index().rename(columns={gcol: "group"})
    for a in SPLIT_AXES:
        if a not in split:
            counts[a] = np.nan
    counts["runs"] = counts[list(outcomes.COUNT_COLUMNS)].sum(axis=1)
    order = {g: i for i, g in enumerate(group_values(tables))}
    known = {o: i for i, o in enumerate(nn.OPTIMIZERS)}
    rank = {"group": order, "optimizer": known}
    counts = counts.sort_values(["group", *SPLIT_AXES], key=lambda s: s.map(rank[s.name]) if s.name in rank else s,
                                kind="stable")
    return counts[columns].reset_index(drop=True)


def plot_outcomes(tables: Tables) -> Figure | None:
    """Share of runs per outcome, one stacked bar per group, one panel per learning
    rate (and one row of panels per optimizer, when it varies)."""
    table = outcome_shares(tables)
    if table.empty or (table["n_failed"] == table["runs"]).all():
        return None  # nothing ran: the report says so
    groups = group_values(tables)
    lrs = sorted(table["lr"].dropna().unique()) or [np.nan]  # NaN: not split by learning rate
    opts = list(dict.fromkeys(table["optimizer"].dropna())) or [np.nan]  # NaN: not split by optimizer
    size = (3.1 * len(lrs) + 2.6, len(opts) * (1.0 + 0.36 * len(groups)) + 0.4)
    fig, axs = plt.subplots(len(opts), len(lrs), figsize=size, sharey=True, sharex=True, squeeze=False,
                            layout="constrained")
    y = np.arange(len(groups))
    for (r, opt), (c, lr) in itertools.product(enumerate(opts), enumerate(lrs)):
        ax = axs[r, c]
        rows = _same_values(table["lr"].to_numpy(), lr) & _same_values(table["optimizer"].to_numpy(), opt)
        part = table[rows].set_index("group").reindex(groups)
        total = part["runs"].fillna(0).to_numpy(dtype=float)
        left = np.zeros(len(groups))
        # The panel's segments as one collection and their counts as one set
        # of labels: a patch per segment (336 at 720 runs) took about 0.24 s to
        # add, and a text per count is laid out and drawn glyph by glyph.
        bars, colours, labels = [], [], []
        for name, col in zip(outcomes.NAMES, outcomes.COUNT_COLUMNS):
            k = part[col].fillna(0).to_numpy(dtype=float)
            share = np.divide(k, total, out=np.zeros_like(k), where=total > 0)
            for yi, (sh, kk, x0) in enumerate(zip(share, k, left)):
                if sh > 0:  # barh's rectangle: height 0.8 around the row
                    bars.append([(x0, yi - 0.4), (x0 + sh, yi - 0.4), (x0 + sh, yi + 0.4), (x0, yi + 0.4)])
                    colours.append(outcomes.BY_NAME[name].color)
                if sh >= 0.06:
                    labels.append((x0 + sh / 2, yi, f"{int(kk)}", "black", 7))
            left += share
        labels += [(0.5, yi, "not run", "#555555", 7) for yi, t in enumerate(total) if t == 0]
        ax.add_collection(PolyCollection(bars, facecolors=colours, edgecolors="white", linewidths=0.5))
        ax.update_datalim([(0, -0.4), (0, len(groups) - 0.6)])  # every row, even one without a bar
        ax.autoscale_view()
        _cell_labels(ax, labels)
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 0.5, 1])
        title = [f"{name} = {format_value(v)}" for name, v in (("optimizer", opt), ("lr", lr)) if not pd.isna(v)]
        ax.set_title(", ".join(title) or "all runs", fontsize=10)
        if r == len(opts) - 1:
            ax.set_xlabel("share of runs")
    axs[0, 0].set_yticks(y, [str(g) for g in groups])
    axs[0, 0].invert_yaxis()
    handles = [Patch(color=outcomes.BY_NAME[n].color, label=n) for n in outcomes.NAMES]
    fig.legend(handles=handles, title="outcome", loc="outside right center", fontsize=9)
    per = [name for name, values in (("optimizer", opts), ("learning rate", lrs))
           if len(values) > 1 or not pd.isna(values[0])]
    per_lr = f", per {' and '.join(per)}" if per else ""
    title = f"How each {group_noun(tables)} fails: outcome of every run (seeds and other axes pooled){per_lr}"
    # Wrapped to the figure's width (about 11 characters an inch at this size): a one-panel
    # figure is narrower than the sentence.
    fig.suptitle(textwrap.fill(title, int(size[0] * 11)) + "\nnumbers: runs in the segment; outcomes as defined "
                 "in the README", fontsize=11)
    return fig


def _rows_of(frame: pd.DataFrame, picked: Iterable[Mapping[Any, tuple[pd.Series, pd.DataFrame]]]) -> pd.DataFrame:
    """The rows of ``frame`` (epochs or layers) that belong to the runs of ``picked``,
    so that each :func:`epoch_curve` searches a few runs, not the whole sweep."""
    ids = [run_id for part in picked for _, runs in part.values() for run_id in runs["run_id"]]
    return frame[frame["run_id"].isin(ids)]


def _legend_label(label_of: Callable[[Mapping[str, Any]], str], group: Any, cell: pd.Series,
                  runs: pd.DataFrame) -> str:
    """``"relu (lr=0.1): 3/3 learned"``; ``label_of`` from :func:`cell_labeler`."""
    label = str(group)
    where = label_of(cell)
    if where:
        label += f" ({where})"
    return label + ": " + outcomes.mix_text(runs["outcome"].value_counts().to_dict(), len(runs))


def _cells_phrase(parts: Sequence[tuple[str, Any]]) -> str:
    """``"best and worst cell"``, or ``"best cell"`` when no group has a worst one apart."""
    return "best and worst cell" if len(parts) > 1 else "best cell"


def _which_title(tables: Tables, which: str) -> str:
    """``"best cell (highest mean final validation accuracy)"``: how the cell was chosen."""
    split = selects(tables).split
    return f"{which} cell ({'highest' if which == 'best' else 'lowest'} mean final {split} accuracy)"


def optimizer_splits(tables: Tables) -> list[tuple[Any, Tables]]:
    """``[(None, tables)]``, or ``[(optimizer, its runs' tables), ...]`` when the
    optimizer varies in a grid (a variant names its own optimizer): plots over
    epochs then pick best cells per optimizer, one column each."""
    if "optimizer" not in tables.axes or group_column(tables) == "variant":
        return [(None, tables)]
    out = []
    for opt in _order(tables.runs["optimizer"].dropna(), nn.OPTIMIZERS):
        keep = lambda frame: frame[frame["optimizer"] == opt] if "optimizer" in frame else frame  # noqa: E731
        out.append((opt, replace(tables, runs=keep(tables.runs), summary=keep(tables.summary))))
    return out


# Validation accuracy beside test accuracy: the same colour, thin and dotted.
VAL_STYLE = {"lw": 1.3, "ls": (0, (1, 1.5)), "alpha": 0.9}


def _has_val(epochs: pd.DataFrame) -> bool:
    return "val_acc" in epochs and bool(np.isfinite(epochs["val_acc"].astype(float)).any())


def plot_learning_curves(tables: Tables) -> Figure | None:
    """Test accuracy over epochs (validation accuracy dotted, when measured): one
    panel for each group's best cell, one for its worst; one column per optimizer
    when it varies."""
    styles = group_styles(tables)
    splits = optimizer_splits(tables)
    parts = {opt: best_and_worst(sub) for opt, sub in splits}
    epochs = _rows_of(tables.epochs, [p for part in parts.values() for _, p in part])
    show_val = _has_val(epochs)
    label = cell_labeler(tables, skip=[group_column(tables), "optimizer"] if splits[0][0] is not None
                         else [group_column(tables)])
    whiches = [w for w in ("best", "worst") if any(w == which for part in parts.values() for which, _ in part)]
    panels = {}
    for opt, part in parts.items():
        for which, picked in part:
            curves = []
            for g, (cell, runs) in picked.items():
                c = epoch_curve(epochs, runs["run_id"], "test_acc", hold=True)
                v = epoch_curve(epochs, runs["run_id"], "val_acc", hold=True) if show_val else c.iloc[:0]
                if not c.empty:
                    curves.append((g, _legend_label(label, g, cell, runs), c, v))
            panels[which, opt] = curves
    if not any(panels.values()):
        return None
    opts = list(parts)
    wide = len(opts) > 1
    fig, axs = plt.subplots(len(whiches), len(opts), figsize=(11 if not wide else 5.2 * len(opts) + 0.6,
                                                             (4.6 if not wide else 5.6) * len(whiches) + 0.8),
                            sharex=True, sharey=True, squeeze=False, layout="constrained")
    for (r, which), (k, opt) in itertools.product(enumerate(whiches), enumerate(opts)):
        ax = axs[r, k]
        for g, text, c, v in panels.get((which, opt), []):
            color, ls = styles[g]
            ax.plot(c.index, c["mean"], color=color, ls=ls, lw=2, marker="o" if len(c) == 1 else None, label=text)
            _band(ax, c.index, c["lo"], c["hi"], color=color, alpha=0.12)
            if not v.empty:
                ax.plot(v.index, v["mean"], color=color, **VAL_STYLE)
        if k == 0:
            ax.set_ylabel("accuracy (fraction)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        at = f"optimizer = {opt}\n" if opt is not None else ""
        ax.set_title(f"{at}each {group_noun(tables)} at its {_which_title(tables, which)}", fontsize=9 if wide else 10)
        if not ax.lines:
            ax.text(0.5, 0.5, "no curves", ha="center", va="center", transform=ax.transAxes, color="#555555")
            continue
        where = ({"loc": "upper center", "bbox_to_anchor": (0.5, -0.12)} if wide
                 else {"loc": "center left", "bbox_to_anchor": (1.01, 0.5)})
        ax.legend(fontsize=7 if wide else 8, title=f"{group_noun(tables)} (cell): outcomes", title_fontsize=8, **where)
    for ax in axs[-1]:
        ax.set_xlabel("epoch (0 = at initialization)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    if show_val:
        fig.legend(handles=[plt.Line2D([], [], color="black", lw=2, label="test accuracy (mean over seeds)"),
                            plt.Line2D([], [], color="black", **VAL_STYLE,
                                       label="validation accuracy (mean over seeds)")],
                   loc="outside lower center", ncols=2, fontsize=9)
    measured = "Test and validation accuracy" if show_val else "Test accuracy"
    fig.suptitle(f"{measured} during training; {selection_phrase(tables)}\nline: mean over seeds, band: min to max "
                 "of test accuracy; diverged runs keep their last accuracy", fontsize=11)
    return fig


def _output_dead_by_construction(tables: Tables) -> bool:
    """Softmax outputs with cross-entropy always pass gradient: their dead fraction is 0 by construction."""
    return "output" in tables.runs and bool((tables.runs["output"] == "softmax").all())


def plot_dead_units(tables: Tables) -> Figure | None:
    """Dead-unit fraction over epochs: one panel per layer, one row for best cells, one for worst.

    The output layer's panel is left out when every run has a softmax output
    (never dead by construction), and the title says so.
    """
    styles = group_styles(tables)
    n = n_layers(tables)
    layers_shown = list(range(1, n if _output_dead_by_construction(tables) and n > 1 else n + 1))
    parts = best_and_worst(tables)
    layers = _rows_of(tables.layers, [p for _, p in parts])
    label = cell_labeler(tables, skip=[group_column(tables)])
    curves = {}
    for which, picked in parts:
        for g, (cell, runs) in picked.items():
            legend = _legend_label(label, g, cell, runs)
            for layer in layers_shown:
                c = epoch_curve(layers, runs["run_id"], "dead_frac", layer=layer)
                if not c.empty:
                    curves[which, g, layer] = (legend, c)
    if not curves:
        return None
    fig, axs = plt.subplots(len(parts), len(layers_shown), figsize=(4.0 * len(layers_shown) + 4.6, 3.9 * len(parts) + 1.0),
                            sharey=True, sharex=True, squeeze=False, layout="constrained")
    top = _fraction_top(max(c["hi"].max() for _, c in curves.values()))
    for r, (which, _) in enumerate(parts):
        handles = {}
        for (w, g, layer), (text, c) in curves.items():
            if w != which:
                continue
            ax = axs[r, layers_shown.index(layer)]
            color, ls = styles[g]
            (line,) = ax.plot(c.index, c["mean"], color=color, ls=ls, lw=2, marker="o" if len(c) == 1 else None)
            _band(ax, c.index, c["lo"], c["hi"], color=color, alpha=0.10)
            handles.setdefault(text, line)
        for k, layer in enumerate(layers_shown):
            ax = axs[r, k]
            # Lines that stay at 0 hide one another: name them.
            flat = [str(g) for (w, g, l), (_, c) in curves.items() if w == which and l == layer and c["hi"].max() == 0]
            xlabel = "epoch (0 = at initialization)" if r == len(parts) - 1 else ""
            if flat:  # under the panel: inside it, the text would cover lines
                xlabel = "\n".join(filter(None, [xlabel, textwrap.fill("at 0 throughout: " + ", ".join(flat), 55)]))
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_title(f"{layer_label(tables, layer)}, {which} cells", fontsize=10)
            ax.grid(alpha=0.3)
        axs[r, 0].set_ylabel("dead units (fraction of the layer)")
        axs[r, -1].legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.02, 0.5),
                          fontsize=8, title=f"{group_noun(tables)} at its {which} cell")
    axs[0, 0].set_ylim(-0.02 * top, top)  # the panels share it: set once, not once per panel
    for ax in axs[-1]:
        ax.xaxis.get_major_locator().set_params(integer=True)
    dropped = ("\nthe softmax output layer is not shown: with cross-entropy it always passes gradient"
               if len(layers_shown) < n else "")
    fig.suptitle(
        f"Dead units per layer during training, each {group_noun(tables)} at its {_cells_phrase(parts)}\n"
        f"dead: passes no gradient for any probe input; line: mean over seeds, band: min to max{dropped}",
        fontsize=11,
    )
    return fig


def applies_book_rule(runs: pd.DataFrame) -> bool:
    """Whether any of ``runs`` trains with a rule other than the exact gradient."""
    return "backprop" in runs and bool((runs["backprop"] != "exact").any())


STEP_NAME = "update step (book rule)"


def _log_floor(values: Iterable[pd.Series]) -> float:
    """Where zeros sit on a log axis: a decade below the smallest positive value shown."""
    positive = [v[v > 0].min() for v in values if (v > 0).any()]
    return float(min(positive) / 10) if positive else 1e-12


def _log_line(ax: Any, c: pd.DataFrame, floor: float, color: Any, ls: str) -> None:
    """Mean line with its min-max band on a log axis; zeros drawn as a marker at ``floor``."""
    mean = c["mean"].where(c["mean"] > 0, floor)
    ax.plot(c.index, mean, color=color, ls=ls, lw=2 if ls in ("-", ":") else 1.5,
            marker="o" if len(c) == 1 else None)
    zero = c["mean"] == 0
    if zero.any():
        ax.plot(c.index[zero], np.full(int(zero.sum()), floor), ls="", marker="v", ms=6, color=color)
    if ls == "-":
        lo = c["lo"].fillna(c["mean"]).clip(lower=floor)
        hi = c["hi"].fillna(c["mean"]).clip(lower=floor)
        _band(ax, c.index, lo, hi, color=color, alpha=0.13)


def plot_gradient_flow(tables: Tables) -> Figure | None:
    """Per-layer gradient norm over epochs on a log scale, one panel per group.

    Each group's best cell is drawn solid, its worst dotted. Under the book
    rule, the update step it applies (``grad_w_norm``) is drawn beside the
    true gradient (``true_grad_w_norm``, dashed; dash-dot for the worst cell).
    A mean of exactly 0 is drawn as a triangle on the axis floor, labelled 0.
    """
    n = n_layers(tables)
    parts = best_and_worst(tables)
    layers = _rows_of(tables.layers, [p for _, p in parts])
    book = applies_book_rule(tables.runs)
    metrics = [("true_grad_w_norm", "true gradient |dL/dW|")]
    if book:
        metrics.insert(0, ("grad_w_norm", f"{STEP_NAME} |dW| (the gradient under exact)"))
    # (which cell, metric) -> line style; no two lines of a panel share layer colour and style.
    style = {("best", metrics[0][0]): "-", ("best", metrics[-1][0]): "--" if book else "-",
             ("worst", metrics[0][0]): ":", ("worst", metrics[-1][0]): "-." if book else ":"}
    label = cell_labeler(tables, skip=[group_column(tables)])
    panels: dict[Any, dict[str, Any]] = {}
    for which, picked in parts:
        for g, (cell, runs) in picked.items():
            panel = panels.setdefault(g, {"cells": {}, "lines": []})
            panel["cells"][which] = label(cell)
            for metric, _ in metrics:
                for layer in range(1, n + 1):
                    c = epoch_curve(layers, runs["run_id"], metric, layer=layer)
                    if not c.empty:
                        panel["lines"].append((which, metric, layer, c))
    if not any(p["lines"] for p in panels.values()):
        return None
    floor = _log_floor(c["mean"] for p in panels.values() for *_, c in p["lines"])
    has_zero = any((c["mean"] == 0).any() for p in panels.values() for *_, c in p["lines"])
    layer_colors = plt.get_cmap("plasma")(np.linspace(0.0, 0.8, n))
    rows, cols = _grid(len(panels), 4)
    fig, axs = plt.subplots(rows, cols, figsize=(max(9.0, 3.9 * cols + 3.2), 3.3 * rows + 1.2), sharex=True,
                            sharey=True, squeeze=False, layout="constrained")
    for ax, (g, panel) in zip(axs.flat, panels.items()):
        for which, metric, layer, c in panel["lines"]:
            _log_line(ax, c, floor, layer_colors[layer - 1], style[which, metric])
        if not panel["lines"]:
            ax.text(0.5, 0.5, "no finite gradients", transform=ax.transAxes, ha="center", va="center")
        where = "\n".join(f"{w}: {t}" for w, t in panel["cells"].items() if t)
        ax.set_title(f"{g}\n{where}" if where else str(g), fontsize=9)
        ax.grid(alpha=0.3, which="major")
    # The panels share their y axis (its scale, ticks and labels): set once, not
    # once per panel, since each setting is applied to every panel that shares it.
    axs.flat[0].set_yscale("log")
    _plain_log_labels(axs.flat[0])
    for ax in axs.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axs.flat[: len(panels)]:
        if has_zero:
            ax.axhline(floor, color="#888888", lw=0.6, ls=(0, (1, 3)))
            ax.text(0.01, floor, "0", transform=ax.get_yaxis_transform(), ha="left", va="bottom", fontsize=8,
                    color="#555555")
    for ax in axs[-1]:
        ax.set_xlabel("epoch (0 = at initialization)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axs[:, 0]:
        ax.set_ylabel("Frobenius norm (log scale)")
    handles = [Patch(color=layer_colors[l - 1], label=layer_label(tables, l)) for l in range(1, n + 1)]
    handles += [plt.Line2D([], [], color="black", ls=style[w, m], label=f"{text}, {w} cell")
                for w, _ in parts for m, text in metrics]
    if has_zero:
        handles.append(plt.Line2D([], [], color="black", ls="", marker="v", label="0 (drawn at the floor)"))
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    what = (f"the {STEP_NAME} it applies and the true gradient" if book else "the gradient |dL/dW|")
    fig.suptitle(
        f"Per layer: {what}, during training, each {group_noun(tables)} at its {_cells_phrase(parts)} "
        "(mean over seeds)\nvanishing or exploding gradients are read from the true gradient",
        fontsize=11,
    )
    return fig


def dead_init_vs_end(tables: Tables, layers: Iterable[int] | None = None) -> pd.DataFrame:
    """Mean dead fraction per group and layer (the hidden ones unless ``layers``
    names others) at epoch 0 and at the end.

    Over all runs of the group that finished without diverging (a diverged
    network's last diagnostics are of non-finite weights). Columns: group,
    layer, init, end, runs.
    """
    if layers is None:
        n = n_layers(tables)
        layers = range(1, n) if n > 1 else range(1, n + 1)
    start = tables.layers[tables.layers["epoch"] == 0]
    rows = []
    for g in group_values(tables):
        runs = group_runs(tables, g)
        runs = runs[runs["status"] == "ok"]
        for layer in layers:
            col = f"dead_frac_L{layer}"
            at0 = start[(start["layer"] == layer) & start["run_id"].isin(runs["run_id"])]["dead_frac"]
            end = runs[col].astype(float) if col in runs else pd.Series(dtype=float)
            rows.append({"group": g, "layer": layer, "init": at0.astype(float).mean(), "end": end.mean(),
                         "runs": len(runs)})
    return pd.DataFrame(rows, columns=["group", "layer", "init", "end", "runs"])


def plot_dead_init_vs_trained(tables: Tables) -> Figure | None:
    """Grouped bars: dead fraction per hidden layer at initialization (hatched) vs at the end (solid)."""
    table = dead_init_vs_end(tables)
    if table.empty:
        return None
    has = table.groupby("group", sort=False)[["init", "end"]].apply(lambda d: d.notna().any().any())
    groups = [g for g in group_values(tables) if has.get(g, False)]
    if not groups:
        return None
    layers = sorted(table["layer"].unique())
    n = n_layers(tables)
    layer_colors = plt.get_cmap("plasma")(np.linspace(0.0, 0.8, n))
    width = 0.8 / (2 * len(layers))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.45 * len(groups) * len(layers) + 4.0), 5.0), layout="constrained")
    x = np.arange(len(groups))
    for k, layer in enumerate(layers):
        sub = table[table["layer"] == layer].set_index("group").reindex(groups)
        for j, (col, hatch, alpha) in enumerate((("init", "//", 0.45), ("end", None, 1.0))):
            pos = x - 0.4 + width * (2 * k + j + 0.5)
            ax.bar(pos, sub[col].fillna(0.0), width, color=layer_colors[layer - 1], alpha=alpha, hatch=hatch,
                   edgecolor="black", lw=0.6)
            for p, v in zip(pos, sub[col]):
                if np.isnan(v):
                    ax.text(p, 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
                elif v == 0:  # a bar of height 0 is invisible: say so
                    ax.text(p, 0.0, "0", ha="center", va="bottom", fontsize=7, color="#333333")
    labels = [str(g) for g in groups]
    # A group's slot is about 0.45 inch per layer, about 5 characters: longer
    # names (variants such as exact+softmax+he) are slanted so that they never overlap.
    slanted = max(map(len, labels)) > 5 * len(layers)
    ax.set_xticks(x, labels, rotation=30 if slanted else 0, ha="right" if slanted else "center")
    ax.set_xlabel(group_noun(tables))
    ax.set_ylabel("dead units (fraction of the layer)")
    ax.set_ylim(0, _fraction_top(np.nanmax(table[["init", "end"]].to_numpy(dtype=float))))
    ax.grid(axis="y", alpha=0.3)
    handles = []
    for layer in layers:
        c = layer_colors[layer - 1]
        handles += [Patch(facecolor=c, alpha=0.45, hatch="//", edgecolor="black", label=f"{layer_label(tables, layer)}, at init"),
                    Patch(facecolor=c, edgecolor="black", label=f"{layer_label(tables, layer)}, at the end")]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    ax.set_title(
        f"Dead hidden units at initialization (hatched) vs after training (solid)\n"
        f"mean over all runs of each {group_noun(tables)} that did not diverge, every cell",
        fontsize=11,
    )
    return fig


# File name -> function drawing it.
PLOTTERS: dict[str, Callable[[Tables], Figure | None]] = {
    "accuracy_heatmap.png": plot_accuracy_heatmap,
    "accuracy_bars.png": plot_accuracy_bars,
    "outcomes.png": plot_outcomes,
    "learning_curves.png": plot_learning_curves,
    "dead_units.png": plot_dead_units,
    "gradient_flow.png": plot_gradient_flow,
    "dead_init_vs_trained.png": plot_dead_init_vs_trained,
}
assert set(PLOTTERS) == set(PLOT_FILES)


def _layout_once(fig: Figure) -> None:
    """Run the figure's layout engine at the output DPI, then switch it off.

    ``savefig`` with a layout engine draws the whole figure twice: once with
    drawing disabled, only to run the layout, then for real. Running the
    layout here leaves one draw; the pixels are the same.
    """
    engine = fig.get_layout_engine()
    if engine is None:
        return
    fig.set_dpi(DPI)  # text sizes in pixels, as savefig will see them
    engine.execute(fig)
    # None (not "none", a placeholder engine) is what skips the extra draw;
    # the rc settings would otherwise bring an engine back.
    with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)


def _save(fig: Figure, path: Path) -> None:
    """Write ``fig`` to ``path`` through a temporary file, then close it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o644)  # mkstemp makes files private; plots are for reading
        os.close(fd)
        try:
            _layout_once(fig)
            # zlib level 1, not PIL's default 6: the same pixels, encoded in a
            # quarter less time, for files 7-20% larger.
            fig.savefig(tmp, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    finally:
        plt.close(fig)


# The order figures are handed to drawing workers: the slowest first (as
# measured on the default sweep), so that no worker is left with a long one
# at the end while the others idle. Any plot not named here comes last.
DRAW_ORDER = ("gradient_flow.png", "dead_units.png", "accuracy_heatmap.png", "learning_curves.png",
              "outcomes.png", "accuracy_bars.png", "dead_init_vs_trained.png")


def make_plots(tables: Tables, plot_dir: str | Path, jobs: int = 1) -> list[Path]:
    """Draw every plot that has data into ``plot_dir``; return the paths written.

    A plot that raises is reported as a RuntimeWarning and skipped, so one bad plot
    never costs the others or the report. ``jobs`` > 1 draws the figures in that
    many worker processes (see :func:`start_plots`); the files are the same.
    """
    return start_plots(tables, plot_dir, jobs)()


def start_plots(tables: Tables, plot_dir: str | Path, jobs: int = 1) -> Callable[[], list[Path]]:
    """Start drawing every plot into ``plot_dir``; return a function that waits for
    them and returns the paths written, in :data:`PLOTTERS` order.

    With ``jobs`` > 1 each figure is one task on a pool of that many worker
    processes (at most one per figure), and the caller can do other work (write
    the tables) until it calls the returned function. With 1, the figures are
    drawn in this process when it is called. A failing plot's warning is raised
    in this process either way.

    On Linux the workers are forked from this process: a worker starts with
    matplotlib imported and the tables in memory (elsewhere fork is unsafe or
    missing, and the platform's default start method is used). Fresh
    processes (joblib's loky, as the sweep uses) spent longer importing
    matplotlib than drawing: the 48-run outputs went from 2.2 s to 4.9 s.
    """
    plot_dir = Path(plot_dir)
    names = sorted(PLOTTERS, key=lambda n: DRAW_ORDER.index(n) if n in DRAW_ORDER else len(DRAW_ORDER))
    jobs = max(1, min(jobs, len(names)))
    if jobs == 1:
        return lambda: _collect({name: _draw_task(tables, name, plot_dir) for name in names})
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    # The objects that exist now (modules, the tables) are frozen out of the
    # cycle collector while the workers fork: a worker's collections then skip
    # the heap it inherits (gc took 0.49 s of a worker's 6.5 s at 720 runs,
    # 0.19 s frozen). Python forks every worker at the first submit; this
    # process unfreezes its own right after, so nothing here stays uncollectable.
    gc.freeze()
    try:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
        futures = {name: pool.submit(_draw_task, tables, name, plot_dir) for name in names}
    finally:
        gc.unfreeze()

    def wait() -> list[Path]:
        with pool:
            return _collect({name: future.result() for name, future in futures.items()})

    return wait


def _collect(drawn: Mapping[str, tuple[Path | None, str | None]]) -> list[Path]:
    """The paths of :func:`_draw_task` results in :data:`PLOTTERS` order; their warnings raised here."""
    paths = []
    for name in PLOTTERS:
        path, problem = drawn[name]
        if problem is not None:
            warnings.warn(problem, RuntimeWarning, stacklevel=3)
        if path is not None:
            paths.append(path)
    return paths


def _draw_task(tables: Tables, name: str, plot_dir: Path) -> tuple[Path | None, str | None]:
    """Draw plot ``name`` into ``plot_dir``: (its path, None); (None, None) when
    it has no data; (None, why) when it fails. A stale file of its name is removed
    when none is written. Plain data in and out, so it can run in a worker."""
    path = plot_dir / name
    before = set(plt.get_fignums())
    problem = None
    try:
        with threadpool_limits(1):  # BLAS one thread: the workers share the cores
            fig = PLOTTERS[name](tables)
    except Exception as exc:  # noqa: BLE001 - see make_plots
        for num in set(plt.get_fignums()) - before:
            plt.close(num)
        problem = f"plot {name} failed and was skipped: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        fig = None
    if fig is None:
        path.unlink(missing_ok=True)  # a stale file from an earlier build
        return None, problem
    _save(fig, path)
    return path, None
