"""tables.selection (which accuracy selects) and the optimizer columns of the tables."""
from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.analysis.tables import SELECT_ON_TEST, SELECT_ON_VAL, build_tables, selection, varying_axes
from experiments.config import RunConfig


def result(run: RunConfig, val: list[float | None], test: list[float], stopped: int | None = None, best=None):
    epochs = [{"epoch": e, "train_loss": 1.0 - 0.1 * e, "train_acc": 0.5, "val_acc": v, "test_acc": t}
              for e, (v, t) in enumerate(zip(val, test))]
    layers = [{"epoch": e, "layer": l, "dead_frac": 0.1 * e, "grad_w_norm": 1.0} for e in range(len(val))
              for l in (1, 2, 3)]
    r = {"run_id": run.run_id, "config": run.flat(), "status": "ok", "error": None, "diverged_epoch": None,
         "epochs_done": len(val) - 1, "sizes": [64, 8, 8, 10], "seconds": 0.0, "epochs": epochs, "layers": layers,
         "stopped_epoch": stopped}
    if best is not None:
        r["best_epoch"] = best
    return r


def test_selection_is_validation_when_there_is_one():
    a = result(RunConfig(seed=0), [0.2, 0.9, 0.5], [0.1, 0.6, 0.8])
    tables = build_tables([a])
    assert selection(tables.runs) == SELECT_ON_VAL
    row = tables.runs.iloc[0]
    # best epoch from the rows when the result does not store one: validation's, not test's
    assert (row["best_epoch"], row["best_val_acc"], row["test_acc_at_best"], row["test_acc"]) == (1, 0.9, 0.6, 0.8)
    assert "val_acc_mean" in tables.summary and SELECT_ON_VAL.summary_column == "val_acc_mean"
    b = result(RunConfig(seed=0, val_fraction=0.0), [None] * 3, [0.1, 0.6, 0.8])
    tables = build_tables([b])
    assert selection(tables.runs) == SELECT_ON_TEST and tables.runs.iloc[0]["best_epoch"] == 2
    assert SELECT_ON_TEST.summary_column in tables.summary
    assert selection(pd.DataFrame()) == SELECT_ON_TEST


def test_early_stopped_run_keeps_its_best_epoch_numbers():
    r = result(RunConfig(seed=0, early_stopping=1), [0.2, 0.9, 0.5], [0.1, 0.6, 0.8], stopped=2, best=1)
    row = build_tables([r]).runs.iloc[0]
    assert (row["test_acc"], row["val_acc"], row["dead_frac_L1"], row["epochs_done"]) == (0.6, 0.9, 0.1, 2)
    assert row["stopped_epoch"] == 2 and row["train_loss"] == 0.9


def test_unused_hyper_parameters_are_not_axes():
    runs = [RunConfig(optimizer=o, seed=0) for o in ("sgd", "adam")]
    tables = build_tables([result(r, [0.5], [0.5]) for r in runs])
    assert tables.axes == ["optimizer"] and np.isnan(tables.runs.set_index("optimizer").loc["sgd", "beta1"])
    runs = [RunConfig(optimizer="adam", beta1=b, seed=0) for b in (0.8, 0.9)] + [RunConfig(seed=0)]
    assert varying_axes(build_tables([result(r, [0.5], [0.5]) for r in runs]).runs) == ["optimizer", "beta1"]
