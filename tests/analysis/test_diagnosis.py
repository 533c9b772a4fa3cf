"""diagnosis.md: verdicts and sentences computed from the runs of an ablation."""
import numpy as np
import pandas as pd
import pytest

from experiments import config as cfg
from experiments.analysis import diagnosis as dg
from experiments.runner import run_sweep


def _sweep(variants):
    return cfg.parse({"activation": "relu", "backprop": "book", "variants": variants})


def _stats(rows):
    base = {"n_changes": 1, "runs": 5, "diverged": 0, "failed": 0, "acc_ci95": 0.01, "test_at_best_mean": np.nan,
            "ratio_init": 1.0, "changes": "x", "split": "", "outcomes": "5/5 learned", "per_seed": ""}
    for l in (1, 2, 3):
        base.update({f"dead_frac_L{l}": 0.0, f"dead_init_L{l}": 0.0, f"grad_init_L{l}": 1.0,
                     f"grad_end_L{l}": 1.0, f"true_grad_end_L{l}": 1.0, f"true_grad_init_L{l}": 1.0,
                     f"cosine_end_L{l}": 1.0, f"nonpos_z_end_L{l}": 0.5, f"dead90_L{l}": "never, never"})
    # Selection on test accuracy unless a row says otherwise.
    return pd.DataFrame([{**base, "sel_mean": r["acc_mean"], **r} for r in rows])


def test_classify_rescue_help_and_no_help():
    stats = _stats([
        {"variant": "base", "acc_mean": 0.10, "n_changes": 0},
        {"variant": "good", "acc_mean": 0.95},
        {"variant": "half", "acc_mean": 0.50},
        {"variant": "noisy", "acc_mean": 0.40, "acc_ci95": 0.5},
        {"variant": "same", "acc_mean": 0.10},
    ])
    verdict = dg.classify(stats, "base")
    assert verdict.to_dict() == {"good": "rescues", "half": "helps", "noisy": "does not help", "same": "does not help"}


def test_best_variant_is_chosen_on_validation_accuracy():
    # "peeky" has the best test accuracy but not the best validation accuracy:
    # the rescue bar is 90% of the validation-chosen best's test accuracy.
    stats = _stats([
        {"variant": "base", "acc_mean": 0.10, "n_changes": 0, "sel_mean": 0.10},
        {"variant": "chosen", "acc_mean": 0.80, "sel_mean": 0.95},
        {"variant": "peeky", "acc_mean": 0.99, "sel_mean": 0.90},
        {"variant": "middle", "acc_mean": 0.75, "sel_mean": 0.70},
    ])
    assert dg.best_variant(stats)["variant"] == "chosen"
    # 0.75 >= 0.9 * 0.80 rescues; against the test-chosen best (0.99) it would only help.
    assert dg.classify(stats, "base")["middle"] == "rescues"
    text = " ".join(dg.findings(stats, _sweep([{"name": "base"}, {"name": "chosen"}, {"name": "peeky"},
                                                {"name": "middle"}]), 3, on_val=True))
    assert "best variant's (chosen, the highest mean validation accuracy: 80.0% test)" in text


@pytest.mark.parametrize("relu_ratio, supported", [(0.01, True), (1.5, False)])
def test_vanishing_claim_follows_the_numbers(relu_ratio, supported):
    sweep = _sweep([
        {"name": "as_written"},
        {"name": "exact_relu", "backprop": "exact"},
        {"name": "exact_sigmoid", "backprop": "exact", "activation": "sigmoid"},
        {"name": "exact_tanh", "backprop": "exact", "activation": "tanh"},
    ])
    stats = _stats([
        {"variant": "as_written", "acc_mean": 0.1, "n_changes": 0},
        {"variant": "exact_relu", "acc_mean": 0.9, "ratio_init": relu_ratio},
        {"variant": "exact_sigmoid", "acc_mean": 0.9, "ratio_init": 0.2, "n_changes": 2},
        {"variant": "exact_tanh", "acc_mean": 0.9, "ratio_init": 0.5, "n_changes": 2},
    ])
    text = " ".join(dg.findings(stats, sweep, 3))
    assert ("support the answer's claim" in text and "do not support" not in text) == supported
    assert f"relu {dg._fmt(relu_ratio)} at initialization" in text


def test_collapse_and_dead_output_sentences():
    sweep = _sweep([{"name": "as_written"}, {"name": "slow", "lr": 0.01}])
    stats = _stats([
        {"variant": "as_written", "acc_mean": 0.1, "n_changes": 0, "dead_frac_L3": 1.0, "dead_init_L3": 0.04},
        {"variant": "slow", "acc_mean": 0.4, "test_at_best_mean": 0.95, "acc_ci95": 0.5},
    ])
    text = " ".join(dg.findings(stats, sweep, 3))
    assert "100.0% of output units (at initialization: 4.0%)" in text
    assert "slow reached 95.0% test accuracy at its best epoch" in text


def test_split_seeds_get_values_not_a_verdict():
    sweep = _sweep([{"name": "as_written"}, {"name": "slow", "lr": 0.01}])
    stats = _stats([
        {"variant": "as_written", "acc_mean": 0.1, "n_changes": 0},
        {"variant": "slow", "acc_mean": 0.403, "acc_ci95": 0.524,
         "split": "3 of 5 seeds collapsed (10%, 10%, 10%); 2 learned (75%, 97%)"},
    ])
    text = dg.findings(stats, sweep, 3)
    assert "slow (x): the seeds split: 3 of 5 seeds collapsed (10%, 10%, 10%); 2 learned (75%, 97%)." in text
    assert not any("slow (x: " in t for t in text)  # in no verdict list
    assert dg._acc(stats.iloc[1]) == "40.3% (95% CI 0.0% to 92.7%)"


def test_mechanism_and_init_sentences():
    sweep = _sweep([{"name": "as_written"}, {"name": "exact", "backprop": "exact"},
                    {"name": "exact+text_init", "backprop": "exact", "init": "lecun_normal"}])
    stats = _stats([
        {"variant": "as_written", "acc_mean": 0.1, "n_changes": 0, "dead90_L3": "1, 2, never",
         "nonpos_z_end_L3": 0.98, "cosine_end_L1": 0.12, "cosine_end_L2": np.nan},
        {"variant": "exact", "acc_mean": 0.1, "ratio_init": 0.5, "outcomes": "5/5 collapsed", "dead_init_L1": 0.2},
        {"variant": "exact+text_init", "acc_mean": 0.9, "ratio_init": 0.8, "n_changes": 2},
    ])
    mech = dg.mechanism_sentences(stats, sweep, 3)
    assert mech[0] == ("as_written: first epoch with more than 90% of the units dead, per seed: output layer: "
                       "1, 2, never; at the end 98.0% of the output pre-activations are at or below 0; the cosine "
                       "between the update step (book rule) and the true gradient at the end is hidden layer 1 0.12, "
                       "hidden layer 2 n/a (zero), output layer 1.")
    assert mech[1].startswith("exact: no layer passes 90% dead units in any seed;") and "cosine" not in mech[1]
    init = dg.init_sentences(stats, sweep, 3)
    assert len(init) == 1 and init[0].startswith("Initializer he_normal (exact) → lecun_normal (exact+text_init), all else "
                                                 "equal: final accuracy 10.0% ± 1.0% → 90.0% ± 1.0%; outcomes "
                                                 "5/5 collapsed → 5/5 learned; dead units at initialization "
                                                 "(hidden layer 1 / ... / output) 20.0% → 0.0% / 0.0% → 0.0% / 0.0% → 0.0%; true gradient ratio "
                                                 "first/last layer at initialization 0.5 → 0.8.")


def test_question_config_writes_diagnosis_with_every_variant(tmp_path):
    sweep = cfg.parse_set(
        cfg.load(cfg.CONFIG_DIR / "question.yaml"),
        ["epochs=2", "train_size=150", "test_size=60", "hidden=8,8", "seeds=0,1", "probe_size=32"],
    )
    run_sweep(sweep, tmp_path, jobs=2, progress=False)
    text = (tmp_path / "diagnosis.md").read_text()
    for name, _ in sweep.variants:
        assert f"| {name} |" in text, name
    assert "As written (as_written)" in text
    assert "ratio of first-layer to last-layer" in text
    assert "exact_backprop) → lecun_normal (exact+text_init)" in text
    assert "## How each variant's network dies" in text
    stats = pd.read_csv(tmp_path / "diagnosis.csv")
    assert list(stats["variant"]) == [n for n, _ in sweep.variants]
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs["variant"]) == {n for n, _ in sweep.variants}
    assert (runs.groupby("variant").size() == 2).all()
