"""Outcomes: each rule on constructed runs, their order, the counts in summary.csv, the README table."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import outcomes
from experiments.analysis.tables import build_tables
from test_plots import make_result

CHANCE = 0.1
LN10 = math.log(10)


def _run(**changes) -> dict:
    """A healthy run (learned) with chance 10% and constant loss ln 10; ``changes`` override."""
    row = {"status": "ok", "train_loss": 0.2, "constant_loss": LN10, "grad_finite": True,
           "test_acc": 0.9, "best_test_acc": 0.92, "chance_acc": CHANCE}
    return {**row, **changes}


CASES = [
    ("failed", _run(status="failed", test_acc=np.nan, best_test_acc=np.nan, train_loss=np.nan)),
    ("diverged", _run(status="diverged", test_acc=0.1, train_loss=np.nan)),
    ("exploded", _run(train_loss=2 * LN10 + 0.01, test_acc=0.1)),
    ("exploded", _run(grad_finite=False)),  # fine accuracy, but an infinite norm
    ("collapsed", _run(test_acc=0.15, best_test_acc=0.15)),  # chance + 5 points exactly
    ("collapsed", _run(train_loss=2 * LN10, test_acc=0.1)),  # twice the constant loss is not above it
    ("unstable", _run(test_acc=0.35, best_test_acc=0.6)),  # best 50 points above chance, final 25 below
    ("partial", _run(test_acc=0.45, best_test_acc=0.6)),  # a 15-point drop is not unstable
    ("partial", _run(test_acc=0.2, best_test_acc=0.39)),  # a peak 29 points above chance is not unstable
    ("partial", _run(test_acc=0.5499, best_test_acc=0.56)),  # just under halfway from 10% to 100%
    ("learned", _run(test_acc=0.5501, best_test_acc=0.56)),  # just over halfway
    ("learned", _run()),
]


@pytest.mark.parametrize("expected, run", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_each_rule(expected, run):
    assert outcomes.classify(pd.DataFrame([run])).tolist() == [expected]


def test_first_match_wins():
    # Diverged and collapsed at once: diverged; exploded and collapsed: exploded; collapsed and unstable: collapsed.
    runs = pd.DataFrame([
        _run(status="diverged", test_acc=0.1, train_loss=100.0),
        _run(train_loss=100.0, test_acc=0.1),
        _run(test_acc=0.12, best_test_acc=0.9),
        _run(test_acc=0.3, best_test_acc=0.9),
    ])
    assert outcomes.classify(runs).tolist() == ["diverged", "exploded", "collapsed", "unstable"]


def test_chance_is_the_most_frequent_test_class():
    assert outcomes.chance_accuracy(np.array([30, 50, 20])) == 0.5
    # A skewed test set: 60% accuracy is barely above chance there.
    run = _run(chance_acc=0.58, test_acc=0.6, best_test_acc=0.6)
    assert outcomes.classify(pd.DataFrame([run])).tolist() == ["collapsed"]


def test_constant_loss():
    assert outcomes.constant_loss("softmax", 10, np.ones(10), 0.0, 1.0) == pytest.approx(math.log(10))
    # Squared error, 2 balanced classes, 0/1 targets: predicting 0.5 everywhere costs 0.5 * 2 * 0.25.
    assert outcomes.constant_loss("sigmoid", 2, np.array([5, 5]), 0.0, 1.0) == pytest.approx(0.25)
    # By hand from the targets themselves: the mean target row, then 0.5 * squared distance, averaged.
    labels = np.array([0, 0, 0, 1, 2, 2])
    T = np.full((6, 3), 0.01)
    T[np.arange(6), labels] = 0.99
    by_hand = 0.5 * ((T - T.mean(axis=0)) ** 2).sum(axis=1).mean()
    assert outcomes.constant_loss("same", 3, np.bincount(labels), 0.01, 0.99) == pytest.approx(by_hand)


def _counts_result(**kw) -> dict:
    result = make_result(**kw)
    if result["status"] != "failed":
        result["class_counts"] = {"train": [10] * 10, "test": [5] * 9 + [15]}  # chance 15/60 = 0.25
    return result


def test_tables_carry_outcomes_and_counts():
    results = [
        _counts_result(seed=0, final_acc=0.95),
        _counts_result(seed=1, final_acc=0.28),  # collapsed: at most chance 0.25 + 0.05
        _counts_result(seed=2, final_acc=0.5, status="diverged", diverged_epoch=2),
        _counts_result(seed=3, status="failed"),
    ]
    tables = build_tables(results)
    runs = tables.runs.set_index("seed")
    assert runs.loc[0, "chance_acc"] == 0.25 and runs.loc[0, "constant_loss"] == pytest.approx(LN10)
    assert runs["outcome"].to_dict() == {0: "learned", 1: "collapsed", 2: "diverged", 3: "failed"}
    assert list(tables.runs.columns).index("outcome") == list(tables.runs.columns).index("status") + 1
    row = tables.summary.iloc[0]
    assert [int(row[c]) for c in outcomes.COUNT_COLUMNS] == [1, 1, 0, 1, 0, 0, 1]
    assert outcomes.COUNT_COLUMNS == ("n_failed", "n_diverged", "n_exploded", "n_collapsed", "n_unstable",
                                      "n_partial", "n_learned")


def test_infinite_final_gradient_is_exploded():
    result = _counts_result(final_acc=0.9)
    last = [r for r in result["layers"] if r["epoch"] == result["epochs_done"]]
    last[0]["grad_w_norm"] = math.inf
    runs = build_tables([result]).runs
    assert not runs.loc[0, "grad_finite"] and runs.loc[0, "outcome"] == "exploded"


def test_runs_stored_without_counts_take_them_from_the_data():
    result = make_result(final_acc=0.9)  # digits, stored before class counts were recorded
    assert "class_counts" not in result
    runs = build_tables([result]).runs
    assert 0.09 < runs.loc[0, "chance_acc"] < 0.12  # digits: ten nearly equal classes


def test_readme_holds_the_definitions_table():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert outcomes.markdown_table() in readme


def test_mix_text():
    assert outcomes.mix_text({"collapsed": 3}) == "3/3 collapsed"
    assert outcomes.mix_text({"learned": 2, "collapsed": 1, "partial": 0}) == "1/3 collapsed, 2/3 learned"
