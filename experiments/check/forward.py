"""The user's forward pass, reproduced from the weights to test hypotheses.

The book's network computes ``a_l = f(W_l @ a_{l-1})``, no biases, one
activation on the hidden layers and one on the output. :func:`identify`
tries every activation of ``nn/`` (and softmax on the output) and keeps the
pair whose outputs equal ``query``'s on every sample. When none does (biases,
another activation, anything else), or several do, the hypotheses that need
the layers' values are reported as not tested.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nn.activations import ACTIVATIONS, Activation
from nn.outputs import SOFTMAX

Array = np.ndarray

HIDDEN = tuple(a for a in ACTIVATIONS.values() if a.pieces == 1)
OUTPUT = HIDDEN + (SOFTMAX,)


@dataclass(frozen=True)
class Forward:
    """A reproduced forward pass: one activation on the hidden layers, one on the output."""

    hidden: Activation
    output: Activation

    def run(self, Ws: list[Array], X: Array) -> tuple[list[Array], list[Array]]:
        """Pre-activations and outputs of every layer.

        Parameters
        ----------
        Ws : canonical (n_out, n_in) weight matrices, input layer first
        X : (n_0, S), one column per sample

        Returns
        -------
        zs : (n_l, S) per weight layer; acts : ``[X]`` then (n_l, S) per weight layer
        """
        zs, acts = [], [X]
        for l, W in enumerate(Ws):
            zs.append(W @ acts[-1])
            act = self.output if l == len(Ws) - 1 else self.hidden
            # nn/ activations work on the last axis: units last
            acts.append(act.f(zs[-1].T).T)
        return zs, acts


def identify(Ws: list[Array], X: Array, Y: Array) -> list[Forward]:
    """Every :class:`Forward` whose outputs equal ``Y`` (n_out, S).

    More than one means the samples cannot tell them apart (a dead output
    layer, say), and the forward pass is not known.
    """
    tol = np.sqrt(np.finfo(Ws[0].dtype).eps) * max(1.0, float(np.abs(Y).max()))
    found = []
    for hidden in HIDDEN:
        top_in = Forward(hidden, hidden).run(Ws[:-1], X)[1][-1]
        z = Ws[-1] @ top_in
        for output in OUTPUT:
            with np.errstate(all="ignore"):
                y = output.f(z.T).T
            if np.all(np.abs(y - Y) <= tol):
                found.append(Forward(hidden, output))
    return found
