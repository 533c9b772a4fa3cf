"""``python -m experiments compare DIR_A DIR_B``: two sweeps, cell by cell.

Typical use: the same grid run twice with one setting changed (``backprop:
book`` vs ``exact``, ``dtype: float32`` vs ``float64``). Terms:

- *differing keys*: config columns (seed aside) whose set of values is not the
  same in A and B. Those with one value in each sweep (the setting that was
  changed) are the *treatment*: cells are matched ignoring them.
- *shared cell*: a setting of every other config column (seed aside) that
  both sweeps ran.
- *difference*: B minus A, mean final test accuracy over the cell's runs that
  did not fail. Its 95% interval is *paired* over the seeds that finished in
  both (Student t on the per-seed differences) when at least two match, else
  Welch's unpaired interval when each side has two runs, else none.
- *outcome*: the ``outcome`` column of runs.csv when both sweeps have it, else
  ``status``; an outcome change is a seed whose outcome differs between A and B.

Writes ``compare.md``, ``compare.csv`` (one row per shared cell) and
``compare.html`` (the same, drawn) into the output folder.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis.dashboard_views import outcome_column
from experiments.analysis.page import packed_plotly, write_page
from experiments.analysis.plots import format_value
from experiments.analysis.tables import CONFIG_COLUMNS, Tables, ci95, t975
from experiments.store import atomic_write_text

# Columns of compare.csv after the cell's keys.
RESULT_COLUMNS = ["n_a", "n_b", "acc_a", "acc_b", "diff", "ci_low", "ci_high", "interval", "n_pairs",
                  "verdict", "outcome_a", "outcome_b", "outcome_changes"]
VERDICTS = {1: "B higher", -1: "A higher", 0: "no clear difference"}


@dataclass(frozen=True)
class KeyDiff:
    """A config key whose values differ between the sweeps."""

    key: str
    a: tuple[Any, ...]
    b: tuple[Any, ...]
    treatment: bool  # one value in each sweep: cells are matched ignoring it


@dataclass(frozen=True)
class Comparison:
    """What compare.md, compare.csv and compare.html show."""

    name_a: str
    name_b: str
    runs_a: int
    runs_b: int
    keys: tuple[KeyDiff, ...]
    cell_keys: tuple[str, ...]  # the columns that name a shared cell in the table
    cells: pd.DataFrame  # one row per shared cell: cell_keys, then RESULT_COLUMNS
    only_a: int  # cells of A that B did not run
    only_b: int
    outcome: str  # "outcome" or "status"


def _values(runs: pd.DataFrame, key: str) -> tuple[Any, ...]:
    return tuple(sorted({format_value(v) for v in runs[key]})) if key in runs else ()


def differing_keys(a: pd.DataFrame, b: pd.DataFrame) -> list[KeyDiff]:
    """Config keys (seed aside) whose value sets differ between runs ``a`` and ``b``."""
    out = []
    for key in CONFIG_COLUMNS:
        if key == "seed":
            continue
        va, vb = _values(a, key), _values(b, key)
        if va != vb:
            out.append(KeyDiff(key, va, vb, len(va) == 1 and len(vb) == 1))
    return out


def interval(acc_a: pd.Series, acc_b: pd.Series) -> tuple[float, float, str, int]:
    """(low, high, kind, n_pairs) of the 95% interval of mean(B) - mean(A).

    ``acc_a``/``acc_b`` are final accuracies indexed by seed (NaN: no result).
    Paired over the seeds both have when at least two match; else Welch; else
    (NaN, NaN, "", n_pairs).
    """
    a, b = acc_a.dropna(), acc_b.dropna()
    both = a.index.intersection(b.index)
    n = len(both)
    if n >= 2:
        d = (b[both] - a[both]).astype(float)
        half = ci95(d)
        return d.mean() - half, d.mean() + half, "paired", n
    if len(a) >= 2 and len(b) >= 2:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        se = math.sqrt(va + vb)
        diff = b.mean() - a.mean()
        if se == 0:
            return diff, diff, "welch", n
        dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
        half = t975(dof) * se
        return diff - half, diff + half, "welch", n
    return np.nan, np.nan, "", n


def _outcomes(values: pd.Series) -> str:
    """``"learned 2, diverged 1"``: counts of each outcome, most common first."""
    counts = values.value_counts()
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def compare(a: Tables, b: Tables, name_a: str = "A", name_b: str = "B") -> Comparison:
    """Match the cells of two sweeps and compare them (see the module docstring)."""
    keys = differing_keys(a.runs, b.runs)
    treatment = {k.key for k in keys if k.treatment}
    match = [c for c in CONFIG_COLUMNS if c != "seed" and c not in treatment and c in a.runs and c in b.runs]
    shown = [c for c in match if c in a.axes or c in b.axes] or match[:1]
    outcome = "outcome" if outcome_column(a.runs) == outcome_column(b.runs) == "outcome" else "status"

    def cells(t: Tables) -> dict[tuple[str, ...], pd.DataFrame]:
        runs = t.runs
        label = runs[match].astype(object).apply(lambda r: tuple(format_value(v) for v in r), axis=1)
        return {k: g for k, g in runs.groupby(label, sort=False)}

    ca, cb = cells(a), cells(b)
    rows = []
    for key in [k for k in ca if k in cb]:
        ra, rb = ca[key], cb[key]
        acc = {side: r[r["status"] != "failed"].set_index("seed")["test_acc"].astype(float) for side, r in
               (("a", ra), ("b", rb))}
        low, high, kind, n_pairs = interval(acc["a"], acc["b"])
        sign = 1 if low > 0 else -1 if high < 0 else 0
        oa, ob = ra.set_index("seed")[outcome], rb.set_index("seed")[outcome]
        changes = [f"seed {format_value(s)}: {oa[s]} → {ob[s]}" for s in oa.index.intersection(ob.index)
                   if oa[s] != ob[s]]
        row = dict(zip(match, key))
        row.update(n_a=int(acc["a"].count()), n_b=int(acc["b"].count()), acc_a=acc["a"].mean(), acc_b=acc["b"].mean(),
                   diff=acc["b"].mean() - acc["a"].mean(), ci_low=low, ci_high=high, interval=kind, n_pairs=n_pairs,
                   verdict=VERDICTS[sign] if kind else "", outcome_a=_outcomes(oa), outcome_b=_outcomes(ob),
                   outcome_changes="; ".join(changes))
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*match, *RESULT_COLUMNS])
    table = table.sort_values("diff", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
    table = table[[*shown, *RESULT_COLUMNS]]
    return Comparison(name_a, name_b, len(a.runs), len(b.runs), tuple(keys), tuple(shown), table,
                      sum(k not in cb for k in ca), sum(k not in ca for k in cb), outcome)


def _cell_text(c: Comparison, row: pd.Series) -> str:
    return ", ".join(f"{k}={row[k]}" for k in c.cell_keys)


def summary_sentences(c: Comparison) -> list[str]:
    """What the comparison says, each sentence computed from it."""
    t = c.cells
    out = [f"{len(t)} cells in both sweeps; {c.only_a} only in A, {c.only_b} only in B."]
    if t.empty:
        return out
    with_interval = t[t["interval"] != ""]
    counts = {v: int((t["verdict"] == v).sum()) for v in VERDICTS.values()}
    out.append(
        f"Final test accuracy, B − A, mean over shared cells: {t['diff'].mean():+.3f}. "
        f"With a 95% interval ({len(with_interval)} cells: {int((with_interval['interval'] == 'paired').sum())} "
        f"paired over matching seeds): B higher in {counts['B higher']}, A higher in {counts['A higher']}, "
        f"no clear difference in {counts['no clear difference']}.")
    for label, part in (("B gains most", t.head(3)), ("A gains most", t.iloc[::-1].head(3))):
        part = part[part["diff"] > 0] if label.startswith("B") else part[part["diff"] < 0]
        if not part.empty:
            out.append(f"{label} in: " + "; ".join(
                f"{_cell_text(c, r)} ({r['diff']:+.3f})" for _, r in part.iterrows()) + ".")
    changed = t[t["outcome_changes"] != ""]
    if c.outcome == "status":
        what = "status (ok, diverged, failed)"
    else:
        what = "outcome"
    out.append(f"The {what} of some seed changed in {len(changed)} of {len(t)} cells." if len(changed)
               else f"No seed's {what} changed.")
    return out


def _md_cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else f"{v:.3f}"
    return str(v).replace("|", "\\|")


def render_markdown(c: Comparison) -> str:
    """compare.md."""
    lines = [f"# Compare: {c.name_a} (A) vs {c.name_b} (B)", "",
             f"A: `{c.name_a}`, {c.runs_a} runs. B: `{c.name_b}`, {c.runs_b} runs.", "",
             "## Config keys that differ", ""]
    if c.keys:
        lines += ["| key | A | B | |", "|---|---|---|---|"]
        lines += [f"| {k.key} | {', '.join(k.a)} | {', '.join(k.b)} | "
                  f"{'the change (cells matched without it)' if k.treatment else 'grid differs'} |" for k in c.keys]
    else:
        lines.append("None: both sweeps have the same settings.")
    lines += ["", "## Summary", "", *[f"- {s}" for s in summary_sentences(c)], "", "## Shared cells", "",
              f"acc: mean final test accuracy over runs that did not fail; diff = B − A with its 95% interval "
              f"(paired over matching seeds, else Welch). Outcomes: `{c.outcome}` counts.", ""]
    cols = list(c.cells.columns)
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_md_cell(v) for v in r) + " |" for r in c.cells.itertuples(index=False)]
    return "\n".join(lines) + "\n"


BODY = """
<header><h1>{title}</h1><p class="sub">{sub}</p><p id="page-error" class="error" hidden></p></header>
<section><h2>Config keys that differ</h2><div id="keys"></div></section>
<section><h2>Summary</h2><ul id="summary"></ul></section>
<section><h2>Accuracy of each shared cell: A vs B</h2>
  <p class="note">One point per cell; above the diagonal B is better. Right: B − A with its 95% interval, cells sorted.</p>
  <div id="scatter" class="plot"></div></section>
<section><h2>Shared cells (compare.csv)</h2><div id="cells-table"></div></section>
<footer>Written by <code>python -m experiments compare</code>; opens offline (plotly.js {plotly} and the data are inside this file).</footer>
"""


def write_comparison(c: Comparison, out_dir: str | Path) -> list[Path]:
    """compare.md, compare.csv and compare.html in ``out_dir`` (created)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv = out_dir / "compare.md", out_dir / "compare.csv"
    atomic_write_text(md, render_markdown(c))
    atomic_write_text(csv, c.cells.to_csv(index=False))
    labels = [_cell_text(c, r) for _, r in c.cells.iterrows()]
    data = {"name_a": c.name_a, "name_b": c.name_b, "summary": summary_sentences(c),
            "keys": [{"key": k.key, "a": ", ".join(k.a), "b": ", ".join(k.b), "treatment": k.treatment} for k in c.keys],
            "labels": labels, "cells": c.cells}
    title = f"Compare: {c.name_a} (A) vs {c.name_b} (B)"
    body = BODY.format(title=html.escape(title), sub=html.escape(f"A: {c.runs_a} runs, B: {c.runs_b} runs."),
                       plotly=html.escape(packed_plotly()[0]))
    page = write_page(out_dir / "compare.html", title, body, data, "compare.js")
    return [md, csv, page]
