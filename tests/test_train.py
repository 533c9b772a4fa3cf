"""train_group: the validation split, best epoch, early stopping, optimizers
in a stack, users' own data through a whole sweep (selu's fixed point)."""
import numpy as np
import pandas as pd
import pytest

from experiments import config as cfg
from experiments.analysis.tables import SELECT_ON_TEST, SELECT_ON_VAL, build_tables, selection
from experiments.runner import run_sweep
from experiments.train import group_key, train_group

BASE = dict(hidden=(8, 8), epochs=3, train_size=200, test_size=100, probe_size=32, dtype="float64")


def run(**changes) -> cfg.RunConfig:
    return cfg.RunConfig(**{**BASE, **changes})


def test_validation_split_is_recorded_and_selects_the_best_epoch():
    (result,) = train_group([run(lr=0.1)])
    info = result["data_info"]
    assert (info["n_train"], info["n_val"], info["n_test"]) == (180, 20, 100)
    assert info["classes"] == list(range(10)) and info["form"] == "pixels 0..16"
    val = [e["val_acc"] for e in result["epochs"]]
    assert all(0 <= v <= 1 for v in val) and len(val) == 4
    assert result["best_epoch"] == int(np.argmax(val)) and result["stopped_epoch"] is None
    tables = build_tables([result])
    row = tables.runs.iloc[0]
    assert row["best_val_acc"] == max(val) and row["val_acc"] == val[-1]
    assert row["test_acc_at_best"] == result["epochs"][result["best_epoch"]]["test_acc"]
    assert selection(tables.runs) == SELECT_ON_VAL


def test_no_validation_split_selects_on_test():
    (result,) = train_group([run(val_fraction=0.0)])
    assert result["data_info"]["n_val"] == 0 and all(e["val_acc"] is None for e in result["epochs"])
    test = [e["test_acc"] for e in result["epochs"]]
    assert result["best_epoch"] == int(np.argmax(test))
    tables = build_tables([result])
    assert np.isnan(tables.runs.iloc[0]["val_acc"]) and selection(tables.runs) == SELECT_ON_TEST


def test_early_stopping_stops_one_network_and_keeps_its_best_numbers():
    # lr 1e-9 changes no prediction: no epoch beats epoch 0, so patience 1 stops it at epoch 1.
    frozen = run(lr=1e-9, early_stopping=1, epochs=4)
    trains = run(lr=0.1, early_stopping=None, epochs=4)
    assert group_key(frozen) == group_key(trains)  # one stack
    stopped, other = train_group([frozen, trains])
    assert stopped["stopped_epoch"] == 1 and stopped["best_epoch"] == 0 and stopped["epochs_done"] == 1
    assert [e["epoch"] for e in stopped["epochs"]] == [0, 1]
    assert other["stopped_epoch"] is None and other["epochs_done"] == 4
    (alone,) = train_group([trains])
    assert alone["epochs"] == other["epochs"]  # stopping one network leaves the others alone
    row = build_tables([stopped]).runs.iloc[0]
    assert row["stopped_epoch"] == 1 and row["test_acc"] == stopped["epochs"][0]["test_acc"]


def test_patience_running_out_at_the_last_epoch_is_not_an_early_stop():
    # Patience 1 runs out at epoch 1, which is also the last: the run did every epoch.
    (result,) = train_group([run(lr=1e-9, early_stopping=1, epochs=1)])
    assert result["epochs_done"] == 1 and result["stopped_epoch"] is None


def test_optimizer_hyper_parameters_share_a_stack_and_equal_separate_runs():
    runs = [run(optimizer="adam", lr=0.01, beta1=b1, beta2=b2) for b1, b2 in ((0.9, 0.999), (0.5, 0.99))]
    runs.append(run(optimizer="adam", lr=0.003, eps=1e-4))
    assert len({group_key(r) for r in runs}) == 1
    assert group_key(run(optimizer="momentum")) != group_key(runs[0])
    together = train_group(runs)
    for r, res in zip(runs, together):
        (alone,) = train_group([r])
        for a, b in zip(alone["epochs"], res["epochs"]):
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-9)
            assert a["test_acc"] == b["test_acc"]


def test_adam_and_momentum_learn_digits():
    full = dict(train_size=None, test_size=None, hidden=(32, 32), epochs=5)
    results = train_group([run(optimizer="adam", lr=0.01, **full)]) + train_group(
        [run(optimizer="momentum", lr=0.01, **full)])
    assert all(r["status"] == "ok" and r["epochs"][-1]["test_acc"] > 0.85 for r in results), [
        r["epochs"][-1]["test_acc"] for r in results]


def test_standardized_gaussian_csv_puts_selu_at_its_fixed_point(tmp_path):
    """Self-normalizing networks (Klambauer et al. 2017): with inputs of mean 0
    and std 1 and lecun_normal weights, selu keeps every hidden layer's
    activations near mean 0, std 1. Measured at initialization, from layers.csv."""
    rng = np.random.default_rng(0)
    n, d = 600, 40
    X = rng.normal(loc=5.0, scale=3.0, size=(n, d))  # standardizing must undo this
    labels = np.array(["cat", "dog", "eel"])[rng.integers(0, 3, n)]
    path = tmp_path / "gauss.csv"
    path.write_text("".join(f"{y}," + ",".join(f"{v:.6f}" for v in x) + "\n" for y, x in zip(labels, X)))
    sweep = cfg.parse({
        "name": "selu", "data": f"csv:{path}", "input_scale": "standardize", "hidden": [256, 256],
        "activation": "selu", "init": "lecun_normal", "bias": True, "epochs": 0, "probe_size": 256,
        "seeds": [0, 1],
    })
    out = tmp_path / "out"
    run_sweep(sweep, out, jobs=1, progress=False, report=False)
    from experiments.analysis.build import build_outputs

    build_outputs(out, sweep)
    layers = pd.read_csv(out / "layers.csv")
    hidden = layers[(layers["epoch"] == 0) & (layers["layer"] <= 2)]
    assert len(hidden) == 4
    assert (hidden["act_mean"].abs() < 0.1).all(), hidden["act_mean"]
    assert ((hidden["act_std"] - 1).abs() < 0.1).all(), hidden["act_std"]
    # the same data unstandardized is far from it: the test can tell
    raw = cfg.parse({**sweep.resolved(), "name": "raw", "input_scale": "none", "seed": [0]})
    run_sweep(raw, tmp_path / "raw", jobs=1, progress=False, report=False)
    from experiments.store import RunStore

    (result,) = RunStore(tmp_path / "raw").load()[0].values()
    assert result["layers"][0]["act_std"] > 2
    assert result["data_info"]["classes"] == ["cat", "dog", "eel"]
    assert result["data_info"]["form"].startswith("real-valued")
