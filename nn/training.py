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
    order : (N,) permutation of the sample indices shared by all K networks
        (one (B, n_0) batch feeds them all), or (K, N), network k's own
        permutation in row k (runs of different seeds in one stack; each step
        gathers a (K, B, n_0) batch). Either way network k sees exactly the
        samples of its order, and its numbers are those of training it alone.
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
    order = np.asarray(order)
    K = params.K
    if order.ndim not in (1, 2) or (order.ndim == 2 and order.shape[0] != K):
        raise ValueError(f"order must be (N,) or (K, N) = ({K}, N), got shape {order.shape}")
    if order.ndim == 1 and K == 1 and (optimizer is None or optimizer.plain_sgd):
        # One network: 2-D arrays throughout (views, so the stack is updated).
        # Any other optimizer keeps the stack's 3-D shapes (its slots are (K, ...)).
        params = params.single()
    loss_sum = np.zeros(K)
    correct = np.zeros(K)
    buffers = [np.empty_like(w) for w in params.W]
    n = order.shape[-1]
    update = sgd_update if optimizer is None else optimizer.update
    # A diverging network overflows to inf/NaN; that is recorded by the
    # caller after the epoch, and must not flood the console meanwhile.
    with np.errstate(all="ignore"):
        for s in range(0, n, batch_size):
            idx = order[..., s : s + batch_size]  # (B,) or (K, B)
            derivatives: list[Array] = []
            zs, acts = forward(arch, params, X[idx], derivatives)
            y, t = acts[-1], T[idx]
            loss_sum += arch.out.loss(y, t).sum(axis=-1, dtype=np.float64)
            if labels is not None:
                correct += (y.argmax(axis=-1) == labels[idx]).sum(axis=-1)
            grads = backward(arch, params, zs, acts, t, rule, derivatives, weight_grads=False)
            update(params, acts, grads.dz, lr, buffers)
    return loss_sum / n, (correct / n if labels is not None else np.full(K, np.nan))
