"""Minibatch SGD over one epoch, for K stacked networks at once."""
from __future__ import annotations

import numpy as np

from .network import Architecture, Params, backward, correct_counts, forward, sgd_scale, sgd_step, with_ones
from .optimizers import OptimizerState

Array = np.ndarray

# Steps run in chunks of whole batches: the chunk's inputs and targets are
# gathered in one fancy-index call each (not three per step), and its outputs
# kept for the running loss and accuracy, computed once per chunk. A chunk's
# arrays (inputs, per network when the orders are, and K networks' outputs)
# take about this many bytes, so that they stay in the L2 cache (an argmax
# over (20, 1437, 10) outputs took 950 us in one piece, 12 x 31 us in
# chunks of 128 rows; a K=20 digits epoch with per-network orders ran 1.05x
# faster than with chunks of 1 MB per network, one with a shared order the same).
CHUNK_BYTES = 512 * 1024


def chunk_rows(batch_size: int, K: int, X: Array, T: Array, shared_inputs: bool) -> int:
    """Samples per chunk: a whole number of batches, at least one.

    ``X`` (N, n_0) and ``T`` (N, n_out) the epoch's inputs and targets,
    ``shared_inputs`` whether one order feeds all K networks.
    """
    row_bytes = (X.shape[-1] * (1 if shared_inputs else K) + T.shape[-1] * K) * X.itemsize
    return batch_size * max(1, CHUNK_BYTES // (batch_size * row_bytes))


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
        takes a (K, B, n_0) batch). Either way network k sees exactly the
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

    Plain SGD scales the output's dz by ``lr / B`` inside :func:`backward`
    (every layer's step then comes out scaled) and, with biases, trains on a
    fused copy of the parameters (:class:`nn.network.Params`), written back
    at the end; other optimizers get the unscaled ``dz``. The outputs of a chunk's steps are kept, and its loss
    and accuracy computed at the chunk's end in a few vectorised calls.
    """
    lr = np.asarray(lr, dtype=np.float64)
    order = np.asarray(order)
    K = params.K
    if order.ndim not in (1, 2) or (order.ndim == 2 and order.shape[0] != K):
        raise ValueError(f"order must be (N,) or (K, N) = ({K}, N), got shape {order.shape}")
    plain_sgd = optimizer is None or optimizer.plain_sgd
    if order.ndim == 1 and K == 1 and plain_sgd:
        # One network: 2-D arrays throughout (views, so the stack is updated).
        # Any other optimizer keeps the stack's 3-D shapes (its slots are (K, ...)).
        params = params.single()
    target = params
    if plain_sgd and params.b is not None:
        # Biases fused with the weights for the epoch (see Params), copied back at its end.
        params = params.fused_copy()
    n = order.shape[-1]
    # Each sample's loss, summed at the end of the epoch: the sums do not
    # depend on the chunks, whose size depends on K.
    sample_loss = np.empty((K, n))
    correct = np.zeros(K)
    buffers = [np.empty_like(w) for w in (params.fused or params.W)]
    rows = chunk_rows(batch_size, K, X, T, order.ndim == 1)
    scales: dict[int, Array] = {}  # lr / B per batch size B (the last batch may be smaller)
    steps = 0
    # A diverging network overflows to inf/NaN; that is recorded by the
    # caller after the epoch, and must not flood the console meanwhile.
    with np.errstate(all="ignore"):
        for start in range(0, n, rows):
            idx = order[..., start : start + rows]  # (rows,) or (K, rows)
            X_chunk, T_chunk = X[idx], T[idx]
            if params.fused is not None:
                X_chunk = with_ones(X_chunk)  # once per chunk, not per step
            outputs = []
            for s in range(0, idx.shape[-1], batch_size):
                x, t = X_chunk[..., s : s + batch_size, :], T_chunk[..., s : s + batch_size, :]
                derivatives: list[Array] = []
                zs, acts = forward(arch, params, x, derivatives)
                outputs.append(acts[-1])
                if plain_sgd:
                    B = x.shape[-2]
                    if B not in scales:
                        scales[B] = sgd_scale(lr, B, params)
                    grads = backward(arch, params, zs, acts, t, rule, derivatives, False, scales[B])
                    sgd_step(params, acts, grads.dz, buffers)
                    steps += 1
                else:
                    grads = backward(arch, params, zs, acts, t, rule, derivatives, weight_grads=False)
                    optimizer.update(params, acts, grads.dz, lr, buffers)
            y = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=-2)
            sample_loss[:, start : start + rows] = arch.out.loss(y, T_chunk)
            if labels is not None:
                correct += correct_counts(y, labels[idx])
    if params is not target:
        target.assign(params)
    if optimizer is not None:
        optimizer.t += steps  # plain SGD bypassed optimizer.update, which counts the updates
    return sample_loss.sum(axis=-1) / n, (correct / n if labels is not None else np.full(K, np.nan))
