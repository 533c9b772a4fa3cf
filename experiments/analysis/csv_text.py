"""A data frame as CSV text: ``frame.to_csv(index=False)``, byte for byte, in less time.

pandas formats a float column through NumPy's string conversion and then
hands every cell to the csv module; for layers.csv of the default sweep
(about a million cells) that was a second of the outputs stage. Python's own
``repr`` of a float is the same text (the shortest string that reads back
as the same number, in exponent form below 1e-4 and from 1e16 up), so the
columns are formatted with it and joined directly.

Only frames whose cells need no CSV quoting take this path: a text cell or
column name holding a comma, a quote or a line break, a column of any dtype
but float64, int, bool or text, or a frame of less than two columns or no
rows is written by pandas itself.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# Characters that make the csv module quote a cell (pandas writes through it).
_QUOTED = (",", '"', "\n", "\r")


def frame_csv(frame: pd.DataFrame) -> str:
    """``frame.to_csv(index=False)``: the same text, NaN and None as empty cells."""
    columns = [_column_text(frame.iloc[:, k]) for k in range(frame.shape[1])]
    header = [str(name) for name in frame.columns]
    if frame.shape[1] < 2 or frame.empty or any(c is None for c in columns) or _needs_quotes(header):
        return frame.to_csv(index=False)
    return "\n".join([",".join(header), *map(",".join, zip(*columns))]) + "\n"


def _column_text(column: pd.Series) -> list[str] | None:
    """The cells of one column as pandas writes them, or None when this module does not know how."""
    dtype = column.dtype
    values = column.to_numpy()
    if dtype == np.float64:
        text = list(map(repr, values.tolist()))
        for i in np.flatnonzero(np.isnan(values)).tolist():
            text[i] = ""
        return text
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":  # NumPy's own: pandas' nullable ones write <NA> apart
        return list(map(str, values.tolist()))
    textual = dtype == object or isinstance(dtype, pd.StringDtype)
    if textual and all(v is None or isinstance(v, str) or (isinstance(v, float) and v != v) for v in values):
        text = [v if isinstance(v, str) else "" for v in values.tolist()]
        return None if _needs_quotes(text) else text
    return None


def _needs_quotes(cells: list[str]) -> bool:
    joined = "".join(cells)
    return any(c in joined for c in _QUOTED)
