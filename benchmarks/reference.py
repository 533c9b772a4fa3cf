"""The plain reference loop: one network, one minibatch at a time, obvious NumPy.

This is the baseline that ``nn/`` is measured against. It is written the way a
person would write it from a textbook, without any of the tricks of ``nn/``
(no stacking of K networks, no fused ``f``/``f'``, no outer-product update at
batch 1). It shares only the activation table with ``nn/``: each activation's
``f`` and ``df`` (both functions of the pre-activation ``z``).

Shapes. ``W[l]`` is ``(n_l, n_{l+1} * pieces)`` and ``b[l]`` is
``(n_{l+1} * pieces,)``, so that ``z = a @ W[l] + b[l]`` maps a batch of rows
``a`` (B, n_l) to pre-activations (B, n_{l+1} * pieces); ``pieces`` is 2 for
maxout, else 1. The output layer is softmax with cross-entropy.

``tests/test_bench.py`` checks that one epoch of :func:`train_epoch` gives the
same weights and running loss as ``nn.train_epoch`` on a stack of one network
(float64, max abs difference about 1e-12): it validates the reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import nn

Array = np.ndarray


@dataclass
class Net:
    """One network: weights ``W`` (n_l, n_{l+1} * pieces) and biases ``b`` per layer."""

    W: list[Array]
    b: list[Array]
    activation: str = "relu"

    @property
    def hidden(self) -> nn.Activation:
        return nn.ACTIVATIONS[self.activation]


def softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(y: Array, t: Array) -> Array:
    """Per-sample loss ``-sum_k t_k log y_k``, (B,)."""
    return -(t * np.log(np.maximum(y, np.finfo(y.dtype).tiny))).sum(axis=1)


def forward(net: Net, X: Array) -> tuple[list[Array], list[Array]]:
    """Pre-activations ``zs`` and activations ``acts`` (``acts[0] = X``, ``acts[-1]`` = softmax output)."""
    zs, acts = [], [X]
    a = X
    last = len(net.W) - 1
    for l, (W, b) in enumerate(zip(net.W, net.b)):
        z = a @ W + b
        a = softmax(z) if l == last else net.hidden.f(z)
        zs.append(z)
        acts.append(a)
    return zs, acts


def backward(net: Net, zs: list[Array], acts: list[Array], T: Array) -> tuple[list[Array], list[Array]]:
    """Exact gradients ``dW``, ``db`` of the mean batch loss."""
    B = T.shape[0]
    act = net.hidden
    # Softmax + cross-entropy with one-hot targets: dL/dz of the output is y - t.
    dz = acts[-1] - T
    dW, db = [None] * len(net.W), [None] * len(net.W)
    for l in range(len(net.W) - 1, -1, -1):
        dW[l] = acts[l].T @ dz / B
        db[l] = dz.sum(axis=0) / B
        if l > 0:  # the input layer's da is never needed
            da = dz @ net.W[l].T
            if act.pieces > 1:  # maxout: each unit's gradient goes to all its pieces, df picks the winner
                da = np.repeat(da, act.pieces, axis=1)
            dz = da * act.df(zs[l - 1])
    return dW, db


def train_epoch(net: Net, X: Array, T: Array, order: Array, lr: float, batch_size: int,
                labels: Array | None = None) -> tuple[float, float]:
    """One epoch of minibatch SGD in ``order``, in place; running (loss, accuracy) like ``nn.train_epoch``."""
    loss_sum = 0.0
    correct = 0
    with np.errstate(all="ignore"):
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            x, t = X[idx], T[idx]
            zs, acts = forward(net, x)
            loss_sum += float(cross_entropy(acts[-1], t).sum())
            if labels is not None:
                correct += int((acts[-1].argmax(axis=1) == labels[idx]).sum())
            dW, db = backward(net, zs, acts, t)
            for l in range(len(net.W)):
                net.W[l] -= lr * dW[l]
                net.b[l] -= lr * db[l]
    n = len(order)
    return loss_sum / n, (correct / n if labels is not None else float("nan"))


def evaluate(net: Net, X: Array, labels: Array, T: Array) -> tuple[float, float]:
    """Mean loss and accuracy on a data set."""
    with np.errstate(all="ignore"):
        _, acts = forward(net, X)
    y = acts[-1]
    return float(cross_entropy(y, T).mean()), float((y.argmax(axis=1) == labels).mean())


def is_finite(net: Net) -> bool:
    return all(np.isfinite(w).all() for w in net.W + net.b)


def reference_run(run: Any, dtype: str = "float64") -> dict[str, Any]:
    """One run of a sweep (an ``experiments.config.RunConfig``), done alone with the reference loop.

    Same data, initial weights and sample order as the runner gives the run
    (so the results agree with the runner's to rounding), and per epoch the
    evaluation a run needs: test accuracy, plus the exact gradient on the
    probe set (the bulk of the arithmetic of the runner's diagnostics; the
    statistics derived from it are left out, which favours the reference).
    A network that diverges stops. Only softmax + cross-entropy with one-hot
    targets and exact backprop: the default grid's settings.
    """
    from experiments.data import one_hot_targets
    from experiments.train import load_run_data, probe_indices, stream

    if (run.output, run.targets, run.backprop) != ("softmax", "onehot", "exact"):
        raise ValueError("the reference loop covers softmax output, one-hot targets and exact backprop only")
    data = load_run_data(run)
    f = np.dtype(dtype)
    X, X_test = data.X_train.astype(f), data.X_test.astype(f)
    T = one_hot_targets(data.y_train, data.n_classes, "onehot").astype(f)
    T_test = one_hot_targets(data.y_test, data.n_classes, "onehot").astype(f)
    probe = probe_indices(len(X), run.probe_size)
    arch = nn.Architecture((data.n_features, *run.hidden, data.n_classes), run.activation, "softmax", True, dtype)
    params = nn.init_params(arch, [run.init], [stream(run.seed, "init", run.init)])
    net = Net([w[0] for w in params.W], [np.zeros(w.shape[2], f) for w in params.W], run.activation)
    order_rng = stream(run.seed, "order")

    def probe_gradient() -> None:
        with np.errstate(all="ignore"):
            zs, acts = forward(net, X[probe])
            backward(net, zs, acts, T[probe])

    epochs = [{"epoch": 0, "train_loss": evaluate(net, X, data.y_train, T)[0],
               "test_acc": evaluate(net, X_test, data.y_test, T_test)[1]}]
    probe_gradient()
    status = "ok"
    for epoch in range(1, run.epochs + 1):
        loss, _ = train_epoch(net, X, T, order_rng.permutation(len(X)), run.lr, run.batch_size, data.y_train)
        epochs.append({"epoch": epoch, "train_loss": loss, "test_acc": evaluate(net, X_test, data.y_test, T_test)[1]})
        probe_gradient()
        if not (np.isfinite(loss) and is_finite(net)):
            status = "diverged"
            break
    return {"run_id": run.run_id, "status": status, "epochs": epochs}
