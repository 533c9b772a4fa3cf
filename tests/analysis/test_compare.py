"""compare: matching the cells of two sweeps, the paired interval, and the three files."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy import stats

from experiments.analysis import compare as cmp
from experiments.analysis import page
from experiments.analysis.tables import build_tables
from test_plots import grid_results


def _grid(backprop="exact", shift=0.0, diverge=(), lrs=None):
    results = []
    for r in grid_results():
        r["config"]["backprop"] = backprop
        if lrs is not None and r["config"]["lr"] not in lrs:
            continue
        for e in r["epochs"]:
            e["test_acc"] += shift
        key = (r["config"]["activation"], r["config"]["init"], r["config"]["lr"], r["config"]["seed"])
        if key in diverge:
            r["status"] = "diverged"
        results.append(r)
    return build_tables(results)


def test_paired_interval_is_students_t_on_per_seed_differences():
    a = pd.Series([0.5, 0.6, 0.7, 0.9], index=[0, 1, 2, 3])
    b = pd.Series([0.55, 0.62, 0.8, np.nan], index=[0, 1, 2, 3])  # seed 3 has no result in B
    low, high, kind, n = cmp.interval(a, b)
    d = np.array([0.05, 0.02, 0.1])
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (kind, n) == ("paired", 3)
    np.testing.assert_allclose([low, high], [d.mean() - half, d.mean() + half])


def test_unmatched_seeds_get_welch_and_single_runs_no_interval():
    a, b = pd.Series([0.5, 0.6], index=[0, 1]), pd.Series([0.8, 0.9], index=[5, 6])
    low, high, kind, n = cmp.interval(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (kind, n) == ("welch", 0)
    np.testing.assert_allclose([low, high], [ref.low, ref.high])
    low, high, kind, n = cmp.interval(pd.Series([0.5], index=[0]), pd.Series([0.7], index=[0]))
    assert kind == "" and math.isnan(low) and n == 1


def test_book_vs_exact_matches_cells_and_finds_the_shift():
    a, b = _grid("exact"), _grid("book", shift=0.05, diverge={("relu", "he_normal", 0.1, 0)})
    c = cmp.compare(a, b, "exact", "book")
    assert [(k.key, k.a, k.b, k.treatment) for k in c.keys] == [("backprop", ("exact",), ("book",), True)]
    assert c.cell_keys == ("activation", "init", "lr") and len(c.cells) == 8 and c.only_a == c.only_b == 0
    np.testing.assert_allclose(c.cells["diff"], 0.05)
    # every seed moved by exactly 0.05: a zero-width paired interval, B higher wherever 2+ seeds match
    paired = c.cells[c.cells["interval"] == "paired"]
    assert len(paired) == 8 and (paired["verdict"] == "B higher").all()
    # runs.csv has outcomes now: the diverged seed is an outcome change in its cell (the +0.05 shift
    # may move other seeds across an outcome threshold too, e.g. partial -> learned)
    assert c.outcome == "outcome"
    cell = c.cells[(c.cells["activation"] == "relu") & (c.cells["init"] == "he_normal") & (c.cells["lr"] == "0.1")]
    assert len(cell) == 1 and "seed 0: " in cell["outcome_changes"].iloc[0]
    assert cell["outcome_changes"].iloc[0].split("; ")[0].endswith("→ diverged")
    changed = c.cells[c.cells["outcome_changes"] != ""]
    text = " ".join(cmp.summary_sentences(c))
    assert "8 cells in both sweeps" in text and "B higher in 8" in text
    assert f"changed in {len(changed)} of 8 cells" in text


def test_grids_that_differ_compare_only_shared_cells():
    c = cmp.compare(_grid(), _grid(lrs={0.1}))
    assert [(k.key, k.treatment) for k in c.keys] == [("lr", False)]
    assert len(c.cells) == 4 and c.only_a == 4 and c.only_b == 0
    assert set(c.cells["lr"]) == {"0.1"}


def test_outcome_column_is_used_when_both_sweeps_have_it():
    a, b = _grid(), _grid()
    for t, value in ((a, "learned"), (b, "partial")):
        t.runs["outcome"] = np.where(t.runs["status"] == "ok", value, t.runs["status"])
    c = cmp.compare(a, b)
    assert c.outcome == "outcome" and (c.cells["outcome_changes"].str.contains("learned → partial")).all()


def test_writes_md_csv_and_a_self_contained_html(tmp_path):
    c = cmp.compare(_grid("exact"), _grid("book", shift=-0.1), "exact", "book")
    paths = cmp.write_comparison(c, tmp_path / "out")
    assert [p.name for p in paths] == ["compare.md", "compare.csv", "compare.html"]
    md = paths[0].read_text()
    assert "| backprop | exact | book | the change" in md and "A higher in 8" in md
    csv = pd.read_csv(paths[1])
    assert list(csv.columns) == ["activation", "init", "lr", *cmp.RESULT_COLUMNS] and len(csv) == 8
    html = paths[2].read_text()
    assert not re.search(r"<script[^>]+src=", html)
    assert '"name_b":"book"' in page.read_packed(html, "page-data")


def test_cli_compare_and_its_bad_input(tmp_path, capsys):
    from experiments.cli import main

    assert main(["compare", str(tmp_path / "nope"), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nope" in err and "\n" not in err
