"""What became of each run: one table of outcome definitions, read by every output.

A run's *status* says whether it executed (``ok``, ``diverged``, ``failed``);
its *outcome* says what the network learned. The outcomes are tried in the
order of :data:`OUTCOMES` and the first whose rule holds is the run's:

    failed > diverged > exploded > collapsed > unstable > partial > learned

Terms (columns of ``runs.csv``):

- ``chance_acc``: the share of the most frequent class in the test set, the
  accuracy of always answering that class.
- ``constant_loss``: the training loss of a constant prediction: ln(n_classes)
  for softmax + cross-entropy; for the squared-error outputs, the loss of
  always predicting the mean training target,
  ``0.5 * (on - off)^2 * sum_c p_c (1 - p_c)`` with ``p_c`` the training
  class shares and ``off``/``on`` the target values.
- ``grad_finite``: every weight layer's applied step and true gradient norm
  at the last epoch is finite.

Tables, plots, reports and the README all read :data:`OUTCOMES` (its
``markdown_table`` is the README's table; a test holds them equal).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

# Thresholds that turn numbers into outcomes (fractions of the test set for accuracies).
EXPLODED_LOSS_FACTOR = 2.0  # final training loss above this many constant-prediction losses
COLLAPSE_MARGIN = 0.05      # final accuracy at most chance + this
UNSTABLE_PEAK = 0.30        # best accuracy at least chance + this ...
UNSTABLE_DROP = 0.20        # ... and the final this far below the best
PARTIAL_SHARE = 0.5         # under this share of the way from chance to 100%

# Columns an outcome rule reads (see the module docstring).
RULE_COLUMNS = ("status", "train_loss", "constant_loss", "grad_finite", "test_acc", "best_test_acc", "chance_acc")


@dataclass(frozen=True)
class Outcome:
    """One outcome: its name, its rule in words, the thresholds, what it means, and the rule as code.

    ``test`` takes a frame with :data:`RULE_COLUMNS` and returns a boolean
    array, one entry per row; it is only asked about rows no earlier outcome took.
    """

    name: str
    rule: str
    threshold: str
    description: str
    test: Callable[[pd.DataFrame], np.ndarray]
    color: str  # the same in every plot


def _f(runs: pd.DataFrame, col: str) -> np.ndarray:
    return runs[col].to_numpy(dtype=float)


def _exploded(runs: pd.DataFrame) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        high = _f(runs, "train_loss") > EXPLODED_LOSS_FACTOR * _f(runs, "constant_loss")
    return high | ~runs["grad_finite"].to_numpy(dtype=bool)


def _collapsed(runs: pd.DataFrame) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return _f(runs, "test_acc") <= _f(runs, "chance_acc") + COLLAPSE_MARGIN


def _unstable(runs: pd.DataFrame) -> np.ndarray:
    best, final, chance = _f(runs, "best_test_acc"), _f(runs, "test_acc"), _f(runs, "chance_acc")
    with np.errstate(invalid="ignore"):
        return (best >= chance + UNSTABLE_PEAK) & (final <= best - UNSTABLE_DROP)


def _partial(runs: pd.DataFrame) -> np.ndarray:
    chance = _f(runs, "chance_acc")
    with np.errstate(invalid="ignore"):
        return _f(runs, "test_acc") < chance + PARTIAL_SHARE * (1.0 - chance)


OUTCOMES: tuple[Outcome, ...] = (
    Outcome("failed", "the run raised an exception", "-", "did not run to the end (message in `error`)",
            lambda r: (r["status"] == "failed").to_numpy(), "#7f7f7f"),
    Outcome("diverged", "loss or weights became NaN/inf", "-",
            "stopped at `diverged_epoch`; keeps the accuracy measured then",
            lambda r: (r["status"] == "diverged").to_numpy(), "#d62728"),
    Outcome("exploded", "finite, but final training loss > factor x constant-prediction loss, "
            "or a non-finite step/gradient norm at the end",
            f"factor {EXPLODED_LOSS_FACTOR:g}", "training pushed the loss far above what a constant answer gets",
            _exploded, "#ff7f0e"),
    Outcome("collapsed", "final test accuracy <= chance + margin", f"margin {COLLAPSE_MARGIN:.0%} points",
            "answers about as well as always naming the most frequent class", _collapsed, "#17becf"),
    Outcome("unstable", "best test accuracy >= chance + peak, and final <= best - drop",
            f"peak {UNSTABLE_PEAK:.0%} points, drop {UNSTABLE_DROP:.0%} points", "learned, then lost it",
            _unstable, "#e377c2"),
    Outcome("partial", "final test accuracy < chance + share x (100% - chance)", f"share {PARTIAL_SHARE:g}",
            "learned something, less than halfway from chance to perfect", _partial, "#bcbd22"),
    Outcome("learned", "none of the above", "-", "at least halfway from chance to perfect, and kept it",
            lambda r: np.ones(len(r), bool), "#2ca02c"),
)
NAMES: tuple[str, ...] = tuple(o.name for o in OUTCOMES)
BY_NAME: dict[str, Outcome] = {o.name: o for o in OUTCOMES}
# Outcomes that are a failure of the network (not of the run) to learn.
FAILURES = ("diverged", "exploded", "collapsed", "unstable")


def count_column(name: str) -> str:
    """``summary.csv``'s count column of outcome ``name``: ``n_<name>``."""
    return f"n_{name}"


COUNT_COLUMNS: tuple[str, ...] = tuple(count_column(n) for n in NAMES)


def classify(runs: pd.DataFrame) -> np.ndarray:
    """The outcome of each run (first rule that holds wins).

    Parameters
    ----------
    runs : DataFrame with :data:`RULE_COLUMNS`, one row per run.

    Returns
    -------
    (len(runs),) object array of outcome names.
    """
    result = np.full(len(runs), "", dtype=object)
    open_ = np.ones(len(runs), bool)
    for outcome in OUTCOMES:
        hit = open_ & np.asarray(outcome.test(runs), dtype=bool)
        result[hit] = outcome.name
        open_ &= ~hit
    return result


def constant_loss(output: str, n_classes: int, train_counts: np.ndarray, off: float, on: float) -> float:
    """Training loss of the best constant prediction (see the module docstring).

    ``train_counts`` (n_classes,): training samples per class; ``off``/``on``:
    the target value of the other classes / the true class.
    """
    if output == "softmax":
        return float(np.log(n_classes))
    counts = np.asarray(train_counts, dtype=float)
    p = counts / counts.sum()
    return float(0.5 * (on - off) ** 2 * np.sum(p * (1.0 - p)))


def chance_accuracy(test_counts: np.ndarray) -> float:
    """Share of the most frequent class among ``test_counts`` (n_classes,)."""
    counts = np.asarray(test_counts, dtype=float)
    return float(counts.max() / counts.sum()) if counts.sum() > 0 else np.nan


def markdown_table() -> str:
    """The definitions as a Markdown table, in the order they are tried."""
    lines = ["| outcome | rule (first match wins, in this order) | threshold | meaning |", "|---|---|---|---|"]
    lines += [f"| `{o.name}` | {o.rule} | {o.threshold} | {o.description} |" for o in OUTCOMES]
    return "\n".join(lines)


def mix_text(counts: dict[str, int], total: int | None = None) -> str:
    """``"3/3 collapsed"`` or ``"2/3 learned, 1/3 collapsed"``: outcomes with a count, in table order."""
    total = sum(counts.values()) if total is None else total
    return ", ".join(f"{int(counts[n])}/{total} {n}" for n in NAMES if counts.get(n, 0))
