"""report.md from hand-made run results: sections, links, and findings that follow the numbers.

The results come from the builders of ``tests/test_plots.py``: relu beats
sigmoid (0.905 vs 0.805 at their best cells), relu's first layer ends 30%
dead at lr 1.0 (2% at init), sigmoid's gradient vanishes toward the input
(ratio 0.01), relu diverges once at lr 1.0, and the best initializer is
he_normal for relu and glorot_uniform for sigmoid.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.analysis import outcomes, report
from experiments.analysis.tables import build_tables
from test_plots import grid_results, make_result, variant_results

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(scope="module")
def grid():
    return build_tables(grid_results())


def _write(tables, out_dir, config: str | None = None, plots: tuple[str, ...] = ()):
    out_dir.mkdir(exist_ok=True)
    if config is not None:
        (out_dir / "config.yaml").write_text(config)
    if plots:
        (out_dir / "plots").mkdir()
        for name in plots:
            (out_dir / "plots" / name).write_bytes(b"png")
    return report.write_report(tables, out_dir).read_text()


def _findings(text: str) -> list[str]:
    section = text.split("## Findings", 1)[1].split("\n## ", 1)[0]
    return [line[2:] for line in section.splitlines() if line.startswith("- ")]


@pytest.mark.parametrize(
    "mean, ci, expected",
    [(0.91234, 0.0131, "0.912 ± 0.013"), (0.5, math.nan, "0.500"), (math.nan, 0.1, "n/a"),
     (0.403, 0.524, "0.403 (95% CI 0.000 to 0.927)"), (0.97, 0.05, "0.970 (95% CI 0.920 to 1.000)"),
     (math.nan, math.nan, "n/a"), (None, None, "n/a"), (np.float64(0.25), np.float64(0.05), "0.250 ± 0.050"),
     (0.5, math.inf, "0.500")],
)
def test_format_ci(mean, ci, expected):
    assert report.format_ci(mean, ci) == expected


def test_format_pct():
    assert [report.format_pct(x) for x in (0.3, 0.0, 0.004, math.nan)] == ["30%", "0%", "0.4%", "n/a"]


def test_report_sections(tmp_path, grid):
    text = _write(grid, tmp_path, config="name: tiny\nlrs: [0.1, 1.0]\n",
                  plots=("accuracy_heatmap.png", "gradient_flow.png"))
    assert text.startswith("# Sweep report: tiny\n")
    assert "```yaml\nname: tiny\nlrs: [0.1, 1.0]\n```" in text
    assert "| ok | 16 |" in text and "| diverged | 1 |" in text and "| failed | 1 |" in text
    assert "`ValueError: synthetic failure` (1 run)" in text
    # 8 cells: all listed, best first, mean ± CI of the two seeds.
    assert "All cells, best first:" in text
    best_row = next(line for line in text.splitlines() if line.startswith("| relu | he_normal | 0.1 |"))
    assert "0.905 ± 0.064" in best_row
    # Per-activation table: best cell and dead fractions per layer.
    relu_row = next(line for line in text.splitlines() if line.startswith("| relu | init=he_normal, lr=0.1 |"))
    assert "0.905 ± 0.064 (n=2)" in relu_row and "2% / 0% / 0%" in relu_row
    assert relu_row.endswith("| 1/9 diverged, 8/9 learned |")
    # Every seed of a cell, and the outcomes section with the definitions.
    assert "| relu | he_normal | 0.1 | 0.905 ± 0.064 | 0.90, 0.91 | 0.905 | 2/2 learned |" in text
    assert outcomes.markdown_table() in text
    # Links to the plots that exist, relative to report.md, and only those.
    assert "(plots/accuracy_heatmap.png)" in text and "(plots/gradient_flow.png)" in text
    assert "learning_curves.png" not in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_many_cells_show_best_and_worst_five(tmp_path):
    results = [make_result(lr=lr, seed=s, final_acc=0.1 + 0.06 * i) for i, lr in
               enumerate([0.001 * 2**k for k in range(12)]) for s in (0, 1)]
    text = _write(build_tables(results), tmp_path)
    best, worst = text.split("Best 5 cells:")[1].split("Worst 5 cells:")
    worst = worst.split("##")[0]
    assert "| 2.048 | 0.760 ± 0.000 | 0.76, 0.76 | 0.760 | 2/2 learned |" in best and "| 0.001 |" not in best
    assert "| 0.001 | 0.100 ± 0.000 | 0.10, 0.10 | 0.100 | 2/2 collapsed |" in worst and "| 2.048 |" not in worst
    assert "No `config.yaml`" in text


def test_winner_follows_the_numbers(tmp_path):
    relu_wins = _findings(_write(build_tables(grid_results()), tmp_path / "a"))
    assert relu_wins[0].startswith("relu has the highest mean final test accuracy at its best setting "
                                   "(init=he_normal, lr=0.1): 0.905 ± 0.064, 0.100 above the next best, sigmoid")
    sigmoid_wins = _findings(_write(build_tables(grid_results({"sigmoid": 0.15})), tmp_path / "b"))
    assert sigmoid_wins[0].startswith("sigmoid has the highest mean final test accuracy at its best setting "
                                      "(init=glorot_uniform, lr=1): 0.955 (95% CI 0.891 to 1.000), 0.050 above the "
                                      "next best, relu")
    assert "confidence intervals overlap" in sigmoid_wins[0]


def test_best_group_and_ties(grid):
    best = report.best_group(grid)
    assert (best["group"], best["runner_up"]) == ("relu", "sigmoid")
    assert best["margin"] == pytest.approx(0.1) and best["tied"] == ["relu"]
    tie = build_tables(grid_results({"sigmoid": 0.1}))
    assert report.best_group(tie)["tied"] == ["sigmoid", "relu"] or report.best_group(tie)["tied"] == ["relu", "sigmoid"]
    assert "tie for the highest" in report.findings(tie)[0]


def test_comparisons_need_two_activations(tmp_path):
    one = build_tables([make_result("relu", lr=lr, seed=s, final_acc=0.8) for lr in (0.1, 1.0) for s in (0, 1)])
    assert report.best_group(one) is None
    sentences = report.findings(one)
    assert not any("highest" in s for s in sentences)
    assert "No run diverged." in sentences
    _write(one, tmp_path)  # and the whole report builds


def test_dead_unit_findings(grid):
    table = report.dead_unit_findings(grid)
    assert table[["group", "layer"]].values.tolist() == [["relu", 1]]
    row = table.iloc[0]
    assert row["dead_end"] == pytest.approx(0.3) and row["dead_init"] == pytest.approx(0.02)
    sentence = next(s for s in report.findings(grid) if "dead units" in s)
    assert sentence.startswith("relu ends training with more than 10% dead units in hidden layer 1 (30%")
    assert "died during training: 2% at initialization" in sentence
    # A higher threshold: nothing to report, and the report says so.
    assert report.dead_unit_findings(grid, threshold=0.5).empty


def test_dead_from_the_start_is_told_apart():
    results = [make_result("relu", seed=s, dead_init=(0.4, 0.0, 0.0), dead_end=(0.45, 0.0, 0.0)) for s in (0, 1)]
    results += [make_result("tanh", seed=s) for s in (0, 1)]
    sentences = report.findings(build_tables(results))
    assert any(s.startswith("relu ends training") and "mostly dead from the start: 40% at initialization" in s
               for s in sentences)


def test_divergence_by_lr(grid):
    table = report.divergence_by_lr(grid)
    assert table.values.tolist() == [["relu", 1.0, 1, 5]]
    sentences = report.findings(grid)
    assert "relu diverged at lr=1 (1 of 5 runs)." in sentences
    assert "No run of sigmoid diverged." in sentences


def test_gradient_ratio_at_init(grid):
    ratio = report.gradient_ratio_at_init(grid)
    assert ratio["sigmoid"] == pytest.approx(0.01) and ratio["relu"] == pytest.approx(0.8)
    sentences = report.findings(grid)
    assert "The gradient vanishes toward the input (ratio below 0.1) for sigmoid." in sentences
    assert not any("grows toward the input" in s for s in sentences)


def test_best_init_by_activation(grid):
    table = report.best_init_by_group(grid).set_index("group")
    assert table.loc["relu", "init"] == "he_normal" and table.loc["sigmoid", "init"] == "glorot_uniform"
    assert ("The best initializer differs by activation: glorot_uniform for sigmoid; he_normal for relu."
            in report.findings(grid))
    no_init_axis = build_tables(variant_results())
    assert report.best_init_by_group(no_init_axis).empty


def test_variants_report(tmp_path):
    text = _write(build_tables(variant_results()), tmp_path)
    assert "## Per variant" in text
    assert _findings(text)[0].startswith("exact has the highest mean final test accuracy at its best setting: "
                                         "0.905 ± 0.064, 0.200 above the next best, as_written")


@pytest.mark.parametrize(
    "results, expected",
    [
        pytest.param([], "There are no runs, so there is nothing to compare.", id="no-runs"),
        pytest.param([make_result(act, status="failed") for act in ("relu", "tanh")],
                     "All 2 runs failed, so there is nothing to compare.", id="all-failed"),
    ],
)
def test_degenerate_reports(tmp_path, results, expected):
    text = _write(build_tables(results), tmp_path)
    assert _findings(text) == [expected]


def test_single_run_report(tmp_path):
    text = _write(build_tables([make_result(final_acc=0.8)]), tmp_path)
    assert "0.800 (n=1)" in text  # no CI from one seed
    assert "No plots" in text


def test_outcome_and_split_sentences(tmp_path):
    # One cell whose seeds split: two learn, one collapses; tanh learns everywhere.
    results = [make_result("relu", seed=s, final_acc=acc) for s, acc in ((0, 0.75), (1, 0.97), (2, 0.1))]
    results += [make_result("tanh", seed=s, final_acc=0.9) for s in (0, 1, 2)]
    tables = build_tables(results)
    sentences = report.findings(tables)
    assert "Outcomes of all 6 runs: 1/6 collapsed, 5/6 learned (definitions below)." in sentences
    assert "relu did not learn in every run: 1 collapsed of 3 runs." in sentences
    assert "relu: the seeds split: 2 of 3 seeds learned (75%, 97%); 1 collapsed (10%)." in sentences
    assert not any(s.startswith("tanh") and "split" in s for s in sentences)
    assert report.outcome_split(tables.runs[tables.runs["activation"] == "tanh"]) is None


def test_variant_reports_have_no_initializer_finding():
    results = [make_result("relu", init=init, seed=s, variant=name, final_acc=0.9)
               for name, init in (("a", "he_normal"), ("b", "glorot_uniform")) for s in (0, 1)]
    tables = build_tables(results)
    assert "init" in tables.axes  # it varies, but only between variants
    assert report.best_init_by_group(tables).empty
    assert not any("initializer" in s for s in report.findings(tables))


def test_not_diverged_is_not_called_healthy():
    results = [make_result("relu", seed=s, final_acc=0.1, status="diverged", diverged_epoch=2) for s in (0, 1)]
    results += [make_result("tanh", seed=s, final_acc=0.1) for s in (0, 1)]  # collapsed, finite
    results += [make_result("sigmoid", seed=s, final_acc=0.9) for s in (0, 1)]
    sentences = report.findings(build_tables(results))
    assert ("No run of sigmoid and tanh diverged (NaN/inf); tanh failed otherwise, as the outcomes above say."
            in sentences)
