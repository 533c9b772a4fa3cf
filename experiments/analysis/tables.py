"""Stored run results -> pandas tables (the CSV files of a results folder).

Column meanings are documented in the README ("Output files").
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

import nn
from experiments.analysis import outcomes
from experiments.analysis.csv_text import frame_csv
from experiments.config import FIELDS
from experiments.data import TARGET_ENCODINGS, DataError, load_dataset
from experiments.store import atomic_write_text

CONFIG_COLUMNS = list(FIELDS)
# Columns of runs.csv that measure time, not results: they differ between
# otherwise identical sweeps.
TIMING_COLUMNS = ("seconds",)
EPOCH_COLUMNS = ["run_id", "epoch", "train_loss", "train_acc", "val_acc", "test_acc"]
LAYER_COLUMNS = ["run_id", "epoch", "layer", *nn.LAYER_METRICS]
# Per-layer final values copied into runs.csv, as <metric>_L<layer>.
RUN_LAYER_METRICS = ("dead_frac", "grad_w_norm")
# Optimizer hyper-parameters: None where the run's optimizer does not use them.
HYPER_COLUMNS = tuple(nn.HYPER_PARAMETERS)


@dataclass(frozen=True)
class Selection:
    """Which accuracy chooses best cells, best epochs and rankings.

    Attributes
    ----------
    split : ``"validation"`` or ``"test"``
    run_column : column of runs.csv holding it at the end of each run
    summary_column : column of summary.csv holding its mean over a cell
    """

    split: str
    run_column: str
    summary_column: str


SELECT_ON_VAL = Selection("validation", "val_acc", "val_acc_mean")
SELECT_ON_TEST = Selection("test", "test_acc", "acc_mean")


def selection(runs: pd.DataFrame) -> Selection:
    """The accuracy that selects: validation when the runs have a validation
    split (``val_fraction`` > 0 and ``val_acc`` measured), else test.

    Every "best cell", "best epoch" and ranking of tables, plots and reports
    goes through this, and reports the test accuracy of what it chose.
    """
    if "val_acc" in runs and "val_fraction" in runs:
        has_val = (runs["val_fraction"].astype(float) > 0) & runs["val_acc"].notna()
        if len(runs) and has_val.any():
            return SELECT_ON_VAL
    return SELECT_ON_TEST


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
            atomic_write_text(path, frame_csv(getattr(self, name)))
            paths.append(path)
        return paths


def varying_axes(runs: pd.DataFrame) -> list[str]:
    """Config columns with more than one value, in config order, seed excluded.

    ``variant`` counts whenever variants are named, even if there is one.
    An optimizer hyper-parameter counts when it takes two values where it is
    used (sgd beside adam leaves ``beta1`` empty for sgd: not an axis).
    """
    axes = []
    for col in CONFIG_COLUMNS:
        if col == "seed" or col not in runs:
            continue
        nunique = runs[col].nunique(dropna=col in HYPER_COLUMNS)
        if nunique > 1 or (col == "variant" and (runs[col] != "").any()):
            axes.append(col)
    return axes


def _best_epoch(result: dict[str, Any]) -> int | None:
    """The stored best epoch; for results stored without one, the first
    epoch of highest validation (else test) accuracy."""
    if "best_epoch" in result:
        return result["best_epoch"]
    scored = [(e.get("val_acc") if e.get("val_acc") is not None else e["test_acc"], -e["epoch"]) for e in result["epochs"]]
    scored = [s for s in scored if np.isfinite(s[0])]
    return -max(scored)[1] if scored else None


def _acc(row: dict[str, Any], key: str) -> float:
    value = row.get(key)
    return np.nan if value is None else value


def _run_row(result: dict[str, Any], n_layers: int) -> dict[str, Any]:
    row = {"run_id": result["run_id"], **result["config"]}
    epochs = result["epochs"]
    by_epoch = {e["epoch"]: e for e in epochs}
    best_epoch = _best_epoch(result)
    stopped = result.get("stopped_epoch")
    # An early-stopped run keeps its best epoch's numbers (as if its best
    # weights were restored); any other run its last epoch's.
    final_epoch = best_epoch if stopped is not None else result["epochs_done"]
    last = by_epoch.get(final_epoch, epochs[-1] if epochs else {})
    row.update(
        status=result["status"],
        error=result.get("error"),
        epochs_done=result["epochs_done"],
        diverged_epoch=result.get("diverged_epoch"),
        stopped_epoch=stopped,
        val_acc=_acc(last, "val_acc"),
        best_val_acc=max((e["val_acc"] for e in epochs if e.get("val_acc") is not None), default=np.nan),
        best_epoch=best_epoch,
        test_acc=last.get("test_acc", np.nan),
        test_acc_at_best=_acc(by_epoch.get(best_epoch, {}), "test_acc"),
        best_test_acc=max((e["test_acc"] for e in epochs), default=np.nan),
        train_loss=last.get("train_loss", np.nan),
    )
    final = {(r["layer"]): r for r in result["layers"] if r["epoch"] == final_epoch}
    for metric in RUN_LAYER_METRICS:
        for layer in range(1, n_layers + 1):
            row[f"{metric}_L{layer}"] = final.get(layer, {}).get(metric, np.nan)
    row.update(_references(result))
    # Norms at the last epoch: an infinite one makes the run "exploded".
    norms = [r.get(m, np.nan) for r in final.values() for m in ("grad_w_norm", "true_grad_w_norm")]
    row["grad_finite"] = bool(np.isfinite(np.asarray(norms, dtype=float)).all())
    row["seconds"] = result["seconds"]
    return row


def _references(result: dict[str, Any]) -> dict[str, float]:
    """``chance_acc`` and ``constant_loss`` of a run (see :mod:`experiments.analysis.outcomes`).

    From the class counts stored with the run; runs stored before the counts
    were recorded take them from their data set (:func:`_class_counts`).
    """
    config = result["config"]
    counts = None if result["status"] == "failed" else result.get("class_counts") or _class_counts(config)
    if counts is None:
        return {"chance_acc": np.nan, "constant_loss": np.nan}
    train, test = (np.asarray(counts[part], dtype=float) for part in ("train", "test"))
    off, on = TARGET_ENCODINGS.get(config.get("targets", "onehot"), (0.0, 1.0))
    return {"chance_acc": outcomes.chance_accuracy(test),
            "constant_loss": outcomes.constant_loss(config.get("output", "softmax"), len(train), train, off, on)}


@functools.lru_cache(maxsize=16)
def _counts_of(data: str, test_fraction: float, train_size: int | None, test_size: int | None
               ) -> dict[str, list[int]] | None:
    try:
        ds = load_dataset(data, test_fraction=test_fraction, train_size=train_size, test_size=test_size)
    except (DataError, OSError, ValueError):
        return None
    return {"train": np.bincount(ds.y_train, minlength=ds.n_classes).tolist(),
            "test": np.bincount(ds.y_test, minlength=ds.n_classes).tolist()}


def _class_counts(config: dict[str, Any]) -> dict[str, list[int]] | None:
    """Training and test samples per class of the run's data set, or None when it cannot be read."""
    try:
        return _counts_of(config["data"], config["test_fraction"], config.get("train_size"),
                          config.get("test_size"))
    except (KeyError, TypeError):
        return None


def build_tables(results: Iterable[dict[str, Any]]) -> Tables:
    """All tables from run results (as :func:`experiments.train.train_group` returns them)."""
    results = sorted(results, key=lambda r: r["run_id"])
    n_layers = max((len(r["sizes"]) - 1 for r in results if r.get("sizes")), default=3)
    runs = pd.DataFrame([_run_row(r, n_layers) for r in results])
    if runs.empty:
        runs = pd.DataFrame(columns=["run_id", *CONFIG_COLUMNS, "status", "outcome"])
    else:
        runs.insert(runs.columns.get_loc("status") + 1, "outcome", outcomes.classify(runs))
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
    return float(t975(n - 1) * v.std(ddof=1) / np.sqrt(n))


@functools.lru_cache(maxsize=None)
def t975(dof: float) -> float:
    """The 97.5% quantile of Student's t with ``dof`` degrees of freedom
    (whole for a mean's interval, fractional for Welch's).

    What ``scipy.stats.t.ppf(0.975, dof)`` computes, from scipy.special: that
    spares the import of scipy.stats (a second), and the cache spares the
    per-call overhead (a sweep asks for a handful of ``dof``). Imported here,
    when first needed: scipy.special alone takes a fifth of a second to
    import, and a sweep of one seed per cell never needs it.
    """
    from scipy.special import stdtrit

    return stdtrit(dof, 0.975)


def series_mean(values: np.ndarray) -> float:
    """``pandas.Series(values).mean()`` of a float array, bit for bit, without the Series.

    pandas skips NaN by summing with NaN as 0 (numpy's sum, in order) and
    dividing by the count; so does this. A groupby mean sums differently
    (compensated), which can change the last digit of a mean and so the
    order of two cells that tie.
    """
    missing = np.isnan(values)
    count = values.size - int(missing.sum())
    return np.where(missing, 0.0, values).sum() / count if count else np.nan


def summarize(runs: pd.DataFrame, axes: list[str], n_layers: int = 3) -> pd.DataFrame:
    """One row per grid cell (every axis but the seed).

    Failed runs are counted but left out of the means; diverged runs keep
    the accuracy they had when they diverged (chance level once outputs are NaN).
    """
    if runs.empty:
        return pd.DataFrame()
    keys = axes or ["data"]
    runs = runs.reset_index(drop=True)  # row labels are positions below
    # Columns taken once as arrays; each cell picks its rows by position.
    ok, diverged, failed = ((runs["status"] == s).to_numpy(dtype=bool) for s in ("ok", "diverged", "failed"))
    acc_all = runs["test_acc"].to_numpy(dtype=float)
    outcome_of = runs["outcome"].to_numpy() if "outcome" in runs else np.full(len(runs), "", dtype=object)
    layer_cols = [f"{metric}_L{layer}" for metric in RUN_LAYER_METRICS for layer in range(1, n_layers + 1)]
    acc_cols = ["best_test_acc", "val_acc", "test_acc_at_best"]
    means = {col: runs[col].to_numpy(dtype=float) for col in [*acc_cols, *layer_cols] if col in runs}
    rows = []
    for cell, g in runs[keys].groupby(keys, dropna=False, sort=False):
        cell = cell if isinstance(cell, tuple) else (cell,)
        mine = g.index.to_numpy()
        done = mine[~failed[mine]]
        row = dict(zip(keys, cell))
        acc = pd.Series(acc_all[done])
        row.update(
            n_seeds=len(mine),
            n_ok=int(ok[mine].sum()),
            diverged=int(diverged[mine].sum()),
            failed=int(failed[mine].sum()),
            **{col: int(np.count_nonzero(outcome_of[mine] == name))
               for col, name in zip(outcomes.COUNT_COLUMNS, outcomes.NAMES)},
            acc_mean=acc.mean(),
            acc_std=acc.std(ddof=1) if len(acc) > 1 else np.nan,
            acc_ci95=ci95(acc),
            best_acc_mean=series_mean(means["best_test_acc"][done]),
        )
        if "val_acc" in means:
            row.update(
                val_acc_mean=series_mean(means["val_acc"][done]),
                test_at_best_mean=series_mean(means["test_acc_at_best"][done]),
            )
        row.update({col: series_mean(means[col][done]) for col in layer_cols if col in means})
        rows.append(row)
    return pd.DataFrame(rows)
