"""Best cells, rankings and best epochs of plots and reports are chosen on validation
accuracy (test accuracy without a validation split); the optimizer is one more axis."""
from __future__ import annotations

import pytest

from experiments.analysis import dashboard_views, plots, report
from experiments.analysis.tables import build_tables
from experiments.config import RunConfig
from test_tables_selection import result

# (activation, lr) -> (validation curve, test curve): at lr 0.1 validation is
# higher, at lr 1 test is: the two splits disagree on each activation's best cell.
CURVES = {
    ("relu", 0.1): ([0.1, 0.9], [0.1, 0.5]),
    ("relu", 1.0): ([0.1, 0.6], [0.1, 0.95]),
    ("tanh", 0.1): ([0.1, 0.8], [0.1, 0.7]),
    ("tanh", 1.0): ([0.1, 0.5], [0.1, 0.9]),
}


@pytest.fixture(autouse=True)
def _close_figures():
    """The plot functions hand back open figures: close them (other tests count open ones)."""
    yield
    plots.plt.close("all")


def disagreeing(val_fraction: float = 0.1, **extra):
    results = []
    for (act, lr), (val, test) in CURVES.items():
        run = RunConfig(activation=act, lr=lr, seed=0, val_fraction=val_fraction, **extra)
        results.append(result(run, val if val_fraction else [None] * len(val), test))
    return build_tables(results)


def _write(tables, out_dir):
    plots.make_plots(tables, out_dir / "plots")
    return report.write_report(tables, out_dir).read_text()


@pytest.mark.parametrize("val_fraction, best_lr, best_test", [(0.1, 0.1, {"relu": 0.5, "tanh": 0.7}),
                                                              (0.0, 1.0, {"relu": 0.95, "tanh": 0.9})])
def test_best_cells_follow_the_selecting_split(val_fraction, best_lr, best_test):
    tables = disagreeing(val_fraction)
    best = plots.best_cells(tables)
    assert {g: cell["lr"] for g, cell in best.items()} == {"relu": best_lr, "tanh": best_lr}
    stats = report.group_stats(tables).set_index("group")
    # the test accuracy of the chosen cell is what is reported
    assert stats["best_acc"].to_dict() == pytest.approx(best_test)
    # the worst cell is the other one
    other = {0.1: 1.0, 1.0: 0.1}[best_lr]
    assert {g: cell["lr"] for g, cell in plots.worst_cells(tables).items()} == {"relu": other, "tanh": other}


def test_ranking_on_validation_reports_test_accuracy():
    tables = disagreeing()
    best = report.best_group(tables)
    # relu wins on validation (0.9 against 0.8) though its test accuracy is lower
    assert (best["group"], best["sel"], best["acc"], best["runner_acc"]) == ("relu", 0.9, 0.5, 0.7)
    sentence = report.findings(tables)[0]
    assert sentence.startswith("relu has the highest mean final validation accuracy at its best setting (lr=0.1)")
    assert "its test accuracy there is 0.500, 0.200 below that of the next, tanh (lr=0.1)" in sentence
    on_test = report.best_group(disagreeing(0.0))
    assert (on_test["group"], on_test["acc"]) == ("relu", 0.95)


def test_report_says_which_split_selects(tmp_path):
    text = _write(disagreeing(), tmp_path / "val")
    assert "selected on validation accuracy; test accuracy reported" in text
    assert "val_fraction 0" not in text
    cells = text.split("## Cells")[1].split("##")[0]
    # ranked on validation: lr=0.1 (val 0.9) above lr=1 (val 0.6) for relu, though test says otherwise
    rows = [line for line in cells.splitlines() if line.startswith("| relu")]
    assert rows[0].startswith("| relu | 0.1 | 0.900 | 0.500 |") and rows[1].startswith("| relu | 1 | 0.600 | 0.950 |")
    assert "test acc at best val epoch (mean)" in cells
    text = _write(disagreeing(0.0), tmp_path / "test")
    assert "val_fraction 0: selection is on test accuracy" in text and "final val acc" not in text


def test_dashboard_preselects_the_same_best_cell():
    tables = disagreeing()
    info = dashboard_views.heatmap_info(tables)
    facet, row, col = info.best
    assert (info.rows[row], info.cols[col]) == ("relu", 0.1)


def test_learning_curves_draw_validation_accuracy_too():
    fig = plots.plot_learning_curves(disagreeing())
    texts = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert "validation accuracy (mean over seeds)" in texts
    assert "Test and validation accuracy" in fig._suptitle.get_text()
    # a test and a validation line per activation and panel
    assert all(len(ax.lines) == 4 for ax in fig.axes if ax.get_visible() and ax.get_title())
    fig = plots.plot_learning_curves(disagreeing(0.0))
    assert not fig.legends and fig._suptitle.get_text().startswith("Test accuracy")


def test_stopped_early_is_told():
    run = RunConfig(seed=0, early_stopping=1)
    tables = build_tables([result(run, [0.2, 0.9, 0.5], [0.1, 0.6, 0.8], stopped=2, best=1)])
    assert report.seed_values(tables.runs) == "0.60 (stopped at 2)"
    text = report._stopped_sentence(tables)
    assert text.startswith("1 of 1 runs stopped early") and "at epoch 2" in text


def test_optimizer_splits_report_and_plots(tmp_path):
    results = []
    for opt in ("sgd", "adam"):
        for (act, lr), (val, test) in CURVES.items():
            shift = 0.05 if opt == "adam" else 0.0
            run = RunConfig(activation=act, lr=lr, seed=0, optimizer=opt)
            results.append(result(run, [v + shift for v in val], [t + shift for t in test]))
    tables = build_tables(results)
    assert "optimizer" in tables.axes
    assert [opt for opt, _ in plots.optimizer_splits(tables)] == ["sgd", "adam"]
    shares = plots.outcome_shares(tables)
    assert set(shares["optimizer"]) == {"sgd", "adam"} and len(shares) == 8  # 2 activations x 2 optimizers x 2 lrs
    heat = plots.plot_accuracy_heatmap(tables)
    titles = [ax.get_title() for ax in heat.axes if ax.get_title()]
    assert "init = he_normal, optimizer = adam" in titles and "init = he_normal, optimizer = sgd" in titles
    curves = plots.plot_learning_curves(tables)
    assert sum("optimizer = adam" in ax.get_title() for ax in curves.axes) == 2  # best and worst row
    text = _write(tables, tmp_path)
    section = text.split("## Per activation and optimizer")[1].split("##")[0]
    assert "| relu | adam | lr=0.1 | 0.950 | 0.550 (n=1) |" in section
    assert "| tanh | sgd | lr=0.1 | 0.800 | 0.700 (n=1) |" in section
    # without an optimizer axis there is no such section
    assert "## Per activation and optimizer" not in _write(disagreeing(), tmp_path / "one")


def test_accuracy_bars_are_ordered_by_validation_and_show_it():
    # one activation, two initializers: no heatmap, bars; validation and test disagree
    results = [result(RunConfig(init=init, seed=0), val, test)
               for init, (val, test) in (("he_normal", ([0.1, 0.9], [0.1, 0.5])),
                                         ("lecun_normal", ([0.1, 0.6], [0.1, 0.95])))]
    fig = plots.plot_accuracy_bars(build_tables(results))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["relu (init=lecun_normal)", "relu (init=he_normal)"]
    notes = [t.get_text() for t in ax.texts]
    assert any(n.startswith("0.500 (val 0.900)") for n in notes)
