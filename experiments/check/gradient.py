"""The reference: dL/dW of the loss of the user's ``query``, by central
finite differences.

It needs no knowledge of the network (activations, depth, biases): one entry
of the user's own weight array is moved by +-h and ``query`` is called on
each side. The entry is then given back its saved value exactly, never
``w + h - h``, which would leave a rounding error behind.

Step size ``h = eps^(1/3) * max(|w|, 1)`` balances truncation (of order h^2)
against rounding (of order eps / h), eps being the precision ``query``
computes in: about 6e-6 in float64 and 5e-3 in float32. Float32 weights are
therefore differenced as float64 copies (:mod:`.probe`), so that a query
that follows its weights' dtype computes the reference in float64.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Array = np.ndarray


def _mse(y: Array, t: Array) -> float:
    d = t - y
    return 0.5 * float(d @ d)


def _cross_entropy(y: Array, t: Array) -> float:
    # log(0) of a saturated softmax output would be -inf; tiny keeps it finite
    return -float(t @ np.log(np.maximum(y, np.finfo(np.float64).tiny)))


@dataclass(frozen=True)
class Loss:
    """A loss of one sample: ``fn(y, t)``, both (n_out,) -> float."""

    name: str
    fn: Callable[[Array, Array], float]
    formula: str
    book_targets: bool  # whether the book's 0.01/0.99 targets suit it


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("mse", _mse, "0.5 * sum((t - y)^2), the book's implicit loss", book_targets=True),
        # y - t, the step such a network usually takes, is the gradient only
        # for targets that sum to 1: the book's 0.01/0.99 targets sum to 1.08
        Loss("ce", _cross_entropy, "-sum(t * log y), for softmax outputs", book_targets=False),
    )
}


@dataclass(frozen=True)
class Reference:
    """Finite-difference gradient on some entries of one weight matrix.

    Attributes
    ----------
    values : (n,) dL/dW at ``entries``
    noise : bound on the rounding error of ``values`` as a vector norm;
        a gradient below it is taken as zero.
    """

    values: Array
    noise: float


def step_sizes(w: Array, eps: float) -> Array:
    """Finite-difference steps for the entries ``w`` (see module docstring)."""
    return eps ** (1.0 / 3.0) * np.maximum(np.abs(w), 1.0)


def finite_difference(loss: Callable[[], float], W: Array, entries: Array, eps: float | None = None) -> Reference:
    """dL/dW at the flat indices ``entries`` of ``W``, central differences.

    Parameters
    ----------
    loss : () -> float, the loss at the current weights (calls the user's query)
    W : (n, m) float array, perturbed in place and restored exactly
    entries : (k,) int, flat (row-major) indices into W
    eps : precision of the loss's computation (default: that of W's dtype)
    """
    rows, cols = np.unravel_index(entries, W.shape)
    saved = W[rows, cols].copy()
    eps = float(np.finfo(W.dtype).eps) if eps is None else eps
    h = step_sizes(saved, eps)
    values = np.empty(len(entries))
    noise = np.empty(len(entries))
    for k, (i, j, w) in enumerate(zip(rows, cols, saved)):
        W[i, j] = w + h[k]
        up_w, up = W[i, j], loss()
        W[i, j] = w - h[k]
        down_w, down = W[i, j], loss()
        W[i, j] = w
        width = float(up_w) - float(down_w)  # the step as stored, after rounding
        values[k] = (up - down) / width
        noise[k] = 4.0 * eps * (abs(up) + abs(down)) / width
    return Reference(values, float(np.linalg.norm(noise)))
