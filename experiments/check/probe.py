"""One training step per sample, measured against the reference gradient.

For each sample: the finite-difference gradient of every weight matrix at the
starting weights, then one call of the user's ``train``, the step it took
(new minus old weights), and the instance restored, so every sample starts
from the same weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .gradient import Loss, Reference, finite_difference
from .load import CheckError, call
from .state import Snapshot
from .weights import Weights, is_weight

Array = np.ndarray

INPUT_RANGE = (0.01, 1.0)  # the book's scaled pixels
TARGET_STYLES = {"0.01/0.99": (0.01, 0.99), "0/1": (0.0, 1.0)}


@dataclass(frozen=True)
class Sample:
    """An input (n_in,), its one-hot-like target (n_out,) and the target style."""

    inputs: Array
    targets: Array
    style: str


@dataclass(frozen=True)
class Probe:
    """What one sample measured.

    Attributes
    ----------
    outputs : (n_out,) query's output at the starting weights
    loss : the loss there
    steps : per layer, the whole step dW, shaped like the stored matrix
    grads : per layer, the reference gradient on the layer's chosen entries
    """

    outputs: Array
    loss: float
    steps: list[Array]
    grads: list[Reference]


def make_samples(rng: np.random.Generator, n: int, n_in: int, n_out: int, loss: Loss) -> list[Sample]:
    """Random inputs in :data:`INPUT_RANGE` and one-hot-like targets of a random class.

    Target styles alternate (0.01/0.99 as the book, then 0/1) where the loss
    suits both; cross-entropy gets 0/1 only.
    """
    styles = list(TARGET_STYLES) if loss.book_targets else ["0/1"]
    samples = []
    for s in range(n):
        style = styles[s % len(styles)]
        low, high = TARGET_STYLES[style]
        targets = np.full(n_out, low)
        targets[rng.integers(n_out)] = high
        samples.append(Sample(rng.uniform(*INPUT_RANGE, size=n_in), targets, style))
    return samples


def choose_entries(rng: np.random.Generator, size: int, limit: int) -> Array:
    """Flat indices of the entries to difference: all of them, or ``limit`` at random."""
    if size <= limit:
        return np.arange(size)
    return np.sort(rng.choice(size, limit, replace=False))


def outputs_of(query: Callable, x: Array, n_out: int) -> Array:
    """``query(x)`` as a flat float vector of length ``n_out`` (column or flat)."""
    y = np.asarray(query(x), dtype=float).reshape(-1)
    if y.size != n_out:
        raise CheckError(f"query returned {y.size} outputs; the last weight matrix has {n_out}")
    return y


def precision(query: Callable, x: Array) -> float:
    """Machine epsilon of the dtype ``query`` computes its outputs in."""
    y = np.asarray(query(x))
    return float(np.finfo(y.dtype if np.issubdtype(y.dtype, np.floating) else np.float64).eps)


def output_size(query: Callable, n_in: int) -> int:
    """How many outputs ``query`` returns for an input of width ``n_in``."""
    return np.asarray(query(np.full(n_in, 0.5)), dtype=float).size


def probe(obj: Any, train: Callable, query: Callable, weights: Weights, sample: Sample,
          entries: list[Array], loss: Loss) -> Probe:
    """Measure one sample (see module docstring); the instance ends as it began."""
    cls = type(obj).__name__
    n_out = weights.sizes[-1]
    x, t = sample.inputs, sample.targets
    y = call(f"{cls}.query(inputs)", outputs_of, query, x, n_out)
    if not np.all(np.isfinite(y)):
        raise CheckError(f"{cls}.query(inputs) returned non-finite outputs at the starting weights")
    snapshot = Snapshot(obj)
    before = [w.copy() for w in weights.arrays(obj)]
    # Difference float64 copies (see gradient.py); the snapshot puts the user's arrays back.
    for ref, w in zip(weights.refs, weights.arrays(obj)):
        if w.dtype != np.float64:
            ref.set(obj, w.astype(np.float64))
    W = weights.arrays(obj)
    eps = call(f"{cls}.query(inputs)", precision, query, x)

    def loss_here() -> float:
        return loss.fn(outputs_of(query, x, n_out), t)

    grads = [call(f"{cls}.query(inputs)", finite_difference, loss_here, w, e, eps) for w, e in zip(W, entries)]
    snapshot.restore(obj)
    call(f"{cls}.train(inputs, targets)", train, x.copy(), t.copy())
    after = weights.arrays(obj)
    for ref, a, b in zip(weights.refs, after, before):
        if not is_weight(a) or a.shape != b.shape:
            raise CheckError(f"after {cls}.train, {ref.name} is no longer a {b.shape[0]}x{b.shape[1]} float array")
    steps = [a - b for a, b in zip(after, before)]
    snapshot.restore(obj)
    return Probe(y, loss.fn(y, t), steps, grads)
