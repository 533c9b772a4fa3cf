"""Config parsing: axes, variants, --set, and one-sentence errors."""
import pytest

from experiments import config as cfg


def test_default_config_is_the_documented_grid():
    sweep = cfg.load(cfg.CONFIG_DIR / "default.yaml")
    runs = sweep.runs()
    assert len(runs) == 12 * 5 * 4 * 3
    assert {r.activation for r in runs} == set(__import__("nn").ACTIVATIONS)
    assert {r.lr for r in runs} == {0.001, 0.01, 0.1, 1.0}
    assert len({r.run_id for r in runs}) == len(runs)


def test_run_id_is_stable_and_depends_on_every_field():
    a = cfg.RunConfig()
    assert a.run_id == cfg.RunConfig().run_id
    assert len(a.run_id) == 12
    for name, value in [("lr", 0.2), ("seed", 1), ("hidden", (16, 16)), ("bias", False), ("variant", "x")]:
        assert cfg.RunConfig(**{name: value}).run_id != a.run_id


def test_any_scalar_given_as_list_is_an_axis_and_hidden_list_is_a_value():
    s = cfg.parse({"hidden": [8, 4], "batch_size": [1, 32], "seeds": [0, 1]})
    assert s.axes == {"batch_size": [1, 32], "seed": [0, 1]}
    assert s.base["hidden"] == (8, 4)
    assert len(s.runs()) == 4
    s2 = cfg.parse({"hidden": [[8, 4], [16, 16]]})
    assert s2.axes == {"hidden": [(8, 4), (16, 16)]}


def test_set_overrides_axes_scalars_and_lists():
    base = cfg.load(cfg.CONFIG_DIR / "default.yaml")
    s = cfg.parse_set(base, ["activations=relu,tanh", "epochs=3", "hidden=200,100", "lrs=1e-3", "data=digits"])
    runs = s.runs()
    assert {r.activation for r in runs} == {"relu", "tanh"}
    assert {r.epochs for r in runs} == {3}
    assert {r.hidden for r in runs} == {(200, 100)}
    assert {r.lr for r in runs} == {0.001}
    assert len(runs) == 2 * 5 * 1 * 3
    # the singular name replaces the plural axis too
    s = cfg.parse_set(base, ["activation=relu"])
    assert {r.activation for r in s.runs()} == {"relu"}


def test_set_keeps_commas_of_a_csv_data_spec():
    s = cfg.parse_set(cfg.parse({}), ["data=csv:a.csv,b.csv"])
    assert s.base["data"] == "csv:a.csv,b.csv"


def test_variants_cross_seeds_and_override_base():
    s = cfg.parse({"activation": "relu", "seeds": [0, 1], "variants": [{"name": "base"}, {"name": "tanh", "activation": "tanh"}]})
    runs = s.runs()
    assert len(runs) == 4
    assert {(r.variant, r.activation) for r in runs} == {("base", "relu"), ("tanh", "tanh")}


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"activations": ["relu", "nope"]}, ["'nope'", "sigmoid", "maxout"]),
        ({"inits": ["bad"]}, ["'bad'", "he_normal"]),
        ({"output": "linear"}, ["'linear'", "softmax"]),
        ({"lr": -1}, ["lr", "> 0"]),
        ({"lrs": [0.1, 0]}, ["lrs", "> 0"]),
        ({"lr": "fast"}, ["lr", "number"]),
        ({"seeds": []}, ["seeds", "empty"]),
        ({"epochs": 2.5}, ["epochs", "integer"]),
        ({"batch_size": 0}, ["batch_size"]),
        ({"hidden": [32, 0]}, ["hidden"]),
        ({"bias": "yes"}, ["bias", "true, false"]),
        ({"frobnicate": 1}, ["unknown config key 'frobnicate'", "activations"]),
        ({"data": "mnist"}, ["data", "idx:DIR"]),
        ({"variants": [{"activation": "relu"}]}, ["variants", "name"]),
        ({"variants": [{"name": "a", "lr": 0}]}, ["variants[a].lr"]),
        ({"lrs": [0.1, 0.1]}, ["repeats"]),
        ([1, 2], ["mapping"]),
    ],
)
def test_bad_values_give_one_sentence_naming_the_problem(raw, words):
    with pytest.raises(cfg.ConfigError) as info:
        cfg.parse(raw)
    msg = str(info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lrs: [0.1\nseeds: 1")
    with pytest.raises(cfg.ConfigError, match="not valid YAML"):
        cfg.load(bad)
    with pytest.raises(cfg.ConfigError, match="cannot read"):
        cfg.load(tmp_path / "missing.yaml")


def test_resolved_round_trips():
    s = cfg.parse({"hidden": [8, 4], "activations": ["relu", "tanh"], "variants": [{"name": "v", "lr": 0.5}]}, name="x")
    again = cfg.parse(s.resolved())
    assert [r.run_id for r in again.runs()] == [r.run_id for r in s.runs()]


def test_set_name_renames_the_sweep():
    s = cfg.parse_set(cfg.parse({}, name="a"), ["name=b"])
    assert s.name == "b"
    with pytest.raises(cfg.ConfigError, match="name"):
        cfg.parse_set(cfg.parse({}), ["name=a/b"])
