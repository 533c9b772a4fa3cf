"""Minibatch SGD over one epoch, for K stacked networks at once."""
from __future__ import annotations

import numpy as np

from .network import Architecture, Params, backward, forward, sgd_update
from .optimizers import OptimizerState

Array = np.ndarray


def train_epoch(
    arch: Architecture,
    params: Params,
    X: Array,
    T: Array,
    order: Array,
    lr: Array,
    batch_size: int = 32,
    rule: str = "exact",
    labels: Array | None = None,
    optimizer: OptimizerState | None = None,
) -> tuple[Array, Array]:
    """One pass over the data in the given order, updating ``params`` in place.

    Parameters
    ----------
    X : (N, n_0) inputs, T : (N, n_out) targets, shared by all K networks
    order : (N,) permutation of the sample indices (the same for all K: that
        is what lets K networks share one data stream)
    lr : (K,) learning rate of each network
    batch_size : 1 updates after every sample, as the book does; the last
        batch of an epoch may be smaller.
    labels : (N,) int, optional, for the running accuracy
    optimizer : the state of the optimizer that turns the rule's step
        direction into the update (:func:`nn.optimizers.init_state`); None
        is plain SGD, ``W -= lr * dW``.

    Returns
    -------
    loss, accuracy : (K,) float64, averaged over the epoch's samples as they
        were seen, each measured just before the update it caused (the
        running figures most training logs print). Accuracy is NaN without
        ``labels``.
    """
    lr = np.asarray(lr, dtype=np.float64)
    K = params.K
    loss_sum = np.zeros(K)
    correct = np.zeros(K)
    buffers = [np.empty_like(w) for w in params.W]
    update = sgd_update if optimizer is None else optimizer.update
    # A diverging network overflows to inf/NaN; that is recorded by the
    # caller after the epoch, and must not flood the console meanwhile.
    with np.errstate(all="ignore"):
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            derivatives: list[Array] = []
            zs, acts = forward(arch, params, X[idx], derivatives)
            y, t = acts[-1], T[idx]
            loss_sum += arch.out.loss(y, t).sum(axis=-1, dtype=np.float64)
            if labels is not None:
                correct += (y.argmax(axis=-1) == labels[idx]).sum(axis=-1)
            grads = backward(arch, params, zs, acts, t, rule, derivatives, weight_grads=False)
            update(params, acts, grads.dz, lr, buffers)
    n = len(order)
    return loss_sum / n, (correct / n if labels is not None else np.full(K, np.nan))
