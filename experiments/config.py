"""Sweep configs: YAML in, a validated list of frozen :class:`RunConfig` out.

A config file holds scalar settings, grid axes and, optionally, named
variants::

    name: default              # optional, else the file's stem
    data: digits
    hidden: [32, 32]
    epochs: 20
    activations: [relu, tanh]  # axis (plural name)
    lrs: [0.01, 0.1]           # axis
    seeds: [0, 1, 2]           # axis
    batch_size: [1, 32]        # any scalar key given as a list is an axis too
    variants:                  # optional: a base setting plus named overrides
      - name: as_written
      - name: exact
        backprop: exact

Runs are the product of all axes, crossed with the variants (each variant's
overrides win over the axes). Every value is checked before anything runs;
a bad one raises :class:`ConfigError` with one sentence naming the key, the
value and the valid choices.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import math
import os
import reprlib
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

import nn
from experiments.data import DATA_SOURCES, INPUT_SCALES, TARGET_ENCODINGS, data_fingerprint

CONFIG_DIR = Path(__file__).parent / "configs"
# A config file larger than this is not a config (1 MiB; the shipped ones are
# under 2 KiB), and a YAML document that expands (through aliases) to more
# values than this is an alias bomb: both are refused before any work.
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 100_000
# Longest sweep name, in UTF-8 bytes: a folder name must stay under 255.
MAX_NAME_BYTES = 120

# Error messages echo values through this: a huge or deeply shared value is
# shown abbreviated, so the message stays one short line.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 60
_SHORT.maxlevel = 3


def show(value: Any) -> str:
    """``repr(value)``, abbreviated to about 60 characters per part."""
    return _SHORT.repr(value)


class ConfigError(ValueError):
    """A bad config: the message is one sentence naming key, value and valid choices."""


NEEDS_VALIDATION = "early_stopping needs a validation split: set val_fraction above 0 (e.g. 0.1)"


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run; ``asdict`` gives the table columns."""

    variant: str = ""  # name of the named variant ("" in a plain grid)
    data: str = "digits"  # "digits", "idx:DIR", "csv:TRAIN.csv[,TEST.csv]" or "npz:FILE.npz"
    input_scale: str = "unit"  # "unit": pixels in [0, 1]; "book": 0.01..1.0; "standardize"; "none"
    train_size: int | None = None  # keep the first N training samples (seeded shuffle)
    test_size: int | None = None
    test_fraction: float = 0.2  # used when the data has no separate test set
    val_fraction: float = 0.1  # of the training part, held out to select cells and epochs; 0: none
    hidden: tuple[int, ...] = (32, 32)  # hidden widths; input/output come from the data
    activation: str = "relu"  # hidden activation, a key of nn.ACTIVATIONS
    output: str = "softmax"  # a key of nn.OUTPUTS
    targets: str = "onehot"  # "onehot" or "book" (0.01 / 0.99)
    init: str = "he_normal"  # a key of nn.INITIALIZERS
    backprop: str = "exact"  # "exact" or "book"
    bias: bool = True
    lr: float = 0.1
    optimizer: str = "sgd"  # a key of nn.OPTIMIZERS
    # The optimizers' hyper-parameters (nn.HYPER_PARAMETERS). None takes the
    # optimizer's default; one it does not use is set to None, so that
    # "optimizers: [sgd, adam]" x "beta1: [0.8, 0.9]" gives sgd once.
    momentum: float | None = None  # momentum, nesterov (0.9)
    beta1: float | None = None  # adam (0.9)
    beta2: float | None = None  # adam (0.999)
    eps: float | None = None  # adam, rmsprop (1e-8)
    rho: float | None = None  # rmsprop: decay of the squared-gradient average (0.99)
    batch_size: int = 32
    epochs: int = 20
    early_stopping: int | None = None  # patience: stop after this many epochs without a better val_acc
    dtype: str = "float64"
    seed: int = 0  # root of this run's random streams (init weights, data order)
    probe_size: int = 256  # training samples used for per-layer diagnostics
    # Content hash of the data files (set by SweepConfig.runs, never by hand):
    # a data file replaced under the same path makes new runs, not stale ones.
    data_fingerprint: str = ""

    def __post_init__(self) -> None:
        used = nn.OPTIMIZERS[self.optimizer].hyper if self.optimizer in nn.OPTIMIZERS else {}
        for key in nn.HYPER_PARAMETERS:
            value = getattr(self, key)
            object.__setattr__(self, key, (used[key] if value is None else value) if key in used else None)
        if self.early_stopping is not None and not self.val_fraction:
            raise ConfigError(NEEDS_VALIDATION)

    @functools.cached_property
    def run_id(self) -> str:
        """Stable 12-hex-digit hash of the resolved config."""
        # The field names, then the repr of the values in field order: str,
        # int, float, bool, None and tuples of int, whose reprs are exact and
        # stable; a third of the time of json, so a big grid is planned fast.
        blob = _FIELD_NAMES_REPR + repr(tuple(getattr(self, name) for name in _FIELD_NAMES))
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def flat(self) -> dict[str, Any]:
        """The config as table columns (``hidden`` as ``"32-32"``)."""
        d = dataclasses.asdict(self)
        d["hidden"] = "-".join(str(h) for h in self.hidden)
        return d


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_FIELD_NAMES = tuple(FIELDS)
_FIELD_NAMES_REPR = repr(_FIELD_NAMES)
# Fields a config file cannot set: the sweep fills them in.
DERIVED_KEYS = ("variant", "data_fingerprint")
# Plural axis names accepted for the common grid axes.
AXIS_ALIASES = {"activations": "activation", "inits": "init", "lrs": "lr", "seeds": "seed", "optimizers": "optimizer"}
# --set values of these keys may contain commas themselves (csv:TRAIN,TEST).
UNSPLIT_KEYS = ("data",)
# Keys of a config file that are not RunConfig fields. data_fingerprints
# (data spec -> fingerprint) is written by a sweep into its results folder's
# config.yaml, so that `report` rebuilds the runs that were computed without
# reading the data again; a new sweep always fingerprints the data itself.
META_KEYS = ("name", "variants", "data_fingerprints")


def _choice(valid: Any) -> Callable[[str, Any], Any]:
    def check(key: str, v: Any) -> Any:
        if not isinstance(v, str) or v not in valid:
            raise ConfigError(f"{key}: {show(v)} is not valid; valid choices: {', '.join(valid)}")
        return v

    return check


def _number(
    kind: type, low: float, high: float, low_open: bool = False, high_open: bool = False
) -> Callable[[str, Any], Any]:
    def check(key: str, v: Any) -> Any:
        if isinstance(v, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                v = float(v) if kind is float else int(v)
            except ValueError:
                pass
        ok_type = isinstance(v, (int, float)) and not isinstance(v, bool)
        # A Python int is whole and finite, and may be too large for a float.
        if ok_type and isinstance(v, float):
            ok_type = bool(np.isfinite(v)) and (kind is float or v.is_integer())
        if not ok_type:
            raise ConfigError(f"{key}: {show(v)} is not {'an integer' if kind is int else 'a number'}")
        if v < low or v > high or (low_open and v == low) or (high_open and v == high):
            bound = f"{'>' if low_open else '>='} {low:g} and {'<' if high_open else '<='} {high:g}"
            raise ConfigError(f"{key}: {show(v)} is out of range; it must be {bound}")
        return kind(v)

    return check


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda key, v: None if v is None else check(key, v)


def _boolean(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{key}: {show(v)} is not valid; valid choices: true, false")
    return v


def _text(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"{key}: {show(v)} is not a string")
    return v


def _data(key: str, v: Any) -> str:
    # Only the form is checked here; the files are read (and any problem with
    # them reported) once, before the sweep trains anything.
    forms = ", ".join(src.form for src in DATA_SOURCES.values())
    prefix = v.split(":", 1)[0] if isinstance(v, str) else None
    has_arg = isinstance(v, str) and ":" in v
    if prefix not in DATA_SOURCES or has_arg != (DATA_SOURCES[prefix].form != prefix):
        raise ConfigError(f"{key}: {show(v)} is not a data source; valid forms: {forms}")
    return v


def _fingerprint(key: str, v: Any) -> str:
    if not isinstance(v, str) or not (v == "" or (len(v) == 12 and set(v) <= set("0123456789abcdef"))):
        raise ConfigError(f"{key}: {show(v)} is not a data fingerprint (12 hex digits)")
    return v


def _hidden(key: str, v: Any) -> tuple[int, ...]:
    width = _number(int, 1, 100_000)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v:
        raise ConfigError(f"{key}: {show(v)} is not a list of hidden widths such as [32, 32]")
    return tuple(width(key, h) for h in v)


# One validator per field: takes (key, raw value), returns the clean value.
VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "variant": _text,
    "data": _data,
    "input_scale": _choice(list(INPUT_SCALES)),
    "train_size": _optional(_number(int, 1, 10**8)),
    "test_size": _optional(_number(int, 1, 10**8)),
    "test_fraction": _number(float, 0.0, 0.9, low_open=True),
    "val_fraction": _number(float, 0.0, 0.9),
    "hidden": _hidden,
    "activation": _choice(list(nn.ACTIVATIONS)),
    "output": _choice(list(nn.OUTPUTS)),
    "targets": _choice(list(TARGET_ENCODINGS)),
    "init": _choice(list(nn.INITIALIZERS)),
    "backprop": _choice(nn.BACKPROP_RULES),
    "bias": _boolean,
    "lr": _number(float, 0.0, 1e6, low_open=True),
    "optimizer": _choice(list(nn.OPTIMIZERS)),
    "momentum": _optional(_number(float, 0.0, 1.0, high_open=True)),
    "beta1": _optional(_number(float, 0.0, 1.0, high_open=True)),
    "beta2": _optional(_number(float, 0.0, 1.0, high_open=True)),
    "eps": _optional(_number(float, 0.0, 1.0, low_open=True)),
    "rho": _optional(_number(float, 0.0, 1.0, high_open=True)),
    "batch_size": _number(int, 1, 10**6),
    "epochs": _number(int, 0, 100_000),
    "early_stopping": _optional(_number(int, 1, 100_000)),
    "dtype": _choice(nn.DTYPES),
    "seed": _number(int, 0, 2**63 - 1),
    "probe_size": _number(int, 1, 10**6),
    "data_fingerprint": _fingerprint,
}
assert set(VALIDATORS) == set(FIELDS), "every RunConfig field needs a validator"


@dataclass(frozen=True)
class SweepConfig:
    """A parsed config: base settings, grid axes and named variants.

    ``axes`` maps field names to lists of validated values, in file order;
    ``variants`` is a tuple of (name, overrides) pairs, empty for a plain grid.
    """

    name: str
    base: dict[str, Any]
    axes: dict[str, list[Any]] = field(default_factory=dict)
    variants: tuple[tuple[str, dict[str, Any]], ...] = ()
    data_fingerprints: dict[str, str] = field(default_factory=dict)  # pinned (see META_KEYS)

    def n_runs(self) -> int:
        """How many runs :meth:`runs` gives, without making them (a variant's
        overrides take the place of the axes they name)."""
        return sum(
            math.prod(len(v) for k, v in self.axes.items() if k not in overrides)
            for _, overrides in self.variants or (("", {}),)
        )

    def data_specs(self) -> list[str]:
        """Every data spec the runs train on, in order of first use."""
        variants = self.variants or (("", {}),)
        specs = [] if all("data" in o for _, o in variants) else self.axes.get("data") or [self.base.get("data", FIELDS["data"].default)]
        specs = [*specs, *(o["data"] for _, o in variants if "data" in o)]
        return list(dict.fromkeys(specs))

    def fingerprints(self) -> dict[str, str]:
        """Data spec -> fingerprint of its files: pinned, or read now."""
        return {spec: self.data_fingerprints.get(spec) or data_fingerprint(spec) for spec in self.data_specs()}

    def pinned(self) -> "SweepConfig":
        """This sweep with the fingerprints of its data fixed as they are now."""
        return dataclasses.replace(self, data_fingerprints=self.fingerprints())

    def runs(self) -> list[RunConfig]:
        """Every run of the sweep, in a stable order, without duplicates.

        Reads the data files' fingerprints (see :func:`experiments.data.data_fingerprint`)
        unless they are pinned.
        """
        keys = list(self.axes)
        fingerprints = self.fingerprints()
        default_data = self.base.get("data", FIELDS["data"].default)
        seen: dict[str, RunConfig] = {}
        for vname, overrides in self.variants or (("", {}),):
            for values in itertools.product(*(self.axes[k] for k in keys)):
                settings = {**self.base, **dict(zip(keys, values)), **overrides, "variant": vname}
                settings["data_fingerprint"] = fingerprints[settings.get("data", default_data)]
                run = RunConfig(**settings)
                seen.setdefault(run.run_id, run)
        return list(seen.values())

    def resolved(self) -> dict[str, Any]:
        """The config as it will run: plain YAML-able data."""
        plain = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
        d: dict[str, Any] = {"name": self.name}
        d.update({k: plain(v) for k, v in self.base.items()})
        d.update({k: [plain(x) for x in v] for k, v in self.axes.items()})
        if self.variants:
            d["variants"] = [{"name": n, **{k: plain(v) for k, v in o.items()}} for n, o in self.variants]
        if self.data_fingerprints:
            d["data_fingerprints"] = dict(self.data_fingerprints)
        return d


def _field_name(key: Any) -> str:
    name = AXIS_ALIASES.get(key, key)
    if name not in FIELDS or name in DERIVED_KEYS:
        valid = sorted(set(FIELDS) - set(DERIVED_KEYS) | set(AXIS_ALIASES) | set(META_KEYS))
        raise ConfigError(f"unknown config key {show(key)}; valid keys: {', '.join(valid)}")
    return name


def _is_axis(name: str, value: Any) -> bool:
    if name == "hidden":  # a list of widths is one value; a list of lists is an axis
        return isinstance(value, list) and bool(value) and all(isinstance(v, (list, tuple)) for v in value)
    return isinstance(value, (list, tuple))


def parse(raw: Any, name: str = "sweep") -> SweepConfig:
    """Validate a config mapping (as loaded from YAML) into a :class:`SweepConfig`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(raw).__name__}")
    raw = dict(raw)
    name = check_name(raw.pop("name", name))
    raw_variants = raw.pop("variants", None)
    pinned = _parse_fingerprints(raw.pop("data_fingerprints", None) or {})
    base: dict[str, Any] = {}
    axes: dict[str, list[Any]] = {}
    for key, value in raw.items():
        fname = _field_name(key)
        if fname in base or fname in axes:
            raise ConfigError(f"{key}: {fname!r} is given twice")
        check = VALIDATORS[fname]
        if _is_axis(fname, value):
            if not value:
                raise ConfigError(f"{key}: an axis needs at least one value, got an empty list")
            values = [check(key, v) for v in value]
            if len(set(map(repr, values))) != len(values):
                raise ConfigError(f"{key}: {show(value)} repeats a value")
            axes[fname] = values
        else:
            base[fname] = check(key, value)
    variants = _parse_variants(raw_variants)
    _check_early_stopping(base, axes, variants)
    # Every axis and the variant list are non-empty, so the sweep has runs.
    return SweepConfig(name, base, axes, variants, pinned)


# A sweep's name is its results folder: one safe path component. Each rule:
# (breaks it?, why), checked in order.
NAME_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda n: not n.strip(), "is empty"),
    (lambda n: n in (".", ".."), "names the folder itself or its parent"),
    (lambda n: "/" in n or "\\" in n, "holds a path separator"),
    (lambda n: any(unicodedata.category(c) in ("Cc", "Cs") for c in n),
     "holds a control character, NUL or bytes that are not UTF-8"),
    (lambda n: len(n.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES, f"is longer than {MAX_NAME_BYTES} bytes"),
)


def check_name(name: Any) -> str:
    """``name`` if it is a usable sweep name (one safe folder name), else ConfigError."""
    if not isinstance(name, str):
        raise ConfigError(f"name: {show(name)} is not a string")
    for breaks, why in NAME_RULES:
        if breaks(name):
            raise ConfigError(f"name: {show(name)} {why}; a sweep name is one folder name, "
                              "e.g. letters, digits, '-', '_' and '.'")
    return name


def _parse_fingerprints(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise ConfigError(f"data_fingerprints: {show(raw)} is not a mapping of data specs to fingerprints")
    return {k: _fingerprint(f"data_fingerprints[{show(k)}]", v) for k, v in raw.items()}


def _check_early_stopping(base: dict, axes: dict, variants: tuple) -> None:
    """early_stopping needs a validation split: refused (conservatively) if any
    setting asks for it while any setting has val_fraction 0."""
    settings = [base, *(o for _, o in variants)]
    values = lambda key: [s[key] for s in settings if key in s] + axes.get(key, [])  # noqa: E731
    stops = any(v is not None for v in values("early_stopping"))
    no_val = any(v == 0 for v in values("val_fraction"))
    if stops and no_val:
        raise ConfigError(NEEDS_VALIDATION)


def _parse_variants(raw: Any) -> tuple[tuple[str, dict[str, Any]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise ConfigError("variants: must be a non-empty list of mappings, each with a 'name'")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ConfigError(f"variants[{i}]: {show(entry)} needs a 'name' (a non-empty string)")
        overrides = {}
        for key, value in entry.items():
            if key == "name":
                continue
            fname = _field_name(key)
            if fname in overrides:
                raise ConfigError(f"variants[{show(entry['name'])}].{key}: {fname!r} is given twice")
            overrides[fname] = VALIDATORS[fname](f"variants[{entry['name']}].{key}", value)
        out.append((entry["name"], overrides))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"variants: names must be unique, got {names}")
    return tuple(out)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in a mapping is an error
    (plain YAML keeps the last one, silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        self.flatten_mapping(node)  # resolve merge keys (<<) first, as the base class does
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                line = first.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if line != key_node.start_mark.line + 1:
                raise ConfigError(f"key {show(key)} is given twice (lines {line} and {key_node.start_mark.line + 1})")
        return super().construct_mapping(node, deep=deep)


def _count_values(raw: Any, limit: int) -> int:
    """Number of values in ``raw`` with shared parts counted each time (as an
    alias expands), stopping at ``limit``: an alias bomb is found in microseconds."""
    count, stack = 0, [raw]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack += [*value.keys(), *value.values()]
        elif isinstance(value, list):
            stack += value
    return count


def _read_config_text(path: Path) -> str:
    """The text of a config file: a regular file (a FIFO would block), not too
    large, in UTF-8 (a byte-order mark is dropped)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"config file {path} is not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} holds {info.st_size:,} bytes; a config is at most "
                              f"{MAX_CONFIG_BYTES:,}")
        data = path.read_bytes()[: MAX_CONFIG_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        raise ConfigError(f"config file {path} is not UTF-8 text ({'UTF-16' if utf16 else f'byte {show(data[exc.start:exc.start + 1])}'} "
                          f"at byte {exc.start}); save it as UTF-8") from None


def load(path: str | Path) -> SweepConfig:
    """Read and validate a YAML config file.

    Hostile files end in one ConfigError sentence, fast: not a regular file,
    over :data:`MAX_CONFIG_BYTES`, not UTF-8, not YAML, a key given twice, or
    aliases that expand to over :data:`MAX_CONFIG_VALUES` values.
    """
    path = Path(path)
    text = _read_config_text(path)
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: an integer of over 4,300 digits
        if isinstance(exc, ConfigError):
            raise ConfigError(f"config file {path}: {exc}") from None
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"config file {path} is not valid YAML{at}") from None
    if _count_values(raw, MAX_CONFIG_VALUES) > MAX_CONFIG_VALUES:
        raise ConfigError(f"config file {path} expands to more than {MAX_CONFIG_VALUES:,} values "
                          "(YAML aliases); a config is a few dozen keys")
    return parse(raw if raw is not None else {}, name=path.stem)


def parse_set(sweep: SweepConfig, assignments: list[str]) -> SweepConfig:
    """Apply ``--set KEY=VALUE`` overrides; a comma makes a list (an axis).

    ``activations=relu,tanh`` sets an axis, ``epochs=3`` a scalar, and
    ``hidden=200,100`` the hidden widths (a list-valued key takes the list whole).
    """
    raw = sweep.resolved()
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not of the form KEY=VALUE")
        key, text = item.split("=", 1)
        key = key.strip()
        if key == "name":  # the sweep's name (and default results folder)
            raw["name"] = text.strip()
            continue
        fname = _field_name(key)
        parts = [text] if fname in UNSPLIT_KEYS else text.split(",")
        try:
            values = [yaml.safe_load(part) if part.strip() else part for part in parts]
        except (yaml.YAMLError, ValueError):
            raise ConfigError(f"--set {item!r}: {text!r} is not a value or comma-separated list of values") from None
        value: Any = values if len(values) > 1 else values[0]
        if fname == "hidden" and not isinstance(value, list):
            value = [value]
        # Replace whatever form the key had: scalar, axis, plural or singular.
        for k in [k for k in raw if AXIS_ALIASES.get(k, k) == fname]:
            del raw[k]
        raw[key] = value
    return parse(raw, name=sweep.name)
