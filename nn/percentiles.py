"""Exact percentiles of each row of a (K, M) array, as ``np.percentile`` gives them.

The diagnostics take nine percentiles of every layer's pre-activations, per
network and epoch: rows of M = probe size x units values (8,192 on the
default grid). Two exact ways compute them here, with equal results:

- ``"sort"``: sort each row, pick the ranks.
- ``"select"`` (float32 rows of at least :data:`BLOCK` * 4 values): sort the
  row in blocks of :data:`BLOCK`, bracket every wanted rank between two values
  of a sorted sample of the blocks, then sort only the few values inside each
  bracket. NumPy sorts a block of 512 float32 with sorting networks, while a
  longer row goes through its partitioning steps. On AMD Zen 4 those use an
  AVX-512 instruction (a compressing store) that the chip runs slowly. There,
  on the layers of the default grid's 240-run slice (K = 20 rows of 2,560 to
  16,384 values), a call took 2.1-2.2 ms sorting and 1.1-1.2 ms selecting;
  sorting with AVX-512 switched off (``NPY_DISABLE_CPU_FEATURES``) would be
  faster still, but switches it off for every other NumPy function too. On
  an Intel chip with AVX-512 the sort may well be the faster one.

:func:`row_percentiles` therefore times both once per process and dtype, on
a row like the default grid's, and keeps the faster. Which one it keeps
never changes a value: both give exactly the order statistics of the row.
"""
from __future__ import annotations

import functools
import time

import numpy as np

Array = np.ndarray

BLOCK = 512  # values per block of the selection: one NumPy sorting network for float32
STRIDE = 16  # every STRIDE-th value of a sorted block goes into the sample
METHODS = ("sort", "select")


def row_percentiles(x: Array, q: list[float], method: str | None = None) -> Array:
    """Percentiles ``q`` (0..100) of each row of ``x`` (K, M): (len(q), K) float64.

    Equal to ``np.percentile(x.astype(np.float64), q, axis=1)`` (linear
    interpolation between the two nearest ranks; NaN for a row holding a
    NaN), bit for bit except for the sign of a zero: -0.0 counts as +0.0.
    The ranks are found in the array's own dtype (its values cast to float64
    afterwards are exact). ``x`` is overwritten. ``method``: one of
    :data:`METHODS` (``"select"`` sorts where :func:`selectable` says it does
    not apply), or None for the faster one here (:func:`faster_method`).
    """
    K, n = x.shape
    rank = (n - 1) * (np.asarray(q, dtype=np.float64) / 100)  # NumPy's "linear" virtual index
    below = np.floor(rank).astype(np.intp)
    above = np.minimum(below + 1, n - 1)
    method = method or (faster_method(x.dtype) if selectable(x.dtype, n) else "sort")
    if method not in METHODS:
        raise ValueError(f"unknown percentile method {method!r}; the methods: {', '.join(METHODS)}")
    nan_rows = np.isnan(x).any(axis=1)
    x += 0  # -0.0 -> +0.0 (equal values, one bit pattern)
    if method == "select" and selectable(x.dtype, n):
        lo, hi = _selected(x, below)
    else:
        x.sort(axis=1)
        lo, hi = x[:, below].T.astype(np.float64), x[:, above].T.astype(np.float64)
    gamma = (rank - below)[:, None]  # (len(q), 1)
    # NumPy's _lerp: from the nearer end, so that gamma 0 and 1 give the ranks exactly.
    diff = hi - lo
    out = lo + diff * gamma
    np.subtract(hi, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    out[:, nan_rows] = np.nan
    return out


def selectable(dtype: np.dtype, n: int) -> bool:
    """Whether ``"select"`` applies: float32 rows of at least four blocks
    (below that, sorting the whole row is about as fast)."""
    return np.dtype(dtype) == np.float32 and n >= 4 * BLOCK


@functools.lru_cache(maxsize=None)
def faster_method(dtype: np.dtype) -> str:
    """Of :data:`METHODS`, the one that took less time on twenty rows of
    8192 values of ``dtype`` in this process (best of 3 each), where
    ``"select"`` applies to such rows; else ``"sort"``."""
    if not selectable(dtype, 8192):
        return "sort"
    rows = np.random.default_rng(0).standard_normal((20, 8192)).astype(dtype)
    best = {}
    for method in METHODS * 3:
        x = rows.copy()
        start = time.perf_counter()
        row_percentiles(x, [25.0, 50.0, 75.0], method)
        best[method] = min(best.get(method, np.inf), time.perf_counter() - start)
    return min(METHODS, key=best.__getitem__)


def _keys(x: Array) -> Array:
    """float32 bits turned, in place, into int32 keys in the floats' order
    (NaN aside): negative floats get their 31 low bits flipped. Its own inverse."""
    keys = x.view(np.int32)
    flip = keys >> 31
    flip &= 0x7FFFFFFF
    keys ^= flip
    return keys


def _selected(x: Array, below: Array) -> tuple[Array, Array]:
    """The values of ranks ``below`` (len(q),) and of the rank after each (the
    last rank after itself) of every row of ``x`` (K, n) float32: two
    (len(q), K) float64. ``x`` is overwritten.

    1. Sort each row in blocks of :data:`BLOCK` (padded with +inf).
    2. Sample every :data:`STRIDE`-th value of each sorted block and sort the
       sample. A sample value ``s`` at sample rank ``i`` has at most
       ``STRIDE * i + blocks * (STRIDE - 1)`` row values below it and at least
       ``STRIDE * (i + 1)`` at or below it; so two sample values bracket rank
       r and r + 1, about ``STRIDE * (blocks + 2)`` values apart.
    3. Count, in every block, the values up to the bracket's low end and
       below its high end (binary search over the blocks laid end to end),
       gather the values strictly inside each bracket, sort them, and pick:
       a rank falls on the low end, inside, or on the high end. Ties with an
       end stay out of the bracket, so a row of few distinct values (a dead
       layer) costs no more than any other.
    """
    K, n = x.shape
    top = x.max(axis=1)  # rank n - 1
    if (below == n - 1).all():  # the maximum alone: nothing to select
        tops = np.tile(top.astype(np.float64), (len(below), 1))
        return tops, tops.copy()
    blocks = -(-n // BLOCK)
    if n % BLOCK:
        padded = np.full((K, blocks * BLOCK), np.inf, dtype=x.dtype)
        padded[:, :n] = x
        x = padded
    kb = _keys(x).reshape(K, blocks, BLOCK)  # NaN rows get arbitrary values: the caller blanks them
    kb.sort(axis=2)
    sample = np.sort(kb[:, :, STRIDE - 1 :: STRIDE].reshape(K, -1), axis=1)  # (K, S)
    r = np.unique(below[below < n - 1]).astype(np.int64)  # ranks with a rank after them
    i_lo = (r - blocks * (STRIDE - 1)) // STRIDE
    i_hi = np.minimum(-(-(r + 2) // STRIDE) - 1, sample.shape[1] - 1)
    lo = np.where(i_lo >= 0, sample[:, np.maximum(i_lo, 0)], np.iinfo(np.int32).min).astype(np.int64)  # (K, R)
    hi = sample[:, i_hi].astype(np.int64)
    # Per block, the values up to lo and below hi: one binary search over the
    # blocks laid end to end, each block's index in the keys' high bits.
    offset = (np.arange(K * blocks, dtype=np.int64) << 32).reshape(K, blocks, 1)
    ordered = np.add(kb, offset).ravel()  # increasing: block after block
    bases = (np.arange(K * blocks) * BLOCK).reshape(K, blocks, 1)
    start = np.searchsorted(ordered, (lo[:, None, :] + offset).ravel(), side="right").reshape(K, blocks, -1) - bases
    stop = np.searchsorted(ordered, (hi[:, None, :] + offset).ravel(), side="left").reshape(K, blocks, -1) - bases
    # The values strictly between lo and hi (ties with either stay out, however
    # many): their ranges in every block gathered end to end, then laid out
    # one bracket per row (padded with the largest key) and sorted.
    length = np.maximum(stop - start, 0).transpose(0, 2, 1).ravel()  # (K, R, blocks); lo == hi: none
    first = (start + bases).transpose(0, 2, 1).ravel()
    total = int(length.sum())
    values = kb.ravel()[np.repeat(first - (np.cumsum(length) - length), length) + np.arange(total)]
    width = length.reshape(-1, blocks).sum(axis=1)  # (K * R,)
    w = max(int(width.max()), 1)
    window = np.full(len(width) * w, np.iinfo(np.int32).max, dtype=np.int32)
    window[np.arange(total) + np.repeat(np.arange(len(width)) * w - (np.cumsum(width) - width), width)] = values
    window = window.reshape(-1, w)
    window.sort(axis=1)
    up_to_lo = start.sum(axis=1).ravel()  # (K * R,) values <= lo
    rows = np.arange(len(up_to_lo))
    picked = []
    for t in (r, r + 1):  # rank t is lo, a value inside, or hi
        local = np.tile(t, K) - up_to_lo
        inside = window[rows, np.clip(local, 0, w - 1)]
        picked.append(np.where(local < 0, lo.ravel(), np.where(local >= width, hi.ravel(), inside)))
    picked = np.stack(picked).astype(np.int32).reshape(2, K, len(r))
    picked = _keys(picked.view(np.float32)).view(np.float32)  # the same flip turns keys back into floats
    # Ranks r and r + 1 where r < n - 1 (then ``above`` is r + 1); the last rank is the maximum.
    column = {rank: i for i, rank in enumerate(r.tolist())}
    pairs = [(picked[0, :, column[b]], picked[1, :, column[b]]) if b < n - 1 else (top, top) for b in below.tolist()]
    return (np.stack([p[0] for p in pairs]).astype(np.float64), np.stack([p[1] for p in pairs]).astype(np.float64))
