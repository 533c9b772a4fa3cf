"""Why a layer's step is not the gradient: hypotheses, claimed only when tested.

Each hypothesis predicts the step a layer would take under one common bug;
it fits when, on every sample where the layer's step is not a gradient step,
the actual step equals the prediction (both zero, or cosine > 0.999 and the
same length within 1%). A hypothesis that cannot be computed for a layer
(no learning rate, a non-square layer for a transposed update, a forward
pass that could not be reproduced for the book's rule) is not tested.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .compare import is_zero_step, matches
from .forward import Forward
from .probe import Probe, Sample
from .weights import Weights

Array = np.ndarray


@dataclass(frozen=True)
class Context:
    """What the predictions need. ``Ws``: the stored weights before any step."""

    weights: Weights
    Ws: list[Array]
    entries: list[Array]
    samples: list[Sample]
    probes: list[Probe]
    lr: float | None
    forward: Forward | None
    forwards_found: int  # how many forward passes reproduce query's outputs


def _needs_lr(ctx: Context, l: int) -> str | None:
    return None if ctx.lr is not None else "no learning rate could be measured"


def _needs_square(ctx: Context, l: int) -> str | None:
    n, m = ctx.Ws[l].shape
    return _needs_lr(ctx, l) or (None if n == m else "the layer is not square")


def _needs_forward(ctx: Context, l: int) -> str | None:
    if l == len(ctx.Ws) - 1:
        return "the output layer, where the book's rule is the gradient"
    if ctx.forwards_found == 0:
        return "query's outputs could not be reproduced from the weights with any nn/ activation (biases?)"
    if ctx.forward is None:
        return f"{ctx.forwards_found} pairs of nn/ activations reproduce query's outputs on these samples"
    return _needs_lr(ctx, l)


def _flipped_sign(ctx: Context, l: int, s: int) -> tuple[Array, Array]:
    p = ctx.probes[s]
    return p.steps[l].reshape(-1)[ctx.entries[l]], ctx.lr * p.grads[l].values


def _transposed(ctx: Context, l: int, s: int) -> tuple[Array, Array]:
    p = ctx.probes[s]
    return p.steps[l].T.reshape(-1)[ctx.entries[l]], -ctx.lr * p.grads[l].values


def book_step(ctx: Context, l: int, s: int) -> Array:
    """The step of the book's rule for layer ``l`` (0-based, below the output), stored shape.

    ``e_L = y - t``; ``e_{k-1} = W_k.T @ e_k``, passed down without the
    derivative of layer k; step ``-lr (e_l * f'(z_l)) a_{l-1}.T``.
    """
    Ws = [ctx.weights.canonical(W) for W in ctx.Ws]
    x = ctx.samples[s].inputs[:, None]
    zs, acts = ctx.forward.run(Ws, x)
    e = acts[-1] - ctx.samples[s].targets[:, None]
    for k in range(len(Ws) - 1, l, -1):
        e = Ws[k].T @ e
    dz = e * ctx.forward.hidden.df(zs[l].T).T
    return ctx.weights.canonical(-ctx.lr * (dz @ acts[l].T))


def _book_rule(ctx: Context, l: int, s: int) -> tuple[Array, Array]:
    return ctx.probes[s].steps[l].reshape(-1), book_step(ctx, l, s).reshape(-1)


@dataclass(frozen=True)
class Hypothesis:
    """A bug that explains a step. ``untestable(ctx, l)``: why it cannot be
    tested on layer l (0-based), or None; ``pair(ctx, l, s)``: (actual step,
    predicted step) on sample s, flat and comparable."""

    name: str
    claim: str  # "{layer}" is the layer's number
    untestable: Callable[[Context, int], str | None]
    pair: Callable[[Context, int, int], tuple[Array, Array]]


HYPOTHESES: dict[str, Hypothesis] = {
    h.name: h
    for h in (
        Hypothesis("flipped sign", "its step has the sign of the gradient, not of its negative: it climbs the loss",
                   _needs_lr, _flipped_sign),
        Hypothesis("transposed update", "its step is the gradient step transposed (a square layer hides it)",
                   _needs_square, _transposed),
        Hypothesis("book rule", "the error reaching layer {layer} is not multiplied by the derivative of the "
                   "layer above (the book's rule)", _needs_forward, _book_rule),
    )
}


@dataclass(frozen=True)
class Result:
    """A hypothesis on one layer: ``fits`` when the step equals its prediction
    on every one of ``samples`` samples; ``why_untested`` is None when tested."""

    name: str
    fits: bool
    samples: int
    claim: str
    why_untested: str | None = None

    @property
    def tested(self) -> bool:
        return self.why_untested is None


def test(ctx: Context, l: int, samples: list[int]) -> list[Result]:
    """Every hypothesis on layer ``l`` (0-based) over ``samples`` (those whose step is not a gradient step)."""
    results = []
    for h in HYPOTHESES.values():
        claim = h.claim.format(layer=l + 1)
        why = h.untestable(ctx, l)
        fits = why is None and all(_matches(ctx, l, *h.pair(ctx, l, s)) for s in samples)
        results.append(Result(h.name, fits, len(samples), claim, why))
    return results


def _matches(ctx: Context, l: int, actual: Array, predicted: Array) -> bool:
    W = ctx.Ws[l]
    zero_actual = is_zero_step(actual, W)
    zero_predicted = is_zero_step(predicted, W)
    return matches(actual, predicted, zero_actual, zero_predicted)
