"""``plot --where``: the filter, its errors, the files; and no figure repeats a colour+style pair in a panel."""
from __future__ import annotations

import json

import pytest
from matplotlib.colors import to_rgba

from experiments import cli
from experiments.analysis import plots, selection
from experiments.analysis.tables import build_tables
from test_plots import grid_results, make_result

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(scope="module")
def grid():
    return build_tables(grid_results())


def test_filter_keeps_matching_runs(grid):
    where = selection.parse_where(["activation=relu", "lr=1.0"], grid.runs)
    picked = selection.select(grid, where)
    assert set(picked.runs["activation"]) == {"relu"} and set(picked.runs["lr"]) == {1.0}
    assert len(picked.runs) == 5  # 2 inits x 2 seeds + the diverged seed 2
    assert set(picked.layers["run_id"]) == set(picked.runs["run_id"])
    # 1 and 1.0 are the same learning rate; a comma means any of the values.
    assert len(selection.select(grid, selection.parse_where(["lr=1"], grid.runs)).runs) == 9
    both = selection.parse_where(["init=he_normal,glorot_uniform", "outcome=diverged"], grid.runs)
    assert list(selection.select(grid, both).runs["seed"]) == [2]
    assert selection.folder_name(where) == "selected-activation=relu_lr=1.0"


@pytest.mark.parametrize("items, message", [
    (["activaton=relu"], "unknown key 'activaton'; valid keys: variant, data,"),
    (["activation=rellu"], "activation=rellu: no run has this value; valid values of activation: relu, sigmoid"),
    (["lr=fast"], "lr=fast: no run has this value; valid values of lr: 0.1, 1"),
    (["activation"], "expected KEY=VALUE"),
    ([], "at least one --where"),
])
def test_bad_filters_name_the_valid_choices(grid, items, message):
    with pytest.raises(selection.SelectionError) as err:
        selection.parse_where(items, grid.runs)
    assert message in str(err.value)


def test_no_run_matches_all_filters(grid):
    where = selection.parse_where(["activation=sigmoid", "outcome=diverged"], grid.runs)
    with pytest.raises(selection.SelectionError, match="no run matches activation=sigmoid and outcome=diverged"):
        selection.select(grid, where)


def _store(tmp_path, results):
    (tmp_path / "runs").mkdir()
    for r in results:
        (tmp_path / "runs" / f"{r['run_id']}.json").write_text(json.dumps(r))


def test_cli_writes_the_plots_and_errors_in_one_line(tmp_path, capsys):
    results = grid_results()
    for r in results:
        for row in r["layers"]:
            row.update({c: float(i) for i, c in enumerate(selection.BAND_COLUMNS)})
    _store(tmp_path, results)
    assert cli.main(["plot", str(tmp_path), "--where", "activation=relu", "--where", "lr=1"]) == 0
    folder = tmp_path / "plots" / "selected-activation=relu_lr=1"
    assert {p.name for p in folder.glob("*.png")} == set(selection.SELECTED_PLOTS)
    capsys.readouterr()
    assert cli.main(["plot", str(tmp_path), "--where", "init=book"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --where init=book: no run has this value; valid values "
                                                   "of init: glorot_uniform, he_normal")


def _line_styles(fig):
    """Per axes, the (colour, line style, marker) of every drawn line with a visible style."""
    for ax in fig.axes:
        seen = []
        for line in ax.get_lines():
            if line.get_linestyle() in ("None", "", " "):
                continue  # markers only (zeros at the floor)
            seen.append((to_rgba(line.get_color()), line.get_linestyle(), line.get_marker()))
        yield ax, seen


def _assert_no_panel_repeats_a_style(name, fig):
    """No panel of ``fig`` (None: a plot without data) draws two lines alike; the figure is closed after."""
    if fig is None:
        return
    try:
        for ax, seen in _line_styles(fig):
            assert len(seen) == len(set(seen)), (name, ax.get_title())
    finally:
        plots.plt.close(fig)


def _variants_sweep(n: int):
    return build_tables([make_result("relu", seed=s, final_acc=0.2 + 0.7 * i / n, variant=f"v{i:02d}",
                                     lr=0.1 * (1 + i % 2)) for i in range(n) for s in (0, 1)])


@pytest.mark.parametrize("tables", [pytest.param(build_tables(grid_results()), id="grid"),
                                    pytest.param(_variants_sweep(16), id="16-variants")])
def test_no_panel_repeats_a_colour_and_style(tables):
    for name, draw in plots.PLOTTERS.items():
        _assert_no_panel_repeats_a_style(name, draw(tables))
    styles = plots.group_styles(tables)
    assert len(set(styles.values())) == len(styles)


def test_selected_plots_give_every_run_its_own_style():
    tables = _variants_sweep(16)  # 32 runs: more than the palette's colours
    for name, draw in selection.SELECTED_PLOTS.items():
        _assert_no_panel_repeats_a_style(name, draw(tables, "test"))
