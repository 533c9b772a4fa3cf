"""Config keys of issue 12: optimizer and its hyper-parameters, val_fraction, early_stopping."""
import pytest

from experiments import config as cfg


def test_optimizer_axis_and_hyper_parameters():
    sweep = cfg.parse({"optimizers": ["sgd", "momentum", "adam"], "beta1": [0.8, 0.9], "seed": 0})
    runs = sweep.runs()
    # sgd and momentum do not use beta1: one run each, not two
    assert sorted((r.optimizer, r.beta1) for r in runs) == [
        ("adam", 0.8), ("adam", 0.9), ("momentum", None), ("sgd", None)]
    momentum = next(r for r in runs if r.optimizer == "momentum")
    assert momentum.momentum == 0.9 and momentum.eps is None  # its default; adam's eps is not its
    adam = next(r for r in runs if r.optimizer == "adam")
    assert (adam.beta2, adam.eps, adam.momentum, adam.rho) == (0.999, 1e-8, None, None)
    assert cfg.RunConfig(optimizer="rmsprop").rho == 0.99


def test_set_optimizers_from_the_command_line():
    sweep = cfg.parse_set(cfg.parse({"seed": 0}), ["optimizers=sgd,adam", "eps=1e-6"])
    assert sorted((r.optimizer, r.eps) for r in sweep.runs()) == [("adam", 1e-6), ("sgd", None)]


@pytest.mark.parametrize("raw, words", [
    ({"optimizer": "adamw"}, ["optimizer", "'adamw'", "sgd, momentum, nesterov, adam, rmsprop"]),
    ({"momentum": 1.0}, ["momentum", "< 1"]),
    ({"beta2": -0.1}, ["beta2", ">= 0"]),
    ({"eps": 0}, ["eps", "> 0"]),
    ({"val_fraction": 0.95}, ["val_fraction", "<= 0.9"]),
    ({"early_stopping": 0}, ["early_stopping", ">= 1"]),
    ({"early_stopping": 3, "val_fraction": 0}, ["early_stopping needs a validation split"]),
    ({"input_scale": "zscore"}, ["input_scale", "standardize", "none"]),
])
def test_bad_values_name_key_and_choices(raw, words):
    with pytest.raises(cfg.ConfigError) as info:
        cfg.parse({**raw, "seed": 0}).runs()
    assert all(w in str(info.value) for w in words), str(info.value)


def test_defaults():
    run = cfg.RunConfig()
    assert (run.optimizer, run.val_fraction, run.early_stopping) == ("sgd", 0.1, None)
    for name in ("question", "default"):
        cfg.load(cfg.CONFIG_DIR / f"{name}.yaml").runs()
