"""Sums and maxima over short axes, written so NumPy does them fast.

NumPy reduces over a short trailing axis (10 output units) or a middle axis
(the batch inside a (K, B, n) stack) about 5-10x slower than a matrix
product with a vector of ones does the same sum: 20-40 us against 4 us per
call at K=20, B=32, which adds up over thousands of steps per epoch.
"""
from __future__ import annotations

import functools

import numpy as np

Array = np.ndarray


@functools.lru_cache(maxsize=64)
def _ones(shape: tuple[int, ...], dtype: np.dtype) -> Array:
    ones = np.ones(shape, dtype=dtype)
    ones.flags.writeable = False  # shared between calls
    return ones


def sum_last(x: Array) -> Array:
    """Sum over the last axis: (..., n) -> (...)."""
    return np.matmul(x, _ones((x.shape[-1],), x.dtype))


def sum_rows(x: Array) -> Array:
    """Sum over the second-to-last axis, kept: (..., B, n) -> (..., 1, n)."""
    return np.matmul(_ones((1, x.shape[-2]), x.dtype), x)


def max_last(x: Array) -> Array:
    """Maximum over the last axis, kept: (..., n) -> (..., 1).

    A reduce over the leading axis of a transposed copy is several times
    faster than one over a short trailing axis; ``x.T`` (all axes reversed)
    makes that copy about twice as fast as ``np.moveaxis`` (3.6 against 8.6 us
    at (32, 10), 17 against 22 us at (30, 32, 10)).
    """
    return np.ascontiguousarray(x.T).max(axis=0).T[..., None]
