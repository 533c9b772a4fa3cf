"""frame_csv writes what DataFrame.to_csv(index=False) writes, byte for byte."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import csv_text
from experiments.analysis.csv_text import frame_csv

# Floats whose text is easy to get wrong: exponent thresholds, signs, specials, 17 digits.
EDGE_FLOATS = [0.0, -0.0, 0.1, 1 / 3, 1e-4, 9.999e-5, 1e-5, 1e15, 1e16, 1.2345678901234567e16, -2.5e-310,
               5e-324, 1.7976931348623157e308, np.inf, -np.inf, np.nan, 123456.789, 0.30000000000000004]


def test_floats_ints_bools_and_text_equal_pandas():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        floats = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 20, n)
        floats[rng.random(n) < 0.2] = np.nan
        floats[: min(n, 3)] = rng.choice(EDGE_FLOATS, min(n, 3))
        text = np.array([None if rng.random() < 0.2 else f"run-{k}" for k in range(n)], dtype=object)
        frame = pd.DataFrame({"run_id": text, "x": floats, "epoch": rng.integers(-5, 5, n),
                              "ok": rng.random(n) < 0.5, "name": pd.array([f"a{k}" for k in range(n)], dtype="str")})
        assert frame_csv(frame) == frame.to_csv(index=False)


def test_every_edge_float_alone():
    frame = pd.DataFrame({"x": EDGE_FLOATS, "k": range(len(EDGE_FLOATS))})
    assert frame_csv(frame) == frame.to_csv(index=False)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"a": ["x,y", "z"], "b": [1.0, 2.0]}),          # a comma: quoted
    pd.DataFrame({"a": ['say "hi"', "z"], "b": [1, 2]}),         # a quote: doubled
    pd.DataFrame({"a": ["two\nlines", "z"], "b": [1, 2]}),       # a line break: quoted
    pd.DataFrame({"a,b": [1, 2], "c": [3, 4]}),                  # a header that needs quotes
    pd.DataFrame({"a": ["", "z"]}),                              # one column: an empty cell is ""
    pd.DataFrame({"a": [1, None, "x", 2.5], "b": [1.0] * 4}),    # mixed object cells
    pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [1.0, 2.0]}),  # nullable ints
    pd.DataFrame({"a": np.array([1.5, 2.5], dtype=np.float32), "b": [1, 2]}),  # float32: its own text
    pd.DataFrame(columns=["a", "b"]),                            # no rows
    pd.DataFrame(),
])
def test_frames_it_does_not_handle_are_written_by_pandas(frame):
    assert frame_csv(frame) == frame.to_csv(index=False)


def test_the_fast_path_is_taken_for_plain_frames(monkeypatch):
    frame = pd.DataFrame({"run_id": ["a", "b"], "x": [0.1, np.nan], "n": [1, 2]})
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: pytest.fail("fell back to pandas"))
    assert frame_csv(frame) == "run_id,x,n\na,0.1,1\nb,,2\n"
    assert csv_text._column_text(pd.Series([1.5, 2.5], dtype=np.float32)) is None
