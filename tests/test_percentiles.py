"""Exact row percentiles: both methods give np.percentile's values, on any rows."""
from __future__ import annotations

import numpy as np
import pytest

from nn.diagnostics import Z_PERCENTILES
from nn.percentiles import BLOCK, METHODS, faster_method, row_percentiles, selectable

Q = list(Z_PERCENTILES.values())


def _hostile_rows(dtype: str, width: int, seed: int) -> np.ndarray:
    """Rows of ``width`` values: normal, with NaN, +-inf, constant, signed zeros,
    heavy ties (a dead layer: few values many times), tiny and huge magnitudes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, (9, width)).astype(dtype)
    x[1, 0] = np.nan
    x[2, : max(1, width // 3)] = np.inf
    x[3, -1] = -np.inf
    x[4] = 0.25
    x[5, ::2] = -0.0
    x[5, 1::4] = 0.0
    x[6] = np.repeat(rng.normal(size=8), -(-width // 8))[:width]
    x[7] *= np.finfo(dtype).tiny  # subnormal values among them
    x[8] = np.round(x[8])
    return x


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("width", [1, 2, 7, 640, 4 * BLOCK, 2560, 3001, 8192])
def test_row_percentiles_equal_numpys(method, dtype, width):
    """np.percentile's values, bit for bit (a zero's sign aside), with NaN,
    +-inf, constant, tied and subnormal rows among them."""
    x = _hostile_rows(dtype, width, width)
    with np.errstate(invalid="ignore"):
        want = np.percentile(x.astype(np.float64), Q, axis=1)
        got = row_percentiles(x.copy(), Q, method)
    assert got.shape == (len(Q), len(x)) and got.dtype == np.float64
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[:, 1]).all()


@pytest.mark.parametrize("seed", range(6))
def test_methods_agree_bit_for_bit(seed):
    """Which method the process picks never changes a bit: zeros come out +0.0 from both."""
    rng = np.random.default_rng(seed)
    width = int(rng.integers(4 * BLOCK, 5 * 4096))
    x = _hostile_rows("float32", width, seed)
    q = sorted(rng.uniform(0, 100, 12).tolist()) + [0.0, 100.0]
    with np.errstate(invalid="ignore"):
        by_sort, by_select = (row_percentiles(x.copy(), q, m) for m in METHODS)
    np.testing.assert_array_equal(by_sort.view(np.int64), by_select.view(np.int64))
    assert not np.signbit(by_select[by_select == 0]).any()


@pytest.mark.parametrize("q", [[100.0], [0.0], [50.0], [100.0, 0.0, 100.0]])
def test_single_and_extreme_percentiles(q):
    x = _hostile_rows("float32", 3000, 7)
    with np.errstate(invalid="ignore"):
        want = np.percentile(x.astype(np.float64), q, axis=1)
        for method in METHODS:
            np.testing.assert_array_equal(row_percentiles(x.copy(), q, method), want)


def test_select_applies_to_long_float32_rows_only():
    assert selectable(np.float32, 4 * BLOCK) and not selectable(np.float32, 4 * BLOCK - 1)
    assert not selectable(np.float64, 8192)
    assert faster_method(np.dtype(np.float64)) == "sort"
    assert faster_method(np.dtype(np.float32)) in METHODS


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown percentile method 'median'.*sort, select"):
        row_percentiles(np.zeros((1, 3)), [50.0], "median")
