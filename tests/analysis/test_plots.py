"""Plots from hand-made run results: every file written, degenerate sweeps survive.

The results are shaped like those of :func:`experiments.train.train_group`
(see :func:`make_result`), so the tables come from the real
:func:`experiments.analysis.tables.build_tables`. ``tests/test_report.py`` uses the
same builders.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import nn
from experiments import config as cfg
from experiments.analysis import plots
from experiments.runner import run_sweep
from experiments.config import RunConfig
from experiments.analysis.tables import build_tables

# Any warning is an error here: make_plots turns a crashing plot into a warning.
pytestmark = pytest.mark.filterwarnings("error")

SIZES = [64, 32, 32, 10]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GRID_FILES = {"accuracy_heatmap.png", "outcomes.png", "learning_curves.png", "dead_units.png", "gradient_flow.png",
              "dead_init_vs_trained.png"}
VARIANT_FILES = GRID_FILES - {"accuracy_heatmap.png"} | {"accuracy_bars.png"}

# Final test accuracy by activation, learning rate and initializer (seeds add
# a little noise). relu is best with he_normal, sigmoid with glorot_uniform.
BASE_ACC = {"relu": 0.90, "sigmoid": 0.80}
LR_PENALTY = {"relu": {0.1: 0.0, 1.0: 0.10}, "sigmoid": {0.1: 0.20, 1.0: 0.0}}
INIT_PENALTY = {"relu": {"he_normal": 0.0, "glorot_uniform": 0.05},
                "sigmoid": {"he_normal": 0.05, "glorot_uniform": 0.0}}
# Per-layer |dL/dW| at init: sigmoid vanishes toward the input (ratio 0.01).
GRADS = {"relu": (0.8, 0.9, 1.0), "sigmoid": (0.01, 0.1, 1.0)}


def make_result(
    activation: str = "relu",
    init: str = "he_normal",
    lr: float = 0.1,
    seed: int = 0,
    final_acc: float = 0.9,
    status: str = "ok",
    epochs: int = 4,
    dead_init: tuple[float, ...] = (0.0, 0.0, 0.0),
    dead_end: tuple[float, ...] = (0.0, 0.0, 0.0),
    grads: tuple[float, ...] = (1.0, 1.0, 1.0),
    diverged_epoch: int | None = None,
    variant: str = "",
) -> dict:
    """One run result as ``train_group`` returns it; ``failed`` runs have no epochs."""
    config = RunConfig(variant=variant, activation=activation, init=init, lr=lr, seed=seed, epochs=epochs)
    result = {
        "run_id": config.run_id, "config": config.flat(), "status": status,
        "error": "ValueError: synthetic failure" if status == "failed" else None,
        "diverged_epoch": diverged_epoch, "epochs_done": 0, "sizes": None if status == "failed" else SIZES,
        "seconds": 0.01, "epochs": [], "layers": [],
    }
    if status == "failed":
        return result
    last = diverged_epoch if diverged_epoch is not None else epochs
    for e in range(last + 1):
        t = e / epochs
        broken = e == diverged_epoch
        result["epochs"].append({
            "epoch": e, "train_loss": math.nan if broken else 2.3 * (1 - t) + 0.1,
            "train_acc": 0.1 + (final_acc - 0.1) * t, "test_acc": 0.1 if broken else 0.1 + (final_acc - 0.1) * t,
        })
        for layer in range(1, len(SIZES)):
            metrics = {m: 0.5 for m in nn.LAYER_METRICS}
            dead = 1.0 if broken else dead_init[layer - 1] + (dead_end[layer - 1] - dead_init[layer - 1]) * t
            metrics.update(
                dead_frac=dead, dead_units=round(dead * SIZES[layer]),
                grad_w_norm=math.nan if broken else grads[layer - 1] * (1 + t),
                true_grad_w_norm=math.nan if broken else grads[layer - 1] * (1 + t),
            )
            result["layers"].append({"epoch": e, "layer": layer, **metrics})
    result["epochs_done"] = last
    return result


def grid_results(acc_offset: dict[str, float] | None = None) -> list[dict]:
    """2 activations x 2 lrs x 2 inits x 2 seeds, plus a diverged and a failed run (seed 2).

    relu at lr 1.0 ends with 30% dead units in hidden layer 1 (2% at init).
    ``acc_offset`` shifts an activation's accuracies, to change the winner.
    """
    acc_offset = acc_offset or {}
    results = []
    for act in ("relu", "sigmoid"):
        for lr in (0.1, 1.0):
            for init in ("he_normal", "glorot_uniform"):
                for seed in (0, 1):
                    acc = (BASE_ACC[act] - LR_PENALTY[act][lr] - INIT_PENALTY[act][init]
                           + acc_offset.get(act, 0.0) + 0.01 * seed)
                    dead_end = (0.3, 0.05, 0.0) if act == "relu" and lr == 1.0 else (0.02, 0.0, 0.0)
                    results.append(make_result(act, init, lr, seed, final_acc=min(acc, 1.0),
                                               dead_init=(0.02, 0.0, 0.0), dead_end=dead_end, grads=GRADS[act]))
    results.append(make_result("relu", "he_normal", 1.0, 2, final_acc=0.5, status="diverged", diverged_epoch=2,
                               grads=GRADS["relu"]))
    results.append(make_result("sigmoid", "glorot_uniform", 0.1, 2, status="failed"))
    return results


def variant_results() -> list[dict]:
    """A variants sweep: two named variants of relu, 2 seeds each."""
    return [
        make_result("relu", seed=s, final_acc=acc + 0.01 * s, variant=name, dead_end=(0.1, 0.0, 0.0))
        for name, acc in (("as_written", 0.7), ("exact", 0.9)) for s in (0, 1)
    ]


def _check_pngs(paths: list[Path], plot_dir: Path, expected: set[str]) -> None:
    assert {p.name for p in paths} == expected
    assert {p.name for p in plot_dir.glob("*.png")} == expected
    for p in paths:
        assert p.parent == plot_dir
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 1000
    assert not list(plot_dir.glob(".*.tmp"))


def test_grid_writes_every_plot(tmp_path):
    tables = build_tables(grid_results())
    assert tables.axes == ["activation", "init", "lr"]
    paths = plots.make_plots(tables, tmp_path / "plots")
    _check_pngs(paths, tmp_path / "plots", GRID_FILES)
    assert not plots.plt.get_fignums(), "every figure is closed"


def test_variants_draw_bars_instead_of_heatmap(tmp_path):
    tables = build_tables(variant_results())
    assert tables.axes == ["variant"]
    paths = plots.make_plots(tables, tmp_path)
    _check_pngs(paths, tmp_path, VARIANT_FILES)


def test_single_run_writes_every_plot(tmp_path):
    paths = plots.make_plots(build_tables([make_result()]), tmp_path)
    _check_pngs(paths, tmp_path, VARIANT_FILES)  # nothing varies: bars, not a heatmap


def test_heatmap_with_one_activation_and_one_init(tmp_path):
    tables = build_tables([make_result(lr=lr, final_acc=0.5) for lr in (0.1, 1.0)])
    assert tables.axes == ["lr"]
    assert plots.plot_accuracy_bars(tables) is None
    fig = plots.plot_accuracy_heatmap(tables)
    plots._save(fig, tmp_path / "accuracy_heatmap.png")
    assert (tmp_path / "accuracy_heatmap.png").read_bytes()[:8] == PNG_MAGIC


def test_heatmap_cells_say_their_accuracy_and_outcomes():
    tables = build_tables(grid_results())
    fig = plots.plot_accuracy_heatmap(tables)
    try:
        labels = {ax.get_title(): next(c for c in ax.collections if isinstance(c, plots.PathLabels))
                  for ax in fig.axes if ax.get_title()}
        assert set(labels) == {"init = he_normal", "init = glorot_uniform"}
        texts = labels["init = he_normal"].texts
        assert len(texts) == 4  # relu and sigmoid x lr 0.1 and 1
        # relu, he_normal, lr 1: two seeds learned, the third diverged (at 0.5); its mean over all three.
        runs = tables.runs
        cell = runs[(runs["activation"] == "relu") & (runs["init"] == "he_normal") & (runs["lr"] == 1.0)]
        assert len(cell) == 3
        assert f"{cell['test_acc'].mean():.2f}\n2/3 learned\n1/3 diverged" in texts
        assert labels["init = he_normal"].get_zorder() > max(im.get_zorder() for im in fig.axes[0].images)
    finally:
        plots.plt.close(fig)


def _ink_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) rows and columns of the non-white pixels of an RGBA image."""
    rows, cols = np.nonzero(pixels[..., :3].min(axis=-1) < 0.5)
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.mark.parametrize("text, size, linespacing", [("0.97", 7, 1.2), ("0.16\n2/3 collapsed\n1/3 partial", 7, 1.1),
                                                     ("not run", 8, 1.2), ("gy\nTg", 12, 1.5)])
def test_cell_labels_lie_where_ax_text_puts_them(text, size, linespacing):
    """The outlines cover what ``ax.text`` draws centred on the same point, to about a pixel."""
    def drawn(label: bool) -> np.ndarray:
        fig, ax = plots.plt.subplots(figsize=(3, 2), dpi=plots.DPI)
        ax.set_axis_off()
        ax.set(xlim=(0, 1), ylim=(0, 1))
        if label:
            plots._cell_labels(ax, [(0.5, 0.5, text, "black", size)], linespacing=linespacing)
        else:
            ax.text(0.5, 0.5, text, fontsize=size, ha="center", va="center", linespacing=linespacing)
        fig.canvas.draw()
        pixels = np.asarray(fig.canvas.buffer_rgba(), dtype=float) / 255
        plots.plt.close(fig)
        return pixels

    ours, theirs = _ink_box(drawn(True)), _ink_box(drawn(False))
    assert np.abs(np.subtract(ours, theirs)).max() <= 2, (ours, theirs)


def test_cell_labels_keep_their_texts_colours_and_places():
    fig, ax = plots.plt.subplots()
    try:
        assert plots._cell_labels(ax, []) is None
        labels = plots._cell_labels(ax, [(0, 1, "a\nb", "white", 7), (2, 3, "", "black", 8)])
        assert labels.texts == ("a\nb", "")
        assert labels.get_offsets().tolist() == [[0, 1], [2, 3]]
        assert labels.get_facecolors()[:, :3].tolist() == [[1, 1, 1], [0, 0, 0]]
        assert len(labels.get_paths()[1].vertices) == 0  # an empty label draws nothing
        assert not labels.get_in_layout()
    finally:
        plots.plt.close(fig)


def test_all_failed_writes_nothing_and_removes_stale_files(tmp_path):
    (tmp_path / "learning_curves.png").write_bytes(b"old")
    (tmp_path / "notes.png").write_bytes(b"not ours")
    results = [make_result(act, seed=s, status="failed") for act in ("relu", "tanh") for s in (0, 1)]
    assert plots.make_plots(build_tables(results), tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["notes.png"]


def test_no_runs_at_all(tmp_path):
    assert plots.make_plots(build_tables([]), tmp_path / "plots") == []
    assert not (tmp_path / "plots").exists()


def test_all_diverged_at_init_keeps_what_has_data():
    # Diverged at epoch 0: accuracy exists (chance), every gradient norm is NaN.
    results = [make_result(act, seed=s, final_acc=0.1, status="diverged", diverged_epoch=0)
               for act in ("relu", "tanh") for s in (0, 1)]
    tables = build_tables(results)
    drawn = {name: draw(tables) for name, draw in plots.PLOTTERS.items()}
    try:
        assert {name for name, fig in drawn.items() if fig is not None} == {
            "accuracy_heatmap.png", "outcomes.png", "learning_curves.png", "dead_units.png"}
        # Left out: gradient_flow (no finite gradient), dead_init_vs_trained (no run finished).
    finally:
        for fig in drawn.values():
            if fig is not None:
                plots.plt.close(fig)


def test_best_cells_pick_highest_mean_accuracy():
    tables = build_tables(grid_results())
    best = plots.best_cells(tables)
    assert list(best) == ["sigmoid", "relu"]  # nn.ACTIVATIONS order
    assert (best["relu"]["lr"], best["relu"]["init"]) == (0.1, "he_normal")
    assert (best["sigmoid"]["lr"], best["sigmoid"]["init"]) == (1.0, "glorot_uniform")
    runs = plots.cell_runs(tables, best["relu"])
    assert sorted(runs["seed"]) == [0, 1]
    assert plots.cell_label(tables, best["relu"], skip=["activation"]) == "init=he_normal, lr=0.1"


def test_group_column_and_colors():
    grid, variants = build_tables(grid_results()), build_tables(variant_results())
    assert plots.group_column(grid) == "activation"
    assert plots.group_column(variants) == "variant"
    assert plots.group_values(variants) == ["as_written", "exact"]
    # An activation has the same colour in every sweep.
    single = build_tables([make_result("sigmoid")])
    assert plots.group_colors(single)["sigmoid"] == plots.group_colors(grid)["sigmoid"]
    assert plots.group_colors(grid)["relu"] != plots.group_colors(grid)["sigmoid"]


def test_epoch_curve_means_over_seeds_and_holds_diverged_runs():
    tables = build_tables(grid_results())
    cell = tables.runs[(tables.runs["activation"] == "relu") & (tables.runs["lr"] == 1.0)
                       & (tables.runs["init"] == "he_normal")]
    assert sorted(cell["status"]) == ["diverged", "ok", "ok"]
    held = plots.epoch_curve(tables.epochs, cell["run_id"], "test_acc", hold=True)
    assert list(held.index) == [0, 1, 2, 3, 4] and (held["n"] == 3).all()
    final = cell["test_acc"].mean()  # what the summary reports for the cell
    assert held["mean"].iloc[-1] == pytest.approx(final)
    grads = plots.epoch_curve(tables.layers, cell["run_id"], "grad_w_norm", layer=1)
    assert grads.loc[2, "n"] == 2  # the diverged run's NaN is left out
    assert np.isfinite(grads["mean"]).all()


def test_dead_init_vs_end_uses_runs_that_finished():
    table = plots.dead_init_vs_end(build_tables(grid_results()))
    relu1 = table[(table["group"] == "relu") & (table["layer"] == 1)].iloc[0]
    assert relu1["init"] == pytest.approx(0.02)
    assert relu1["end"] == pytest.approx((0.3 * 4 + 0.02 * 4) / 8)  # the diverged run is left out
    assert sorted(table["layer"].unique()) == [1, 2]  # hidden layers only


def test_outcome_shares_split_by_lr_only_where_a_group_has_several():
    grid = plots.outcome_shares(build_tables(grid_results()))
    relu_1 = grid[(grid["group"] == "relu") & (grid["lr"] == 1.0)].iloc[0]
    assert (relu_1["runs"], relu_1["n_diverged"], relu_1["n_learned"]) == (5, 1, 4)
    assert set(grid["lr"]) == {0.1, 1.0}
    variants = plots.outcome_shares(build_tables(
        [make_result(lr=lr, variant=name, seed=s, final_acc=acc) for name, lr, acc in
         (("slow", 0.01, 0.1), ("fast", 0.1, 0.9)) for s in (0, 1)]))
    assert variants["lr"].isna().all()  # each variant fixes its own lr
    assert variants.set_index("group")[["n_collapsed", "n_learned"]].to_dict("index") == {
        "slow": {"n_collapsed": 2, "n_learned": 0}, "fast": {"n_collapsed": 0, "n_learned": 2}}


def test_outcome_bars_hold_every_segment_and_its_count():
    tables = build_tables(grid_results())
    shares = plots.outcome_shares(tables)
    fig = plots.plot_outcomes(tables)
    try:
        for ax in fig.axes[:2]:  # one panel per learning rate
            lr = float(ax.get_title().split("= ")[1])
            rows = shares[shares["lr"] == lr].set_index("group").reindex(plots.group_values(tables))
            counts = rows[[f"n_{name}" for name in plots.outcomes.NAMES]].to_numpy()
            bars = next(c for c in ax.collections if isinstance(c, plots.PolyCollection))
            assert len(bars.get_paths()) == np.count_nonzero(counts)  # one rectangle per segment
            widths = sorted(round(float(np.ptp(p.vertices[:, 0])), 9) for p in bars.get_paths())
            assert widths == sorted(round(float(k / n), 9) for row, n in zip(counts, rows["runs"]) for k in row if k)
            labels = next(c for c in ax.collections if isinstance(c, plots.PathLabels))
            assert sorted(labels.texts) == sorted(str(int(k)) for row, n in zip(counts, rows["runs"])
                                                  for k in row if k / n >= 0.06)
    finally:
        plots.plt.close(fig)


def test_layer_names_whatever_the_depth(tmp_path):
    assert [plots.layer_name(l, 3) for l in (1, 2, 3)] == ["hidden layer 1", "hidden layer 2", "output layer"]
    assert [plots.layer_name(l, 2) for l in (1, 2)] == ["hidden layer 1", "output layer"]
    # Depths mixed in one sweep: layer 2 is an output for some nets, hidden for others.
    assert [plots.layer_name(l, 3, [2, 3]) for l in (1, 2, 3)] == [
        "hidden layer 1", "layer 2: output of the 2-layer nets (hidden in the deeper ones)",
        "layer 3: output of the 3-layer nets"]
    # hidden=32: one hidden layer, then the output layer; nothing calls it "hidden layer 2".
    sweep = cfg.parse_set(cfg.load(cfg.CONFIG_DIR / "default.yaml"),
                          ["hidden=32", "activations=relu", "inits=he_normal", "lrs=0.1", "seeds=0",
                           "epochs=1", "train_size=100", "test_size=50", "probe_size=16", "dtype=float64"])
    run_sweep(sweep, tmp_path, jobs=1, progress=False)
    tables = build_tables(json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json"))
    assert plots.run_depths(tables) == [2] and plots.n_layers(tables) == 2
    assert plots.layer_label(tables, 2) == "output layer"
    text = (tmp_path / "report.md").read_text()
    assert "relative to the output layer" in text and "hidden layer 2" not in text
