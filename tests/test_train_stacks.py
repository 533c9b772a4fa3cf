"""A run's numbers are its own: the same whichever runs share its stack, and
the same after an interrupted sweep is resumed."""
import json
import shutil

import pandas as pd
import pytest

from experiments import config as cfg
from experiments.analysis.tables import TIMING_COLUMNS
from experiments.runner import run_sweep
from experiments.train import group_key, train_group

# 8 runs that stack together: 2 inits x 2 learning rates x 2 seeds (lr 2.0
# diverges for some, so a stack also holds networks that stop early).
BASE = {
    "name": "stacks",
    "hidden": [6, 5],
    "epochs": 3,
    "train_size": 200,
    "test_size": 190,  # more rows than one evaluation chunk, and not a multiple of it
    "probe_size": 190,
    "inits": ["he_normal", "book"],
    "lrs": [0.1, 2.0],
    "seeds": [0, 1],
}
# The question's settings: one sample per update, the book's rule, no biases.
BOOK = {"batch_size": 1, "backprop": "book", "output": "same", "bias": False, "activation": "relu",
        "targets": "book", "input_scale": "book", "train_size": 40}


def _numbers(result: dict) -> str:
    """Everything a run records but its timing, as exact text (floats by repr)."""
    kept = {k: v for k, v in result.items() if k not in TIMING_COLUMNS}
    return json.dumps(kept, sort_keys=True)


@pytest.mark.parametrize("settings", [{"activation": "tanh"}, {"activation": "maxout", "batch_size": 16}, BOOK,
                                      {"activation": "relu", "optimizer": "adam"},
                                      {"activation": "tanh", "optimizer": "momentum", "early_stopping": 1}],
                         ids=["tanh", "maxout", "book_batch1", "adam", "momentum_early_stopping"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_runs_numbers_do_not_depend_on_its_stack(dtype, settings):
    runs = cfg.parse({**BASE, **settings, "dtype": dtype}).runs()
    assert len(runs) == 8 and len({group_key(r) for r in runs}) == 1
    target = next(r for r in runs if r.lr == 0.1 and r.seed == 1)
    others = [r for r in runs if r is not target]
    stacks = {
        "alone": [target],
        "3, other seeds": [others[0], target, others[5]],
        "7": [*others[:4], target, *others[4:6]],
    }
    got = {}
    for name, stack in stacks.items():
        (result,) = [r for r in train_group(stack) if r["run_id"] == target.run_id]
        got[name] = _numbers(result)
    assert len(json.loads(got["alone"])["layers"]) == 3 * 4  # epochs 0..3 x 3 layers
    assert got["3, other seeds"] == got["alone"]
    assert got["7"] == got["alone"]


def _tables(out):
    runs = pd.read_csv(out / "runs.csv").drop(columns=list(TIMING_COLUMNS)).sort_values("run_id")
    return [runs.reset_index(drop=True)] + [
        pd.read_csv(out / name).sort_values(["run_id", "epoch", *(["layer"] if name == "layers.csv" else [])])
        .reset_index(drop=True)
        for name in ("epochs.csv", "layers.csv")
    ]


def test_resumed_sweep_is_byte_identical_to_an_uninterrupted_one(tmp_path):
    sweep = cfg.parse({**BASE, "activations": ["relu", "sigmoid"], "seeds": [0, 1, 2]})
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    run_sweep(sweep, whole, jobs=1, progress=False)
    run_sweep(sweep, resumed, jobs=1, progress=False)
    # An interruption: some runs of each stack never got stored.
    stored = sorted((resumed / "runs").glob("*.json"))
    for path in stored[::3]:
        path.unlink()
    shutil.rmtree(resumed / "plots", ignore_errors=True)
    outcome = run_sweep(sweep, resumed, jobs=1, progress=False)
    assert outcome.counts["skipped"] == len(stored) - len(stored[::3])
    for a, b in zip(_tables(whole), _tables(resumed)):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
