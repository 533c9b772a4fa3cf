"""report.html without a browser: what each view shows, and what the page file holds.

The tables come from the hand-made results of ``test_plots.py`` (2 activations
x 2 lrs x 2 inits x 2 seeds, plus a diverged and a failed run).
"""
from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from experiments.analysis import dashboard, dashboard_views as views, page, report
from experiments.analysis.plots import cell_runs, format_value
from experiments.analysis.tables import build_tables
from test_plots import grid_results, make_result, variant_results


@pytest.fixture(scope="module")
def grid():
    return build_tables(grid_results())


def _with(tables, runs=None, layers=None, axes=None):
    return dataclasses.replace(tables, runs=tables.runs if runs is None else runs,
                               layers=tables.layers if layers is None else layers,
                               axes=tables.axes if axes is None else axes)


def test_filters_are_varying_axes_then_seed_then_outcome(grid):
    assert [f.column for f in views.filter_infos(grid)] == ["activation", "init", "lr", "seed", "outcome"]
    assert views.filter_infos(grid)[-1].labels[0] == "learned"  # best outcome first
    # tables without outcomes (runs stored by older code) filter on status instead
    infos = views.filter_infos(_with(grid, runs=grid.runs.drop(columns="outcome")))
    assert [f.column for f in infos] == ["activation", "init", "lr", "seed", "status"]
    by = {f.column: f for f in infos}
    assert by["activation"].labels == ("sigmoid", "relu")  # nn.ACTIVATIONS order
    assert by["lr"].labels == ("0.1", "1")  # numeric order
    assert by["status"].labels == ("ok", "diverged", "failed")
    for f in infos:  # each run's code points back at its own value
        assert [f.labels[c] for c in f.codes] == [format_value(v) for v in grid.runs[f.column]]


def test_filters_follow_new_axes_and_outcome_without_code_changes(grid):
    runs = grid.runs.assign(optimizer=np.where(grid.runs["seed"] == 0, "sgd", "adam"),
                            outcome=np.where(grid.runs["status"] == "ok", "learned", grid.runs["status"]))
    tables = _with(grid, runs=runs, axes=[*grid.axes, "optimizer"])
    infos = {f.column: f for f in views.filter_infos(tables)}
    assert list(infos) == ["activation", "init", "lr", "optimizer", "seed", "outcome"]
    assert infos["outcome"].labels == ("learned", "diverged", "failed")  # issue 9's order, not alphabetical
    assert infos["optimizer"].labels == ("adam", "sgd")


def test_heatmap_cells_hold_the_summary_means_and_runs_know_their_cell(grid):
    info = views.heatmap_info(grid)
    assert (info.row, info.col, info.facets) == ("activation", "lr", ("init",))
    assert info.acc.shape == (2, 2, 2)
    for _, cell in grid.summary.iterrows():
        f = [fv[0] for fv in info.facet_values].index(cell["init"])
        r, c = info.rows.index(cell["activation"]), info.cols.index(cell["lr"])
        np.testing.assert_allclose(info.acc[f, r, c], cell["acc_mean"])
        mine = views.cell_runs_info(grid, info, (f, r, c))
        assert sorted(grid.runs["run_id"].iloc[mine.run_index]) == sorted(cell_runs(grid, cell)["run_id"])
        assert mine.cell == {"activation": cell["activation"], "lr": cell["lr"], "init": cell["init"]}


def test_best_cell_is_preselected(grid):
    info = views.heatmap_info(grid)
    best = grid.summary.sort_values("acc_mean", ascending=False).iloc[0]
    f, r, c = info.best
    assert (info.facet_values[f][0], info.rows[r], info.cols[c]) == (best["init"], best["activation"], best["lr"])
    assert info.acc[f, r, c] == np.nanmax(info.acc)


def test_cell_runs_include_every_seed_and_the_diverged_one(grid):
    info = views.heatmap_info(grid)
    cell = (list(info.facet_values).index(("he_normal",)), info.rows.index("relu"), info.cols.index(1.0))
    mine = views.cell_runs_info(grid, info, cell)
    runs = grid.runs.iloc[mine.run_index]
    assert sorted(runs["seed"]) == [0, 1, 2] and "diverged" in set(runs["status"])
    assert sorted(mine.labels) == [f"relu, init=he_normal, lr=1, seed {s}" for s in (0, 1, 2)]


def test_variant_sweep_puts_variants_on_rows():
    tables = build_tables(variant_results())
    info = views.heatmap_info(tables)
    assert info.row == "variant" and info.col is None and info.rows == ("as_written", "exact")
    assert info.best == (0, 1, 0)
    assert views.run_labels(tables) == [f"{v}, seed {s}" for v, s in zip(tables.runs["variant"], tables.runs["seed"])]


def test_a_variants_own_settings_do_not_split_the_heatmap():
    results = [make_result("relu", lr=lr, seed=s, variant=name, final_acc=0.5 + lr / 4)
               for name, lr in (("as_written", 0.1), ("low_lr", 0.01)) for s in (0, 1)]
    tables = build_tables(results)
    assert tables.axes == ["variant", "lr"]
    info = views.heatmap_info(tables)
    assert (info.row, info.col, info.facets) == ("variant", None, ())
    np.testing.assert_allclose(info.acc[0, :, 0], [0.525, 0.5025])


def test_parcoords_axes_colour_and_left_out_runs(grid):
    info = views.parcoords_info(grid)
    labels = [d.label for d in info.dimensions]
    assert labels == ["activation", "init", "lr", "final test accuracy", "dead L1", "dead L2", "dead output",
                      "outcome"]
    assert info.left_out == 1  # the failed run has no accuracy
    assert "failed" not in set(grid.runs["status"].iloc[info.run_index])
    np.testing.assert_allclose(info.color, grid.runs["test_acc"].iloc[info.run_index])
    act = info.dimensions[0]
    assert [act.ticktext[int(v)] for v in act.values] == list(grid.runs["activation"].iloc[info.run_index])


def test_gradient_panel_names_the_true_gradient_and_the_book_update_step(grid):
    assert [p.key for p in views.panels(grid)] == ["accuracy", "loss", "dead", "gradient", "bands"]
    no_bands = _with(grid, layers=grid.layers.drop(columns=[c for c in grid.layers if c.startswith("z_")]))
    assert [p.key for p in views.panels(no_bands)] == ["accuracy", "loss", "dead", "gradient"]
    gradient = next(p for p in views.PANELS if p.key == "gradient")
    assert [s.column for s in gradient.series] == ["true_grad_w_norm", "grad_w_norm"]
    assert gradient.series[0].name == "true gradient |dL/dW|"
    runs = grid.runs.assign(backprop=np.where(grid.runs["seed"] == 0, "book", "exact"))
    names = views.step_names(runs)
    assert {n for n, b in zip(names, runs["backprop"]) if b == "book"} == {
        "update step of the book's rule (not a gradient)"}
    assert {n for n, b in zip(names, runs["backprop"]) if b == "exact"} == {""}  # the same line: drawn once


def test_bands_appear_with_pre_activation_percentiles(grid):
    z = {c: np.linspace(-1, 1, len(grid.layers)) for c in ("z_min", *views.BAND_COLUMNS, "z_p31", "z_p69", "z_max")}
    tables = _with(grid, layers=grid.layers.assign(**z))
    assert [p.key for p in views.panels(tables)][-1] == "bands"
    series = dashboard.series_data(tables, views.panels(tables))
    assert set(views.BAND_COLUMNS) <= set(series["layers"])


def test_series_offsets_slice_each_runs_rows(grid):
    series = dashboard.series_data(grid, views.panels(grid))
    runs = grid.runs.reset_index(drop=True)
    for i in (0, 5, len(runs) - 1):
        rid = runs["run_id"][i]
        a, b = series["epoch_offsets"][i], series["epoch_offsets"][i + 1]
        want = grid.epochs[grid.epochs["run_id"] == rid].sort_values("epoch")
        np.testing.assert_allclose(series["epochs"]["test_acc"][a:b], want["test_acc"])
        a, b = series["layer_offsets"][i * 3 + 1], series["layer_offsets"][i * 3 + 2]  # layer 2
        want = grid.layers[(grid.layers["run_id"] == rid) & (grid.layers["layer"] == 2)].sort_values("epoch")
        np.testing.assert_allclose(series["layers"]["dead_frac"][a:b], want["dead_frac"])


def test_round_significant_keeps_four_digits_and_nulls():
    assert page.round_significant(np.array([0.123456, 12345.6, -1.23456e-7, 0.0, np.nan, np.inf])) == [
        0.1235, 12350.0, -1.235e-07, 0.0, None, None]


@pytest.fixture(scope="module")
def written(grid, tmp_path_factory):
    out = tmp_path_factory.mktemp("dash")
    report.write_report(grid, out)
    path = dashboard.write_dashboard(grid, out, "tiny")
    return path.read_text()


def test_page_is_self_contained(written):
    assert not re.search(r"<script[^>]+src=", written)
    assert not re.search(r"<link[^>]+href=", written)
    assert written.count('id="plotly-js"') == 1
    js = page.read_packed(written, "plotly-js")
    assert len(js) > 1_000_000 and "Plotly" in js[:5000]


def test_page_data_holds_every_view(grid, written):
    data = json.loads(page.read_packed(written, "page-data"))
    assert data["runs"]["columns"] == list(grid.runs.columns)
    assert len(data["runs"]["data"][0]) == len(grid.runs)
    assert [f["column"] for f in data["filters"]] == ["activation", "init", "lr", "seed", "outcome"]
    assert data["heatmap"]["best"] == list(views.heatmap_info(grid).best)
    assert len(data["heatmap"]["run_cell"]) == len(grid.runs)
    assert [p["key"] for p in data["panels"]] == ["accuracy", "loss", "dead", "gradient", "bands"]
    assert data["parcoords"]["left_out"] == 1
    assert len(data["summary"]["data"][0]) == len(grid.summary)
    assert data["findings"] == report.findings(grid)  # the same sentences as report.md
    assert data["diagnosis"] is None
    summary_lr = next(f for f in data["filters"] if f["column"] == "lr")["summary_codes"]
    assert len(summary_lr) == len(grid.summary)
    assert next(f for f in data["filters"] if f["column"] == "seed")["summary_codes"] is None


def test_diagnosis_sections_come_from_diagnosis_md(tmp_path):
    (tmp_path / "diagnosis.md").write_text(
        "# Diagnosis: q\n\n## Findings\n\n- exact rescues it.\n- Criterion: ...\n\n## Per variant\n\n"
        "Dead: units.\n\n| variant | change |\n|---|---|\n| as_written | (as written) |\n| exact | backprop=exact \\| x |\n")
    sections = dashboard.report_sections(tmp_path)
    assert sections["findings"] == []
    assert sections["diagnosis"] == {"findings": ["exact rescues it.", "Criterion: ..."], "note": "Dead: units.",
                                     "table": {"header": ["variant", "change"],
                                               "rows": [["as_written", "(as written)"],
                                                        ["exact", "backprop=exact | x"]]}}


@pytest.mark.parametrize("results", [[], [make_result(status="failed"), make_result(seed=1, status="failed")],
                                     [make_result()], [make_result(status="diverged", diverged_epoch=0)]],
                         ids=["no runs", "all failed", "one run", "diverged at init"])
def test_degenerate_sweeps_still_get_a_page(tmp_path, results):
    tables = build_tables(results)
    data = json.loads(page.read_packed(dashboard.write_dashboard(tables, tmp_path).read_text(), "page-data"))
    assert len(data["heatmap"]["run_cell"]) == len(results)
    assert (data["heatmap"]["best"] is None) == (not results)
