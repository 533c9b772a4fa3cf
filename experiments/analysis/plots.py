"""Plots of a sweep: PNG files drawn from :class:`experiments.analysis.tables.Tables`.

Every plot compares *groups*: the hidden activations of a grid, or the named
variants of a variants sweep (:func:`group_column`). Plots over epochs show
each group at its *best cell* (:func:`best_cells`): the setting of the other
axes (learning rate, initializer, ...) with the highest mean final test
accuracy over its seeds. Each group keeps one colour in every plot
(:func:`group_colors`); an activation keeps it across sweeps too.

Files written by :func:`make_plots` (names are stable; see :data:`PLOT_FILES`):

- ``accuracy_heatmap.png``: mean final test accuracy, activation x learning
  rate, one panel per initializer (grids where activation or lr varies);
- ``accuracy_bars.png``: the same as bars with 95% CI, one per cell
  (variant sweeps, or grids where neither activation nor lr varies);
- ``learning_curves.png``: test accuracy over epochs at each activation's (or variant's) best cell;
- ``dead_units.png``: dead-unit fraction over epochs, one panel per layer;
- ``gradient_flow.png``: per-layer ``|dL/dW|`` over epochs, log scale;
- ``dead_init_vs_trained.png``: dead fraction per hidden layer at
  initialization vs at the end of training.

A plot without any data (all runs failed, no epochs recorded) is not written,
and a file of its name left by an earlier build is removed, so the folder
always matches the tables.
"""
from __future__ import annotations

import math
import os
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import matplotlib

matplotlib.use("Agg")  # files only: never open a window, work without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from matplotlib.ticker import Formatter, FuncFormatter  # noqa: E402

import nn  # noqa: E402
from experiments.analysis.tables import Tables  # noqa: E402

DPI = 110
# File name -> what the figure shows (the report uses these as captions).
PLOT_FILES = {
    "accuracy_heatmap.png": "Mean final test accuracy per activation, learning rate and initializer",
    "accuracy_bars.png": "Mean final test accuracy per cell, with 95% confidence intervals",
    "learning_curves.png": "Test accuracy over epochs at each activation's (or variant's) best cell",
    "dead_units.png": "Dead-unit fraction per layer over epochs at each activation's (or variant's) best cell",
    "gradient_flow.png": "Per-layer gradient norm over epochs at each activation's (or variant's) best cell (log scale)",
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
    values = group_values(tables)
    if group_column(tables) == "activation":
        extra = iter(_PALETTE)
        return {v: ACTIVATION_COLORS.get(v) or next(extra) for v in values}
    return {v: _PALETTE[i % len(_PALETTE)] for i, v in enumerate(values)}


def summary_with_group(tables: Tables) -> pd.DataFrame:
    """``tables.summary`` with the group column present even when it does not vary."""
    summary = tables.summary
    if summary.empty or "acc_mean" not in summary:
        return pd.DataFrame()
    gcol = group_column(tables)
    if gcol not in summary:
        summary = summary.assign(**{gcol: tables.runs[gcol].iloc[0]})
    return summary


def best_cells(tables: Tables) -> dict[Any, pd.Series]:
    """Each group's best cell: group value -> its row of ``tables.summary``.

    Best means the highest ``acc_mean`` (mean final test accuracy over the
    cell's finished seeds). A group whose cells all failed gets its first
    cell, with NaN accuracy.
    """
    summary = summary_with_group(tables)
    if summary.empty:
        return {}
    gcol = group_column(tables)
    ranked = summary.sort_values("acc_mean", ascending=False, na_position="last", kind="stable")
    best = {row[gcol]: row for _, row in ranked.drop_duplicates(gcol, keep="first").iterrows()}
    return {g: best[g] for g in group_values(tables) if g in best}


def _same(column: pd.Series, value: Any) -> pd.Series:
    """``column == value`` with missing values equal to each other."""
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return column.isna()
    return column == value


def cell_runs(tables: Tables, cell: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``tables.runs`` that belong to ``cell`` (a summary row)."""
    runs = tables.runs
    mask = pd.Series(True, index=runs.index)
    for key in cell_keys(tables):
        if key in cell and key in runs:
            mask &= _same(runs[key], cell[key])
    return runs[mask]


def group_runs(tables: Tables, group: Any) -> pd.DataFrame:
    """All rows of ``tables.runs`` of one group, every cell."""
    return tables.runs[_same(tables.runs[group_column(tables)], group)]


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


def layer_name(layer: int, n: int) -> str:
    """``"hidden layer 1"`` ... ``"output layer"`` for layer numbers 1..n."""
    return "output layer" if layer == n else f"hidden layer {layer}"


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
    sub = frame[frame["run_id"].isin(list(run_ids))]
    if layer is not None:
        sub = sub[sub["layer"] == layer]
    if sub.empty:
        return pd.DataFrame(columns=["mean", "lo", "hi", "n"], dtype=float)
    wide = sub.pivot(index="epoch", columns="run_id", values=value).astype(float)
    wide = wide.replace([np.inf, -np.inf], np.nan).sort_index()
    if hold:
        wide = wide.reindex(range(int(wide.index.min()), int(wide.index.max()) + 1)).ffill()
    out = pd.DataFrame(
        {"mean": wide.mean(axis=1), "lo": wide.min(axis=1), "hi": wide.max(axis=1), "n": wide.count(axis=1)}
    )
    return out[out["n"] > 0]


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


def _plain_log_labels(ax: Any) -> None:
    """Label a log y axis with plain numbers (0.01, 1, 100), readable and quick
    to draw (no mathtext); over less than two decades, label 2x and 5x too."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
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


def plot_accuracy_heatmap(tables: Tables) -> Figure | None:
    """Mean final test accuracy, activation (rows) x lr (columns), one panel per init."""
    if not _heatmap_applies(tables):
        return None
    runs = tables.runs
    acc = runs["test_acc"].astype(float).where(runs["status"] != "failed")
    if not np.isfinite(acc).any():
        return None
    cells = (
        runs.assign(acc=acc, div=runs["status"] == "diverged", fail=runs["status"] == "failed")
        .groupby(["init", "activation", "lr"], dropna=False)
        .agg(acc=("acc", "mean"), n=("run_id", "size"), div=("div", "sum"), fail=("fail", "sum"))
    )
    found = dict(zip(cells.index, cells.to_dict("records")))  # (init, activation, lr) -> cell
    # A cell's text lies inside its square, so the layout need not measure it.
    in_cell = {"ha": "center", "va": "center", "in_layout": False}
    acts = group_values(tables)
    lrs = sorted(runs["lr"].dropna().unique())
    inits = _order(runs["init"].dropna(), nn.INITIALIZERS)
    rows, cols = _grid(len(inits), 3)
    fig, axs = plt.subplots(
        rows, cols, squeeze=False, layout="constrained",
        figsize=(cols * (1.3 * len(lrs) + 2.2) + 1.2, rows * (0.5 * len(acts) + 1.6) + 0.9),
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="#d9d9d9")
    image = None
    for ax, init in zip(axs.flat, inits):
        M = np.full((len(acts), len(lrs)), np.nan)
        for i, a in enumerate(acts):
            for j, lr in enumerate(lrs):
                if (init, a, lr) not in found:
                    ax.text(j, i, "not run", fontsize=8, color="#555555", **in_cell)
                    continue
                c = found[init, a, lr]
                M[i, j] = c["acc"]
                if np.isnan(c["acc"]):
                    text = "failed" if c["fail"] == c["n"] else "n/a"
                    ax.text(j, i, text, fontsize=8, color="#555555", **in_cell)
                    continue
                text = f"{c['acc']:.2f}"
                if c["div"]:
                    text += f"\n{int(c['div'])}/{int(c['n'])} div."
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=2.5))
                if c["fail"]:
                    text += f"\n{int(c['fail'])}/{int(c['n'])} failed"
                color = "white" if c["acc"] < 0.6 else "black"
                ax.text(j, i, text, fontsize=9, color=color, **in_cell)
        image = ax.imshow(np.ma.masked_invalid(M), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(lrs)), [format_value(lr) for lr in lrs])
        ax.set_yticks(range(len(acts)), acts)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("hidden activation")
        ax.set_title(f"init = {init}")
    for ax in axs.flat[len(inits):]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axs, label="mean final test accuracy (fraction)", shrink=0.8)
    others = [a for a in tables.axes if a not in ("activation", "lr", "init")]
    over = "seeds" + (f" and {', '.join(others)}" if others else "")
    fig.suptitle(
        f"Mean final test accuracy (over {over})\n"
        "red border: some runs of the cell diverged (they count with the accuracy they had then)",
        fontsize=13,
    )
    return fig


def plot_accuracy_bars(tables: Tables) -> Figure | None:
    """Mean final test accuracy with 95% CI, one bar per cell (variant sweeps)."""
    if _heatmap_applies(tables):
        return None
    summary = summary_with_group(tables)
    if summary.empty or not np.isfinite(summary["acc_mean"].astype(float)).any():
        return None
    gcol = group_column(tables)
    colors = group_colors(tables)
    summary = summary.sort_values("acc_mean", ascending=True, na_position="first", kind="stable")
    labels = []
    label = cell_labeler(tables, skip=[gcol])
    for _, row in summary.iterrows():
        where = label(row)
        labels.append(f"{row[gcol]} ({where})" if where else str(row[gcol]))
    y = np.arange(len(summary))
    acc = summary["acc_mean"].astype(float).to_numpy()
    ci = summary["acc_ci95"].astype(float).fillna(0.0).to_numpy()
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.42 * len(summary)), layout="constrained")
    ax.barh(y, np.nan_to_num(acc), xerr=ci, color=[colors.get(g, "grey") for g in summary[gcol]],
            capsize=4, error_kw={"elinewidth": 1.2})
    for yi, (_, row) in zip(y, summary.iterrows()):
        if np.isnan(row["acc_mean"]):
            note = "all runs failed" if row["failed"] == row["n_seeds"] else "n/a"
            ax.text(0.01, yi, note, va="center", fontsize=9, color="#555555")
            continue
        note = f"{row['acc_mean']:.3f}"
        if row["diverged"]:
            note += f"  ({int(row['diverged'])}/{int(row['n_seeds'])} diverged)"
        if row["failed"]:
            note += f"  ({int(row['failed'])} failed)"
        ax.text(min(row["acc_mean"] + ci[yi], 1.0) + 0.01, yi, note, va="center", fontsize=9)
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 1.3)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("mean final test accuracy (fraction; error bar: 95% CI over seeds)")
    ax.set_ylabel(f"{gcol} (other settings of the cell)" if any(a != gcol for a in tables.axes) else gcol)
    ax.set_title(f"Mean final test accuracy per {'variant' if tables.axes == ['variant'] else 'cell'}")
    return fig


def _best_cell_ids(tables: Tables) -> dict[Any, tuple[pd.Series, pd.DataFrame]]:
    """Group -> (best cell, its runs)."""
    return {g: (cell, cell_runs(tables, cell)) for g, cell in best_cells(tables).items()}


def _rows_of(frame: pd.DataFrame, best: Mapping[Any, tuple[pd.Series, pd.DataFrame]]) -> pd.DataFrame:
    """The rows of ``frame`` (epochs or layers) that belong to the runs of ``best``,
    so that each :func:`epoch_curve` searches a few runs, not the whole sweep."""
    ids = [run_id for _, runs in best.values() for run_id in runs["run_id"]]
    return frame[frame["run_id"].isin(ids)]


def _legend_label(label_of: Callable[[Mapping[str, Any]], str], group: Any, cell: pd.Series,
                  runs: pd.DataFrame) -> str:
    """``"relu (lr=0.1), 1/3 diverged"``; ``label_of`` from :func:`cell_labeler`."""
    label = str(group)
    where = label_of(cell)
    if where:
        label += f" ({where})"
    n_div = int((runs["status"] == "diverged").sum())
    if n_div:
        label += f", {n_div}/{len(runs)} diverged"
    return label


def plot_learning_curves(tables: Tables) -> Figure | None:
    """Test accuracy over epochs, each group at its best cell: mean line, min-max band."""
    colors = group_colors(tables)
    curves = []
    best = _best_cell_ids(tables)
    epochs = _rows_of(tables.epochs, best)
    label = cell_labeler(tables, skip=[group_column(tables)])
    for g, (cell, runs) in best.items():
        c = epoch_curve(epochs, runs["run_id"], "test_acc", hold=True)
        if not c.empty:
            curves.append((g, _legend_label(label, g, cell, runs), c))
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(10, 5.5), layout="constrained")
    for g, label, c in curves:
        ax.plot(c.index, c["mean"], color=colors[g], lw=2, marker="o" if len(c) == 1 else None, label=label)
        ax.fill_between(c.index, c["lo"], c["hi"], color=colors[g], alpha=0.15, lw=0)
    ax.set_xlabel("epoch (0 = at initialization)")
    ax.set_ylabel("test accuracy (fraction)")
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    noun = group_noun(tables)
    ax.set_title(
        f"Test accuracy during training, each {noun} at its best cell\n"
        "line: mean over seeds, band: min to max; diverged runs keep their last accuracy",
        fontsize=11,
    )
    ax.legend(title=f"{noun} (best cell)", loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    return fig


def plot_dead_units(tables: Tables) -> Figure | None:
    """Dead-unit fraction over epochs, one panel per layer, one line per group (best cell)."""
    colors = group_colors(tables)
    n = n_layers(tables)
    curves = {}
    best = _best_cell_ids(tables)
    layers = _rows_of(tables.layers, best)
    label = cell_labeler(tables, skip=[group_column(tables)])
    for g, (cell, runs) in best.items():
        legend = _legend_label(label, g, cell, runs)
        for layer in range(1, n + 1):
            c = epoch_curve(layers, runs["run_id"], "dead_frac", layer=layer)
            if not c.empty:
                curves[g, layer] = (legend, c)
    if not curves:
        return None
    fig, axs = plt.subplots(1, n, figsize=(4.2 * n + 2.8, 4.6), sharey=True, squeeze=False, layout="constrained")
    handles = {}
    for (g, layer), (label, c) in curves.items():
        ax = axs[0, layer - 1]
        (line,) = ax.plot(c.index, c["mean"], color=colors[g], lw=2, marker="o" if len(c) == 1 else None)
        ax.fill_between(c.index, c["lo"], c["hi"], color=colors[g], alpha=0.12, lw=0)
        handles.setdefault(label, line)
    top = _fraction_top(max(c["hi"].max() for _, c in curves.values()))
    for layer, ax in enumerate(axs[0], start=1):
        ax.set_title(layer_name(layer, n))
        ax.set_xlabel("epoch (0 = at initialization)")
        ax.set_ylim(-0.02 * top, top)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axs[0, 0].set_ylabel("dead units (fraction of the layer)")
    noun = group_noun(tables)
    fig.legend(list(handles.values()), list(handles), title=f"{noun} (best cell)", loc="outside right center",
               fontsize=9)
    fig.suptitle(
        f"Dead units per layer during training, each {noun} at its best cell\n"
        "dead: passes no gradient for any probe input; line: mean over seeds, band: min to max",
        fontsize=11,
    )
    return fig


def plot_gradient_flow(tables: Tables) -> Figure | None:
    """Per-layer ``|dL/dW|`` over epochs on a log scale, one panel per group (best cell)."""
    n = n_layers(tables)
    panels = {}
    best = _best_cell_ids(tables)
    layers = _rows_of(tables.layers, best)
    label = cell_labeler(tables, skip=[group_column(tables)])
    for g, (cell, runs) in best.items():
        lines = {}
        for layer in range(1, n + 1):
            c = epoch_curve(layers, runs["run_id"], "grad_w_norm", layer=layer)
            c = c.where(c > 0)  # a log axis cannot show 0 (all units dead)
            c = c[c["mean"].notna()]
            if not c.empty:
                lines[layer] = c
        panels[g] = (label(cell), lines)
    if not any(lines for _, lines in panels.values()):
        return None
    layer_colors = plt.get_cmap("plasma")(np.linspace(0.0, 0.8, n))
    rows, cols = _grid(len(panels), 4)
    fig, axs = plt.subplots(rows, cols, figsize=(max(9.0, 3.9 * cols + 1.8), 3.2 * rows + 1.0), sharex=True, sharey=True,
                            squeeze=False, layout="constrained")
    for ax, (g, (where, lines)) in zip(axs.flat, panels.items()):
        for layer, c in lines.items():
            ax.plot(c.index, c["mean"], color=layer_colors[layer - 1], lw=2, marker="o" if len(c) == 1 else None)
            lo, hi = c["lo"].fillna(c["mean"]), c["hi"].fillna(c["mean"])
            ax.fill_between(c.index, lo, hi, color=layer_colors[layer - 1], alpha=0.15, lw=0)
        if not lines:
            ax.text(0.5, 0.5, "no finite gradients", transform=ax.transAxes, ha="center", va="center")
        ax.set_title(f"{g}\n({where})" if where else str(g), fontsize=10)
        ax.set_yscale("log")
        _plain_log_labels(ax)
        ax.grid(alpha=0.3, which="major")
    for ax in axs.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axs[-1]:
        ax.set_xlabel("epoch (0 = at initialization)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axs[:, 0]:
        ax.set_ylabel("|dL/dW| (Frobenius norm, log scale)")
    handles = [plt.Line2D([], [], color=layer_colors[l - 1], lw=2) for l in range(1, n + 1)]
    fig.legend(handles, [layer_name(l, n) for l in range(1, n + 1)], title="weight layer",
               loc="outside right center")
    fig.suptitle(
        f"Gradient norm per layer during training, each {group_noun(tables)} at its best cell (mean over seeds)\n"
        "layers far below the others: vanishing gradient; far above: exploding",
        fontsize=11,
    )
    return fig


def dead_init_vs_end(tables: Tables) -> pd.DataFrame:
    """Mean dead fraction per group and hidden layer at epoch 0 and at the end.

    Over all runs of the group that finished without diverging (a diverged
    network's last diagnostics are of non-finite weights). Columns: group,
    layer, init, end, runs.
    """
    n = n_layers(tables)
    hidden = range(1, n) if n > 1 else range(1, n + 1)
    start = tables.layers[tables.layers["epoch"] == 0]
    rows = []
    for g in group_values(tables):
        runs = group_runs(tables, g)
        runs = runs[runs["status"] == "ok"]
        for layer in hidden:
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
    ax.set_xticks(x, [str(g) for g in groups])
    ax.set_xlabel(group_noun(tables))
    ax.set_ylabel("dead units (fraction of the layer)")
    ax.set_ylim(0, _fraction_top(np.nanmax(table[["init", "end"]].to_numpy(dtype=float))))
    ax.grid(axis="y", alpha=0.3)
    handles = []
    for layer in layers:
        c = layer_colors[layer - 1]
        handles += [Patch(facecolor=c, alpha=0.45, hatch="//", edgecolor="black", label=f"{layer_name(layer, n)}, at init"),
                    Patch(facecolor=c, edgecolor="black", label=f"{layer_name(layer, n)}, at the end")]
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
            fig.savefig(tmp, format="png", dpi=DPI)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    finally:
        plt.close(fig)


def make_plots(tables: Tables, plot_dir: str | Path) -> list[Path]:
    """Draw every plot that has data into ``plot_dir``; return the paths written.

    A plot that raises is reported as a RuntimeWarning and skipped, so one bad plot
    never costs the others or the report.
    """
    plot_dir = Path(plot_dir)
    drawn = [_draw(tables, name, plot_dir) for name in PLOTTERS]
    return [path for path in drawn if path is not None]


def _draw(tables: Tables, name: str, plot_dir: Path) -> Path | None:
    """Draw plot ``name`` into ``plot_dir``: its path, or None when it has no
    data or fails (a warning says why; a stale file of its name is removed)."""
    path = plot_dir / name
    before = set(plt.get_fignums())
    try:
        fig = PLOTTERS[name](tables)
    except Exception as exc:  # noqa: BLE001 - see make_plots
        for num in set(plt.get_fignums()) - before:
            plt.close(num)
        warnings.warn(f"plot {name} failed and was skipped: {type(exc).__name__}: {exc}\n"
                      f"{traceback.format_exc()}", RuntimeWarning, stacklevel=3)
        fig = None
    if fig is None:
        path.unlink(missing_ok=True)  # a stale file from an earlier build
        return None
    _save(fig, path)
    return path
