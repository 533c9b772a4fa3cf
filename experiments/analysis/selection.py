"""``python -m experiments plot DIR --where KEY=VALUE ...``: every run of a chosen cell, one line each.

The sweep's own plots summarise cells (mean over seeds); these show each
matching run as it happened: test accuracy, dead fraction per layer, gradient
norms per layer, and the pre-activation bands of every layer (the
percentiles ``z_min`` .. ``z_max`` of ``layers.csv``), into
``DIR/plots/selected-<filter>/``.

A filter is ``KEY=VALUE`` (``KEY=V1,V2`` for any of several values); several
filters must all hold. Keys are the config columns of ``runs.csv`` plus
``outcome`` and ``status``.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from experiments.analysis.plots import (
    STEP_NAME,
    _log_floor,
    _log_line,
    _plain_log_labels,
    _save,
    applies_book_rule,
    distinct_styles,
    format_value,
    layer_label,
    n_layers,
    plt,
)
from experiments.analysis.tables import CONFIG_COLUMNS, Tables, summarize, varying_axes
from experiments.config import ConfigError

# Runs drawn with their pre-activation bands (one row of panels each); the
# title says how many more matched.
MAX_BAND_RUNS = 8
BAND_COLUMNS = ("z_min", "z_p07", "z_p16", "z_p31", "z_p50", "z_p69", "z_p84", "z_p93", "z_max")
# Outer to inner band: (low, high, opacity).
BANDS = (("z_min", "z_max", 0.15), ("z_p07", "z_p93", 0.25), ("z_p16", "z_p84", 0.35), ("z_p31", "z_p69", 0.5))


class SelectionError(ConfigError, ValueError):
    """A filter that names no column or value of the runs: the message lists the valid ones."""


def filter_keys(runs: pd.DataFrame) -> list[str]:
    """Columns a filter may name: the config columns present, then outcome and status."""
    return [c for c in (*CONFIG_COLUMNS, "outcome", "status") if c in runs]


def parse_where(items: Sequence[str], runs: pd.DataFrame) -> dict[str, list[str]]:
    """``["activation=relu", "lr=0.1,1"]`` -> ``{"activation": ["relu"], "lr": ["0.1", "1"]}``, checked
    against ``runs``; raises :class:`SelectionError` naming the valid keys or values."""
    keys = filter_keys(runs)
    where: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not value.strip():
            raise SelectionError(f"--where {item!r}: expected KEY=VALUE; valid keys: {', '.join(keys)}")
        if key not in keys:
            raise SelectionError(f"--where: unknown key {key!r}; valid keys: {', '.join(keys)}")
        values = [v.strip() for v in value.split(",") if v.strip()]
        present = _values(runs[key])
        for v in values:
            if not _matches(runs[key], v).any():
                raise SelectionError(f"--where {key}={v}: no run has this value; valid values of {key}: "
                                     f"{', '.join(present)}")
        where.setdefault(key, []).extend(values)
    if not where:
        raise SelectionError(f"plot needs at least one --where KEY=VALUE; valid keys: {', '.join(keys)}")
    return where


def _values(column: pd.Series) -> list[str]:
    values = column.dropna().unique()
    try:
        values = sorted(values)
    except TypeError:
        values = sorted(values, key=str)
    return [format_value(v) for v in values]


def _matches(column: pd.Series, value: str) -> pd.Series:
    """Rows whose value is ``value`` as typed: numbers by value (``1`` = ``1.0``), the rest by text."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype(str).str.lower() == value.lower()
    if pd.api.types.is_numeric_dtype(column):
        try:
            return np.isclose(column.astype(float), float(value), rtol=1e-12, atol=0.0)
        except ValueError:
            return pd.Series(False, index=column.index)
    return column.map(format_value) == value


def select(tables: Tables, where: dict[str, list[str]]) -> Tables:
    """The tables restricted to the runs that match every filter of ``where``."""
    runs = tables.runs
    mask = pd.Series(True, index=runs.index)
    for key, values in where.items():
        mask &= np.logical_or.reduce([_matches(runs[key], v) for v in values])
    picked = runs[mask].reset_index(drop=True)
    if picked.empty:
        text = " and ".join(f"{k}={','.join(v)}" for k, v in where.items())
        raise SelectionError(f"--where: no run matches {text} (each value exists, but not together)")
    ids = set(picked["run_id"])
    axes = varying_axes(picked)
    return replace(tables, runs=picked, epochs=tables.epochs[tables.epochs["run_id"].isin(ids)],
                   layers=tables.layers[tables.layers["run_id"].isin(ids)], axes=axes,
                   summary=summarize(picked, axes, n_layers(tables)))


def folder_name(where: dict[str, list[str]]) -> str:
    """``selected-activation=relu_lr=1``: the filter, safe as a folder name."""
    text = "_".join(f"{k}={','.join(v)}" for k, v in where.items())
    return "selected-" + re.sub(r"[^A-Za-z0-9=.,+_-]", "-", text)


def run_labels(tables: Tables) -> dict[str, str]:
    """run_id -> ``"init=he_normal, lr=1, seed=0: collapsed"`` (the settings that differ among the runs)."""
    runs = tables.runs
    keys = [k for k in tables.axes if k != "seed"] + (["seed"] if "seed" in runs else [])
    return {r["run_id"]: ", ".join(f"{k}={format_value(r[k])}" for k in keys) + f": {r['outcome']}"
            for r in runs.to_dict("records")}


def run_styles(run_ids: Sequence[str]) -> dict[str, tuple[Any, str]]:
    """run_id -> (colour, line style), distinct for every run."""
    return distinct_styles(run_ids)


def _ordered_ids(tables: Tables) -> list[str]:
    keys = [k for k in (*tables.axes, "seed") if k in tables.runs]
    return list(tables.runs.sort_values(keys, kind="stable")["run_id"]) if keys else list(tables.runs["run_id"])


def _per_run(frame: pd.DataFrame, run_id: str, value: str, layer: int | None = None) -> pd.Series:
    sub = frame[frame["run_id"] == run_id]
    if layer is not None:
        sub = sub[sub["layer"] == layer]
    return sub.set_index("epoch")[value].astype(float).sort_index() if value in sub else pd.Series(dtype=float)


def _legend(fig: Figure, tables: Tables, ids: list[str], styles: dict, extra: Sequence[Any] = ()) -> None:
    labels = run_labels(tables)
    handles = [plt.Line2D([], [], color=styles[r][0], ls=styles[r][1], lw=2, label=labels[r]) for r in ids]
    fig.legend(handles=[*handles, *extra], loc="outside right center", fontsize=8, title="run")


def plot_accuracy(tables: Tables, title: str) -> Figure:
    ids = _ordered_ids(tables)
    styles = run_styles(ids)
    fig, ax = plt.subplots(figsize=(11, 5), layout="constrained")
    for r in ids:
        c = _per_run(tables.epochs, r, "test_acc")
        ax.plot(c.index, c.to_numpy(), color=styles[r][0], ls=styles[r][1], lw=2, marker="o" if len(c) == 1 else None)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("epoch (0 = at initialization)")
    ax.set_ylabel("test accuracy (fraction)")
    ax.grid(alpha=0.3)
    _legend(fig, tables, ids, styles)
    fig.suptitle(f"Test accuracy of every run, {title}\na diverged run's line ends where it diverged", fontsize=11)
    return fig


def plot_dead(tables: Tables, title: str) -> Figure:
    ids = _ordered_ids(tables)
    styles = run_styles(ids)
    n = n_layers(tables)
    fig, axs = plt.subplots(1, n, figsize=(4.0 * n + 4.0, 4.4), sharey=True, squeeze=False, layout="constrained")
    for layer, ax in enumerate(axs[0], start=1):
        for r in ids:
            c = _per_run(tables.layers, r, "dead_frac", layer)
            ax.plot(c.index, c.to_numpy(), color=styles[r][0], ls=styles[r][1], lw=2,
                    marker="o" if len(c) == 1 else None)
        ax.set_title(layer_label(tables, layer), fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("epoch (0 = at initialization)")
        ax.grid(alpha=0.3)
    axs[0, 0].set_ylabel("dead units (fraction of the layer)")
    _legend(fig, tables, ids, styles)
    fig.suptitle(f"Dead units per layer of every run, {title}\ndead: passes no gradient for any probe input",
                 fontsize=11)
    return fig


def plot_gradients(tables: Tables, title: str) -> Figure:
    """Rows: layers; columns: the true gradient, and under the book rule its update step beside it."""
    ids = _ordered_ids(tables)
    styles = run_styles(ids)
    n = n_layers(tables)
    metrics = [("true_grad_w_norm", "true gradient |dL/dW|")]
    if applies_book_rule(tables.runs):
        metrics.append(("grad_w_norm", f"{STEP_NAME} |dW| (under exact: the gradient)"))
    series = {(r, m, l): _per_run(tables.layers, r, m, l) for r in ids for m, _ in metrics for l in range(1, n + 1)}
    floor = _log_floor(c for c in series.values() if not c.empty)
    fig, axs = plt.subplots(n, len(metrics), figsize=(5.2 * len(metrics) + 4.0, 2.8 * n + 1.0), sharex=True,
                            sharey=True, squeeze=False, layout="constrained")
    zero = False
    for (r, m, l), c in series.items():
        ax = axs[l - 1, [k for k, _ in metrics].index(m)]
        c = c.replace([np.inf, -np.inf], np.nan).dropna()
        if c.empty:
            continue
        zero |= bool((c == 0).any())
        _log_line(ax, pd.DataFrame({"mean": c, "lo": c, "hi": c}), floor, styles[r][0], styles[r][1])
    for l in range(1, n + 1):
        for k, (_, text) in enumerate(metrics):
            ax = axs[l - 1, k]
            ax.set_yscale("log")
            _plain_log_labels(ax)
            ax.grid(alpha=0.3)
            ax.set_title(f"{layer_label(tables, l)}: {text}", fontsize=10)
            if zero:
                ax.axhline(floor, color="#888888", lw=0.6, ls=(0, (1, 3)))
                ax.text(0.01, floor, "0", transform=ax.get_yaxis_transform(), ha="left", va="bottom", fontsize=8)
        axs[l - 1, 0].set_ylabel("Frobenius norm (log)")
    for ax in axs[-1]:
        ax.set_xlabel("epoch (0 = at initialization)")
    extra = [plt.Line2D([], [], color="black", ls="", marker="v", label="0 (drawn at the floor)")] if zero else []
    _legend(fig, tables, ids, styles, extra)
    fig.suptitle(f"Gradient norms per layer of every run, {title}\nnon-finite values are not drawn "
                 "(the run diverged or exploded)", fontsize=11)
    return fig


def plot_bands(tables: Tables, title: str) -> Figure | None:
    """Pre-activation percentile bands per layer over epochs: one row per run (the first
    :data:`MAX_BAND_RUNS`), one column per layer, a line at z = 0."""
    if not set(BAND_COLUMNS) <= set(tables.layers) or tables.layers[list(BAND_COLUMNS)].isna().all().all():
        return None
    ids = _ordered_ids(tables)
    shown = ids[:MAX_BAND_RUNS]
    n = n_layers(tables)
    labels = run_labels(tables)
    fig, axs = plt.subplots(len(shown), n, figsize=(3.8 * n + 2.5, 2.3 * len(shown) + 1.4), sharex=True,
                            squeeze=False, layout="constrained")
    for i, r in enumerate(shown):
        rows = tables.layers[tables.layers["run_id"] == r]
        for l in range(1, n + 1):
            ax = axs[i, l - 1]
            part = rows[rows["layer"] == l].set_index("epoch").sort_index()
            part = part[list(BAND_COLUMNS)].astype(float).replace([np.inf, -np.inf], np.nan).dropna()
            for lo, hi, alpha in BANDS:
                ax.fill_between(part.index, part[lo], part[hi], color="#1f77b4", alpha=alpha, lw=0)
            ax.plot(part.index, part["z_p50"], color="#08306b", lw=1.5)
            ax.axhline(0.0, color="#d62728", lw=0.8, ls="--")
            ax.grid(alpha=0.3)
            ax.set_title(f"{layer_label(tables, l)}", fontsize=9)
        axs[i, 0].set_ylabel(textwrap.fill(labels[r], 30), fontsize=7)
    for ax in axs[-1]:
        ax.set_xlabel("epoch (0 = at initialization)")
    handles = [Patch(color="#1f77b4", alpha=a, label=f"{lo[2:]} to {hi[2:]} percentile".replace("min", "0")
                     .replace("max", "100")) for lo, hi, a in BANDS]
    handles += [plt.Line2D([], [], color="#08306b", lw=1.5, label="median"),
                plt.Line2D([], [], color="#d62728", lw=0.8, ls="--", label="z = 0")]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title="pre-activation z")
    more = f" (the first {len(shown)} of {len(ids)} matching runs; narrow the filter to see the others)" \
        if len(ids) > len(shown) else ""
    fig.suptitle(f"Pre-activations z of every layer over epochs, {title}{more}\nbands: percentiles over probe "
                 "inputs and units (as TensorBoard's distributions); a band below the red line never passes "
                 "a ReLU", fontsize=10)
    return fig


SELECTED_PLOTS = {
    "accuracy.png": plot_accuracy,
    "dead_units.png": plot_dead,
    "gradient_flow.png": plot_gradients,
    "preactivation_bands.png": plot_bands,
}


def plot_selected(tables: Tables, items: Sequence[str], out_dir: str | Path) -> list[Path]:
    """Draw :data:`SELECTED_PLOTS` for the runs matching ``items`` into
    ``out_dir/plots/selected-<filter>/``; the paths written."""
    where = parse_where(items, tables.runs)
    picked = select(tables, where)
    folder = Path(out_dir) / "plots" / folder_name(where)
    title = f"{len(picked.runs)} run(s) with " + ", ".join(f"{k}={','.join(v)}" for k, v in where.items())
    paths = []
    for name, draw in SELECTED_PLOTS.items():
        fig = draw(picked, title)
        if fig is None:
            continue
        _save(fig, folder / name)
        paths.append(folder / name)
    return paths
