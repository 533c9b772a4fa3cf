"""Stored run results -> pandas tables (the CSV files of a results folder).

Column meanings are documented in the README ("Output files").
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy import stats

import nn
from experiments.config import FIELDS
from experiments.store import atomic_write_text

CONFIG_COLUMNS = list(FIELDS)
# Columns of runs.csv that measure time, not results: they differ between
# otherwise identical sweeps.
TIMING_COLUMNS = ("seconds",)
EPOCH_COLUMNS = ["run_id", "epoch", "train_loss", "train_acc", "test_acc"]
LAYER_COLUMNS = ["run_id", "epoch", "layer", *nn.LAYER_METRICS]
# Per-layer final values copied into runs.csv, as <metric>_L<layer>.
RUN_LAYER_METRICS = ("dead_frac", "grad_w_norm")


@dataclass
class Tables:
    runs: pd.DataFrame
    epochs: pd.DataFrame
    layers: pd.DataFrame
    summary: pd.DataFrame
    axes: list[str]  # config columns that vary between runs, seed excluded

    def write(self, out_dir: str | Path) -> list[Path]:
        out_dir = Path(out_dir)
        paths = []
        for name in ("runs", "epochs", "layers", "summary"):
            path = out_dir / f"{name}.csv"
            atomic_write_text(path, getattr(self, name).to_csv(index=False))
            paths.append(path)
        return paths


def varying_axes(runs: pd.DataFrame) -> list[str]:
    """Config columns with more than one value, in config order, seed excluded.

    ``variant`` counts whenever variants are named, even if there is one.
    """
    axes = []
    for col in CONFIG_COLUMNS:
        if col == "seed" or col not in runs:
            continue
        if runs[col].nunique(dropna=False) > 1 or (col == "variant" and (runs[col] != "").any()):
            axes.append(col)
    return axes


def _run_row(result: dict[str, Any], n_layers: int) -> dict[str, Any]:
    row = {"run_id": result["run_id"], **result["config"]}
    epochs = result["epochs"]
    last = epochs[-1] if epochs else {}
    row.update(
        status=result["status"],
        error=result.get("error"),
        epochs_done=result["epochs_done"],
        diverged_epoch=result.get("diverged_epoch"),
        test_acc=last.get("test_acc", np.nan),
        best_test_acc=max((e["test_acc"] for e in epochs), default=np.nan),
        train_loss=last.get("train_loss", np.nan),
    )
    final = {(r["layer"]): r for r in result["layers"] if r["epoch"] == result["epochs_done"]}
    for metric in RUN_LAYER_METRICS:
        for layer in range(1, n_layers + 1):
            row[f"{metric}_L{layer}"] = final.get(layer, {}).get(metric, np.nan)
    row["seconds"] = result["seconds"]
    return row


def build_tables(results: Iterable[dict[str, Any]]) -> Tables:
    """All tables from run results (as :func:`experiments.train.train_group` returns them)."""
    results = sorted(results, key=lambda r: r["run_id"])
    n_layers = max((len(r["sizes"]) - 1 for r in results if r.get("sizes")), default=3)
    runs = pd.DataFrame([_run_row(r, n_layers) for r in results])
    if runs.empty:
        runs = pd.DataFrame(columns=["run_id", *CONFIG_COLUMNS, "status"])
    epochs = pd.DataFrame(
        [{"run_id": r["run_id"], **e} for r in results for e in r["epochs"]], columns=EPOCH_COLUMNS
    )
    layers = pd.DataFrame(
        [{"run_id": r["run_id"], **x} for r in results for x in r["layers"]], columns=LAYER_COLUMNS
    )
    axes = varying_axes(runs)
    return Tables(runs, epochs, layers, summarize(runs, axes, n_layers), axes)


def ci95(values: pd.Series) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t)."""
    v = values.dropna()
    n = len(v)
    if n < 2:
        return np.nan
    return float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n))


def summarize(runs: pd.DataFrame, axes: list[str], n_layers: int = 3) -> pd.DataFrame:
    """One row per grid cell (every axis but the seed).

    Failed runs are counted but left out of the means; diverged runs keep
    the accuracy they had when they diverged (chance level once outputs are NaN).
    """
    if runs.empty:
        return pd.DataFrame()
    keys = axes or ["data"]
    rows = []
    for cell, g in runs.groupby(keys, dropna=False, sort=False):
        cell = cell if isinstance(cell, tuple) else (cell,)
        done = g[g["status"] != "failed"]
        row = dict(zip(keys, cell))
        acc = done["test_acc"]
        row.update(
            n_seeds=len(g),
            n_ok=int((g["status"] == "ok").sum()),
            diverged=int((g["status"] == "diverged").sum()),
            failed=int((g["status"] == "failed").sum()),
            acc_mean=acc.mean(),
            acc_std=acc.std(ddof=1) if len(acc) > 1 else np.nan,
            acc_ci95=ci95(acc),
            best_acc_mean=done["best_test_acc"].mean(),
        )
        for metric in RUN_LAYER_METRICS:
            for layer in range(1, n_layers + 1):
                col = f"{metric}_L{layer}"
                if col in done:
                    row[col] = done[col].mean()
        rows.append(row)
    return pd.DataFrame(rows)
