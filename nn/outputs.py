"""Output layers, each paired with its loss.

Per-sample losses are summed over output units; a batch loss is the mean of
per-sample losses. ``delta`` is dL/dz for the output pre-activations of one
sample (not divided by the batch size), from the output ``y``, the target
``t`` and ``f'(z)`` of the output activation.

- ``softmax``: softmax with cross-entropy, ``L = -sum_k t_k log y_k``.
- ``sigmoid``: logistic output with squared error, ``L = 0.5 sum_k (y_k - t_k)^2``
  (the book's network).
- ``same``: the hidden activation also on the output, with squared error (the
  question's network: ReLU everywhere).

The factor 0.5 of the squared error makes the book's update ``lr * e * f'(z)``
exactly the gradient step of this loss at batch size 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .activations import ACTIVATIONS, Activation
from .lookup import lookup
from .reductions import max_last, shared_ones, sum_last

Array = np.ndarray


def _softmax(z: Array) -> Array:
    # Subtracting the row maximum keeps exp from overflowing.
    e = np.exp(z - max_last(z))
    return e / sum_last(e)[..., None]


def _softmax_unit_derivative(z: Array) -> Array:
    # With cross-entropy the softmax Jacobian cancels (delta = y - t): an
    # output unit always passes its gradient, so it can never be dead.
    # A shared read-only array of ones: every training step asks for one.
    return shared_ones(z.shape, z.dtype)


# Softmax as an Activation so the forward pass treats every output alike.
# Its ``df`` is only used for dead-unit counts (see above); the gradient goes
# through ``Output.delta``.
SOFTMAX = Activation("softmax", _softmax, _softmax_unit_derivative)


def _cross_entropy(y: Array, t: Array) -> Array:
    tiny = np.finfo(y.dtype).tiny  # log(0) would be -inf for a saturated softmax
    return -sum_last(t * np.log(np.maximum(y, tiny)))


def _cross_entropy_delta(y: Array, t: Array, dfz: Array, act: Activation) -> Array:
    # Matched pair: d/dz of -sum t log softmax(z) = y * sum(t) - t, which is
    # the familiar y - t when the targets sum to 1 (one-hot); the book's
    # 0.01/0.99 targets sum to 1.08, so keep the general form.
    return y * sum_last(t)[..., None] - t


def _squared_error(y: Array, t: Array) -> Array:
    d = y - t
    return 0.5 * sum_last(d * d)


def _se_delta(y: Array, t: Array, dfz: Array, act: Activation) -> Array:
    da = y - t
    if act.pieces > 1:
        da = np.repeat(da, act.pieces, axis=-1)
    return da * dfz


@dataclass(frozen=True)
class Output:
    """An output layer and its loss.

    Attributes
    ----------
    name : str
    activation : callable, hidden Activation -> output Activation
    loss : callable, (y (..., n_out), t (..., n_out)) -> per-sample loss (...)
    delta : callable, (y, t, f'(z), output Activation) -> dL/dz, shape of z
    """

    name: str
    activation: Callable[[Activation], Activation]
    loss: Callable[[Array, Array], Array]
    delta: Callable[[Array, Array, Array, Activation], Array]


OUTPUTS: dict[str, Output] = {
    o.name: o
    for o in (
        Output("softmax", lambda hidden: SOFTMAX, _cross_entropy, _cross_entropy_delta),
        Output("sigmoid", lambda hidden: ACTIVATIONS["sigmoid"], _squared_error, _se_delta),
        Output("same", lambda hidden: hidden, _squared_error, _se_delta),
    )
}


def get_output(name: str) -> Output:
    """Look up an output by name; unknown names list the valid ones."""
    return lookup(OUTPUTS, name, "output")
