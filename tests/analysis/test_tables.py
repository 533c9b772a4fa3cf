"""Shortcuts in experiments.analysis.tables give the very numbers of the slower way they replace."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from experiments.analysis.tables import series_mean, t975


def test_series_mean_equals_pandas_to_the_last_bit():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        n = int(rng.integers(0, 40))
        values = rng.random(n) * 10.0 ** rng.integers(-5, 5, n)
        if n and rng.random() < 0.3:
            values[rng.integers(0, n, max(1, n // 4))] = np.nan
        expected = pd.Series(values).mean()
        got = series_mean(values)
        assert got == expected or (np.isnan(got) and np.isnan(expected)), values
        strided = np.stack([values, values], axis=1)[:, 0]  # a column of a table
        assert series_mean(strided) == got or np.isnan(got)


def test_t_quantile_equals_scipy_stats():
    for dof in (*range(1, 200), 1000, 10**6, 1.5, 3.7281, 17.04):  # fractional: Welch's
        assert t975(dof) == stats.t.ppf(0.975, dof)
