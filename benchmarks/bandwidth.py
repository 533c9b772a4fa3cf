"""The question's network at batch 1 against the memory-bandwidth bound of its weights.

One sample per update (the book) makes every step a pass over all the
weights: forward ``a @ W``, the backward ``dz @ W.T`` and the rank-1 update
``W -= lr * outer(a, dz)``. The work per weight is a few FLOPs, so the step is
bound by memory, not arithmetic: its lowest possible time is the bytes of
weights read once and written once, divided by the bandwidth the machine
gives one core. That bandwidth is measured here with a STREAM-style triad.
"""
from __future__ import annotations

import math
import time

import numpy as np
from threadpoolctl import threadpool_limits

import nn

# The question's network on MNIST: ReLU everywhere, squared error, no biases,
# the book's rule, one sample per update (configs/question.yaml).
QUESTION_SIZES = (784, 200, 100, 10)
QUESTION_ARCH = dict(activation="relu", output="same", bias=False)
QUESTION_RULE = "book"
QUESTION_LR = 0.01  # small: random data must not diverge during the timing


def triad_bandwidth(n: int, repeats: int = 5) -> float:
    """Bytes per second of the triad ``a = b + s * c`` on float64 arrays of n elements, best of ``repeats``.

    NumPy does it in two passes without temporaries, ``a = s * c`` then
    ``a += b``: 2 arrays read and 1 written, then 2 read and 1 written, so
    5 n * 8 bytes move per triad (STREAM counts 3 n * 8 for its fused loop).
    Arrays far larger than the caches measure main memory; one thread.
    """
    rng = np.random.default_rng(0)
    a, b, c = np.empty(n), rng.random(n), rng.random(n)
    best = math.inf
    for _ in range(repeats + 1):  # the first touches the pages
        t = time.perf_counter()
        np.multiply(c, 3.0, out=a)
        np.add(a, b, out=a)
        best = min(best, time.perf_counter() - t)
    return 5 * n * 8 / best


def weight_bytes_per_step(sizes: tuple[int, ...], dtype: str) -> int:
    """Bytes of one network's weights read once and written once (the bound's traffic per step)."""
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return 2 * n_weights * np.dtype(dtype).itemsize


def seconds_per_sample(K: int, n: int, dtype: str, repeats: int) -> float:
    """Seconds per sample and network of batch-1 training of K stacked question networks, 1 BLAS thread."""
    arch = nn.Architecture(QUESTION_SIZES, dtype=dtype, **QUESTION_ARCH)
    rng = np.random.default_rng(0)
    X = rng.uniform(0.01, 1.0, (n, QUESTION_SIZES[0])).astype(dtype)
    labels = rng.integers(0, QUESTION_SIZES[-1], n)
    T = np.where(np.eye(QUESTION_SIZES[-1], dtype=bool)[labels], 0.99, 0.01).astype(dtype)
    order = np.stack([rng.permutation(n) for _ in range(K)]) if K > 1 else rng.permutation(n)
    params0 = nn.init_params(arch, ["book"] * K, [np.random.default_rng(k) for k in range(K)])
    lr = np.full(K, QUESTION_LR)
    best = math.inf
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(repeats):
            params = params0.copy()
            t = time.perf_counter()
            nn.train_epoch(arch, params, X, T, order, lr, 1, QUESTION_RULE, labels)
            best = min(best, time.perf_counter() - t)
    return best / (n * K)
