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


# ------------------------------------------------- names and hostile files


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../up", "a\\b", "x\x00y", "tab\tname", "new\nline",
                                  "\udcff", "", "  ", "x" * 200])
def test_a_sweep_name_is_one_safe_folder_name(name):
    for make in (lambda: cfg.parse({"name": name}), lambda: cfg.parse_set(cfg.parse({}), [f"name={name}"])):
        with pytest.raises(cfg.ConfigError) as info:
            make()
        assert str(info.value).startswith("name: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["mine", "default-epochs=5", "café", "run.2", "a b"])
def test_ordinary_sweep_names_are_kept(name):
    assert cfg.parse({"name": name}).name == name


def _load_text(tmp_path, data: bytes):
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(path)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400, msg
    return msg


ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [f"{b}: &{b} [*{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}]" for a, b in zip("abcdefgh", "bcdefghi")]
    + ["activations: *i"]
).encode()


@pytest.mark.parametrize("data, words", [
    ("name: caf\u00e9\nepochs: 1\n".encode("latin-1"), ["not UTF-8", "byte"]),
    ("epochs: 1\n".encode("utf-16"), ["not UTF-8", "UTF-16"]),
    (ALIAS_BOMB, ["more than 100,000 values"]),
    (b"epochs: 1\nlr: 0.1\nepochs: 2\n", ["'epochs' is given twice", "lines 1 and 3"]),
    (b"variants:\n  - name: v\n    activation: relu\n    activations: tanh\n", ["given twice"]),
    (b"activation: relu\nactivations: [tanh]\n", ["given twice"]),
    (b"[" * 100_000, ["not valid YAML"]),
    (b"epochs: " + b"9" * 5000, ["not valid YAML"]),
])
def test_hostile_config_files_are_one_short_sentence(tmp_path, data, words):
    msg = _load_text(tmp_path, data)
    for w in words:
        assert w in msg, msg


def test_a_huge_value_is_echoed_shortened(tmp_path):
    msg = _load_text(tmp_path, b"epochs: '" + b"x" * 100_000 + b"'\n")
    assert "epochs" in msg


def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path):
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(cfg.ConfigError, match="not a regular file"):
        cfg.load(fifo)  # never opened: opening a FIFO waits for a writer


@pytest.mark.parametrize("raw", [
    {},
    {"seeds": [0, 1, 2], "lrs": [0.1, 0.2]},
    {"seeds": [0, 1], "lrs": [0.1, 0.2], "variants": [{"name": "a"}, {"name": "b", "lr": 0.5}]},
    {"seeds": [0, 1], "variants": [{"name": "a", "seed": 3}, {"name": "b", "lr": 0.5, "seed": 0}]},
])
def test_n_runs_counts_the_runs_without_making_them(raw):
    sweep = cfg.parse(raw)
    assert sweep.n_runs() == len(sweep.runs())


def test_runs_carry_the_data_fingerprint_and_it_changes_the_run_id():
    sweep = cfg.parse({"seeds": [0, 1]})
    runs = sweep.runs()
    assert {r.data_fingerprint for r in runs} == set(sweep.fingerprints().values())
    assert len(runs[0].data_fingerprint) == 12
    pinned = cfg.parse({**sweep.resolved(), "data_fingerprints": {"digits": "0" * 12}})
    assert {r.data_fingerprint for r in pinned.runs()} == {"0" * 12}
    assert not {r.run_id for r in pinned.runs()} & {r.run_id for r in runs}
    with pytest.raises(cfg.ConfigError, match="unknown config key 'data_fingerprint'"):
        cfg.parse({"data_fingerprint": "0" * 12})
