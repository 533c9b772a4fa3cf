"""Data sets for the experiments: 8x8 digits, and MNIST as IDX or CSV files.

``load_dataset(spec)`` turns a spec string into a :class:`Dataset`: float64
pixels in a chosen input scale and int64 labels 0..9, split into train and test.

- ``"digits"``: scikit-learn's 1,797 8x8 digits (pixels 0..16).
- ``"idx:DIR"``: MNIST in its original IDX files, raw or ``.gz``, in DIR.
- ``"csv:TRAIN.csv[,TEST.csv]"``: the format of "Make Your Own Neural Network":
  one image a line, the label first, then the pixel values 0..255.

A source without its own test set is split by :func:`stratified_split`, seeded
by ``split_seed`` alone, so every run of a sweep sees the same split whatever
its own seed. Parsed files are cached per process, so each worker of a sweep
reads a file once; cached arrays are read-only, and every load returns fresh,
read-only arrays.

Every problem with the data raises :class:`DataError`, whose message names the
file and what is wrong with it.

Examples
--------
>>> ds = load_dataset("digits")
>>> ds.X_train.shape, ds.X_test.shape, ds.n_features
((1437, 64), (360, 64), 64)
>>> T = one_hot_targets(ds.y_train, ds.n_classes, "book")  # (1437, 10), 0.01 / 0.99
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import json
import math
import numbers
import os
import re
import stat
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from nn.lookup import lookup

__all__ = [
    "DATA_SOURCES", "INPUT_SCALES", "TARGET_ENCODINGS", "DataError", "DataSource",
    "Dataset", "data_fingerprint", "data_notes", "load_dataset", "one_hot_targets", "read_idx", "stratified_split",
]

N_CLASSES = 10

# Pixels (N, n_features) and labels (N,), as stored in a file (uint8 mostly).
Raw = tuple[np.ndarray, np.ndarray]


class DataError(ValueError):
    """A data set that cannot be loaded: one sentence naming the file (if any) and the problem."""


# ---------------------------------------------------------------- the result


@dataclass(frozen=True, eq=False)  # eq=False: == and hash on arrays would be ambiguous
class Dataset:
    """A train/test split ready for training.

    Attributes
    ----------
    name : str
        The spec it was loaded from, e.g. ``"digits"``, ``"idx:/path"``,
        ``"csv:/a.csv,/b.csv"``.
    X_train : (N_train, n_features) float64, in the requested input scale
    y_train : (N_train,) int64, labels 0..n_classes-1
    X_test : (N_test, n_features) float64
    y_test : (N_test,) int64
    n_classes : int
        10.

    All four arrays are read-only: a data set is shared by many runs.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = N_CLASSES

    def __post_init__(self) -> None:
        for X, y, part in ((self.X_train, self.y_train, "train"), (self.X_test, self.y_test, "test")):
            if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
                raise ValueError(
                    f"{part} set of {self.name!r} needs X (N, n_features) and y (N,), "
                    f"got {X.shape} and {y.shape}"
                )
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(
                f"{self.name!r} has {self.X_train.shape[1]} features in train "
                f"but {self.X_test.shape[1]} in test"
            )

    @property
    def n_features(self) -> int:
        """Number of inputs per sample (64 for digits, 784 for MNIST)."""
        return self.X_train.shape[1]

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"n_features={self.n_features}, n_classes={self.n_classes})"
        )


# ------------------------------------------------------- scales and targets

InputScale = Callable[[np.ndarray, float], np.ndarray]

# (pixels, the format's largest pixel value) -> float64 inputs.
INPUT_SCALES: dict[str, InputScale] = {
    "unit": lambda x, top: np.asarray(x, dtype=np.float64) / top,
    # The book keeps every input above 0 because a zero input gives its
    # weights a zero gradient: 0.01..1.0 instead of 0..1.
    "book": lambda x, top: np.asarray(x, dtype=np.float64) / top * 0.99 + 0.01,
}

# encoding -> (value of the other classes, value of the true class)
TARGET_ENCODINGS: dict[str, tuple[float, float]] = {
    "onehot": (0.0, 1.0),
    # The book's targets: a sigmoid reaches 0 and 1 only at infinite z, so
    # 0/1 targets would push the weights to grow without end.
    "book": (0.01, 0.99),
}


def _lookup(table: dict, name: object, what: str, error: type[Exception] = DataError):
    """``table[name]``, or ``error`` (a DataError by default) listing the valid names."""
    return lookup(table, name, what, error)


def one_hot_targets(labels: np.ndarray, n_classes: int, encoding: str = "onehot") -> np.ndarray:
    """Target rows for class labels.

    Parameters
    ----------
    labels : (N,) int, each in 0..n_classes-1
    n_classes : int
    encoding : str
        A key of ``TARGET_ENCODINGS``: ``"onehot"`` (0 and 1) or ``"book"``
        (0.01 and 0.99).

    Returns
    -------
    (N, n_classes) float64
        ``on`` in the column of each sample's label, ``off`` elsewhere.

    Raises
    ------
    ValueError
        For an unknown encoding (listing the valid ones), or labels that are
        not integers in 0..n_classes-1.
    """
    off, on = _lookup(TARGET_ENCODINGS, encoding, "target encoding", ValueError)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}")
    if labels.size and not (0 <= labels.min() and labels.max() < n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}")
    targets = np.full((len(labels), n_classes), off, dtype=np.float64)
    targets[np.arange(len(labels)), labels] = on
    return targets


# ------------------------------------------------------------------ files


def _file_key(path: str | Path, what: str) -> tuple[str, int, int]:
    """(resolved path, mtime, size) of an existing file: the key of the file caches.

    mtime and size are in the key so that a file rewritten in place is read
    again instead of served stale from the cache.
    """
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DataError(f"{what} file {p} does not exist") from None
    except OSError as err:
        raise DataError(f"cannot read {what} file {p}: {err.strerror or err}") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{what} file {p} is not a regular file")
    return str(p.resolve()), st.st_mtime_ns, st.st_size


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# -------------------------------------------------------------------- IDX


@dataclass(frozen=True)
class IdxKind:
    """What an IDX file of unsigned bytes holds: its magic number and rank."""

    magic: int
    ndim: int


# IDX magic: two zero bytes, the element type (0x08: unsigned byte), the rank.
IDX_KINDS: dict[str, IdxKind] = {
    "images": IdxKind(0x00000803, 3),  # big-endian dims n, rows, cols
    "labels": IdxKind(0x00000801, 1),  # big-endian dim n
}

# set -> (images file, labels file), each raw or with a .gz suffix
IDX_SETS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | Path, kind: str) -> np.ndarray:
    """Read one IDX file of unsigned bytes, raw or gzipped (``.gz``).

    Parameters
    ----------
    path : str or Path
    kind : str
        ``"images"`` (magic 0x00000803) or ``"labels"`` (0x00000801).

    Returns
    -------
    (n, rows, cols) or (n,) uint8, read-only (it is the cached copy)

    Raises
    ------
    DataError
        A missing file, bad gzip data, a wrong magic number, or a file whose
        length does not match its header (truncated or with trailing bytes).
    """
    _lookup(IDX_KINDS, kind, "IDX kind", ValueError)
    return _parse_idx(_file_key(path, "IDX"), kind)


def _read_bytes(path: str) -> bytes:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return Path(path).read_bytes()
    except EOFError:
        raise DataError(f"IDX file {path} is truncated: its gzip stream ends early") from None
    except (gzip.BadGzipFile, zlib.error) as err:  # before OSError: BadGzipFile is one
        raise DataError(f"IDX file {path} is not valid gzip data ({err})") from None
    except OSError as err:
        raise DataError(f"cannot read IDX file {path}: {err.strerror or err}") from None


@functools.lru_cache(maxsize=16)
def _parse_idx(key: tuple[str, int, int], kind: str) -> np.ndarray:
    path = key[0]
    want = IDX_KINDS[kind]
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"IDX file {path} is truncated: expected at least 4 bytes, found {len(data)}")
    magic = int.from_bytes(data[:4], "big")
    if magic != want.magic:
        hint = ""
        if data[:2] == b"\x1f\x8b":
            hint = f"; it looks gzip-compressed, so name it {Path(path).name}.gz"
        elif other := [k for k, v in IDX_KINDS.items() if v.magic == magic]:
            hint = f"; it looks like an IDX {other[0]} file"
        raise DataError(
            f"IDX file {path} has magic number 0x{magic:08X}, expected 0x{want.magic:08X} "
            f"for {kind}{hint}"
        )
    header = 4 + 4 * want.ndim
    if len(data) < header:
        raise DataError(f"IDX file {path} is truncated: expected at least {header} bytes, found {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=want.ndim, offset=4))
    expected = header + math.prod(dims)  # Python ints: no overflow on a corrupt header
    if len(data) < expected:
        raise DataError(f"IDX file {path} is truncated: expected {expected} bytes, found {len(data)}")
    if len(data) > expected:
        raise DataError(
            f"IDX file {path} is longer than its header says: expected {expected} bytes, found {len(data)}"
        )
    # frombuffer over bytes is read-only, as a cached array must be.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find_file(folder: Path, name: str) -> Path | None:
    # Raw first: it skips the decompression when both are there.
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


def _find_idx_set(folder: Path, names: tuple[str, str]) -> tuple[Path, Path] | None:
    """The (images, labels) paths of one set, None if neither is there."""
    found = [_find_file(folder, name) for name in names]
    if not any(found):
        return None
    if not all(found):
        have, lack = (found[0], names[1]) if found[0] else (found[1], names[0])
        raise DataError(f"{have} has no partner in {folder}: expected {lack} or {lack}.gz beside it")
    return found[0], found[1]


def _read_idx_set(images_path: Path, labels_path: Path) -> Raw:
    images = read_idx(images_path, "images")
    labels = read_idx(labels_path, "labels")
    if len(images) != len(labels):
        raise DataError(
            f"IDX files disagree: {images_path} holds {len(images)} images "
            f"but {labels_path} holds {len(labels)} labels"
        )
    if len(images) == 0:
        raise DataError(f"IDX file {images_path} holds no images")
    if images[0].size == 0:
        raise DataError(f"IDX file {images_path} holds images of {images.shape[1]}x{images.shape[2]} pixels")
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise DataError(
            f"IDX label file {labels_path} has label {labels[bad[0]]} at index {bad[0]}; "
            f"labels must be in 0..{N_CLASSES - 1}"
        )
    return images.reshape(len(images), -1), labels


def _idx_sets(arg: str) -> list[tuple[Path, Path]]:
    """The (images, labels) paths of the IDX sets in folder ``arg``: train first."""
    if not arg:
        raise DataError("'idx:' needs a directory, as in 'idx:data/mnist'")
    folder = Path(arg).expanduser()
    if not folder.is_dir():
        raise DataError(f"MNIST directory {folder} does not exist or is not a directory")
    found = [paths for names in IDX_SETS.values() if (paths := _find_idx_set(folder, names))]
    if not found:
        expected = ", ".join(name for names in IDX_SETS.values() for name in names)
        raise DataError(f"no MNIST IDX files in {folder}: expected {expected} (each raw or .gz)")
    return found


def _load_idx(arg: str) -> tuple[Raw, Raw | None]:
    found = _idx_sets(arg)
    raws = [_read_idx_set(*paths) for paths in found]
    if len(raws) == 1:
        return raws[0], None
    (train, test), (train_paths, test_paths) = raws, found
    if train[0].shape[1] != test[0].shape[1]:
        raise DataError(
            f"IDX images differ in size: {train_paths[0]} has {train[0].shape[1]} pixels per image, "
            f"{test_paths[0]} has {test[0].shape[1]}"
        )
    return train, test


# -------------------------------------------------------------------- CSV

# A decimal number, as a CSV field may hold one; the header test uses it too.
_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")


def _is_header(line: str) -> bool:
    """Whether the first line of a CSV file is a header: its first field is not a number."""
    return not _NUMBER.fullmatch(line.split(",", 1)[0])


def csv_header(path: str | Path) -> str | None:
    """The first line of a CSV file if it is read as a header (and skipped), else None."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            for line in f:
                if line.strip():
                    return line.strip() if _is_header(line) else None
    except OSError:
        pass
    return None


def _csv_notes(arg: str) -> list[str]:
    return [f"the first line of CSV file {path}, {line[:40]!r}, is read as a header and skipped"
            for path in _csv_paths(arg) if (line := csv_header(path)) is not None]


def data_notes(spec: str) -> list[str]:
    """Things about the data of ``spec`` that the user should know, one sentence each."""
    source, arg = _parse_spec(spec)
    return source.notes(arg)


def _read_csv(path: str | Path) -> Raw:
    return _parse_csv(_file_key(path, "CSV"))


def _non_numeric(path: str, rows: list[tuple[int, str]], err: ValueError) -> DataError:
    """The error for the first field that is not a number (slow: only on failure)."""
    for line_no, line in rows:
        for col, field in enumerate(line.split(","), start=1):
            if not _NUMBER.fullmatch(field):
                return DataError(f"CSV file {path}, line {line_no}, field {col}: {field.strip()!r} is not a number")
    return DataError(f"CSV file {path} could not be parsed: {err}")


@functools.lru_cache(maxsize=16)
def _parse_csv(key: tuple[str, int, int]) -> Raw:
    path = key[0]
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # -sig: drop a byte-order mark
    except UnicodeDecodeError:
        raise DataError(f"CSV file {path} is not UTF-8 text") from None
    except OSError as err:
        raise DataError(f"cannot read CSV file {path}: {err.strerror or err}") from None

    # (line number, text): line numbers survive dropping blanks and the header.
    rows = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if rows and _is_header(rows[0][1]):
        rows = rows[1:]  # a header line, e.g. "label,1x1,1x2,..."
    if not rows:
        raise DataError(f"CSV file {path} has no data rows")

    # Widths from comma counts: splitting every line into fields would be far slower.
    widths = np.array([line.count(",") + 1 for _, line in rows])
    width = int(widths[0])
    if width < 2:
        raise DataError(f"CSV file {path}, line {rows[0][0]}: a row needs a label and at least one pixel value")
    bad = np.flatnonzero(widths != width)
    if bad.size:
        i = bad[0]
        raise DataError(
            f"CSV file {path}, line {rows[i][0]}: found {widths[i]} fields, expected {width} "
            f"(a label and {width - 1} pixels, as on line {rows[0][0]})"
        )

    lines = [line for _, line in rows]
    values = None
    # int64 first: the book's files hold integers, which numpy parses about
    # five times faster than floats (2.5 s against 12 s for full MNIST).
    for dtype in (np.int64, np.float64):
        try:
            values = np.loadtxt(lines, delimiter=",", dtype=dtype, ndmin=2)
            break
        except ValueError as err:
            last_err = err
    if values is None:
        raise _non_numeric(path, rows, last_err)

    labels, pixels = values[:, 0], values[:, 1:]
    bad = np.flatnonzero(~np.isin(labels, np.arange(N_CLASSES)))  # also catches 3.5 and nan
    if bad.size:
        i = bad[0]
        raise DataError(
            f"CSV file {path}, line {rows[i][0]}: label {labels[i]:g} is not an integer in 0..{N_CLASSES - 1}"
        )
    # Written as "not inside" so that nan is caught too.
    bad = np.argwhere(~((pixels >= 0) & (pixels <= 255)))
    if bad.size:
        i, j = bad[0]
        raise DataError(
            f"CSV file {path}, line {rows[i][0]}, field {j + 2}: pixel value {pixels[i, j]:g} is outside 0..255"
        )
    # Whole-number pixels (the usual case) are cached as uint8: full MNIST
    # takes 47 MB per worker instead of 376 MB.
    if np.array_equal(pixels, np.round(pixels)):
        pixels = pixels.astype(np.uint8)
    return _frozen(np.ascontiguousarray(pixels)), _frozen(labels.astype(np.int64))


def _csv_paths(arg: str) -> list[str]:
    paths = [p.strip() for p in arg.split(",")]
    if not 1 <= len(paths) <= 2 or not all(paths):
        raise DataError(
            f"'csv:' takes one or two files, as in 'csv:train.csv' or 'csv:train.csv,test.csv'; got 'csv:{arg}'"
        )
    return paths


def _load_csv(arg: str) -> tuple[Raw, Raw | None]:
    paths = _csv_paths(arg)
    raws = [_read_csv(p) for p in paths]
    if len(raws) == 1:
        return raws[0], None
    train, test = raws
    if train[0].shape[1] != test[0].shape[1]:
        raise DataError(
            f"CSV file {paths[1]} has rows of {test[0].shape[1] + 1} fields but {paths[0]} "
            f"has {train[0].shape[1] + 1}; train and test rows must have the same width"
        )
    return train, test


# ----------------------------------------------------------------- digits


def _digits_path() -> Path | None:
    """scikit-learn's file of the digits, if it is where it has always been."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    return path if path is not None and path.is_file() else None


@functools.lru_cache(maxsize=1)
def _digits() -> Raw:
    # scikit-learn ships the digits as a CSV file beside its package; reading
    # it directly spares every worker process the 3 s import of
    # sklearn.datasets. The loader is the fallback if the file ever moves.
    path = _digits_path()
    if path is not None:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)  # 64 pixels, then the label
        X, y = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)  # X holds whole numbers 0..16 as float64
    return _frozen(X.astype(np.uint8)), _frozen(y.astype(np.int64))


def _load_digits(arg: str) -> tuple[Raw, None]:
    if arg:
        raise DataError(f"'digits' takes no argument, got 'digits:{arg}'")
    return _digits(), None


# ---------------------------------------------------------------- sources


@dataclass(frozen=True)
class DataSource:
    """One kind of spec.

    Attributes
    ----------
    form : str
        How the spec is written, for messages.
    pixel_max : float
        The format's largest pixel value: every input scale divides by it.
    load : callable, the text after ``prefix:`` -> (train, test or None)
        Each part is (pixels (N, n_features), labels (N,)), read-only; a
        missing test part means the train part is to be split.
    files : callable, the text after ``prefix:`` -> the paths of the files
        it reads, whose contents make the data's fingerprint (by default the
        comma-separated paths of the spec itself).
    notes : callable, the text after ``prefix:`` -> sentences the user should
        read before a sweep trains on the data (a CSV header skipped).
    """

    form: str
    pixel_max: float
    load: Callable[[str], tuple[Raw, Raw | None]]
    files: Callable[[str], list[Path]] = lambda arg: [Path(p.strip()) for p in arg.split(",")]
    notes: Callable[[str], list[str]] = lambda arg: []


DATA_SOURCES: dict[str, DataSource] = {
    "digits": DataSource("digits", 16.0, _load_digits, lambda arg: [p] if (p := _digits_path()) else []),
    "idx": DataSource("idx:DIR", 255.0, _load_idx, lambda arg: [p for pair in _idx_sets(arg) for p in pair]),
    "csv": DataSource("csv:TRAIN.csv[,TEST.csv]", 255.0, _load_csv, lambda arg: [Path(p) for p in _csv_paths(arg)],
                      _csv_notes),
}


# ------------------------------------------------------------ fingerprints


def data_fingerprint(spec: str) -> str:
    """12 hex digits of a hash of the contents of the files ``spec`` reads.

    It is part of every run's identity: a file replaced under the same path
    gives new run ids, so runs trained on the old contents are never reused.
    Each file's hash is cached by path, size and mtime (in this process and
    in :func:`fingerprint_cache_path`), so a large file is read once, not at
    every start.
    """
    source, arg = _parse_spec(spec)
    digest = hashlib.sha256(source.form.encode())
    for path in source.files(arg):
        digest.update(_file_hash(_file_key(path, "data")).encode())
    return digest.hexdigest()[:12]


def fingerprint_cache_path() -> Path:
    """Where file hashes are kept between runs: $ACTCOMPARE_CACHE, else ~/.cache/actcompare."""
    root = os.environ.get("ACTCOMPARE_CACHE") or Path.home() / ".cache" / "actcompare"
    return Path(root) / "data-fingerprints.json"


@functools.lru_cache(maxsize=64)
def _file_hash(key: tuple[str, int, int]) -> str:
    path, mtime_ns, size = key
    cache_file = fingerprint_cache_path()
    try:
        cache = json.loads(cache_file.read_text())
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError, RecursionError):
        cache = {}
    entry = cache.get(path)
    if isinstance(entry, list) and entry[:2] == [mtime_ns, size] and isinstance(entry[-1], str):
        return entry[-1]
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError as err:
        raise DataError(f"cannot read data file {path}: {err.strerror or err}") from None
    cache[path] = [mtime_ns, size, digest.hexdigest()]
    try:  # the cache only saves time: a cache that cannot be written is skipped
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(cache, f)
        os.replace(tmp, cache_file)
    except OSError:
        pass
    return digest.hexdigest()


def _parse_spec(spec: object) -> tuple[DataSource, str]:
    if isinstance(spec, str):
        prefix, _, arg = spec.partition(":")
        if (source := DATA_SOURCES.get(prefix.strip())) is not None:
            return source, arg.strip()
    forms = ", ".join(repr(s.form) for s in DATA_SOURCES.values())
    raise DataError(f"unknown data set {spec!r}; valid forms: {forms}")


# ------------------------------------------------------------------ split


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into train and test, keeping class proportions.

    The test set gets ``ceil(test_fraction * N)`` samples (scikit-learn's
    rule: 1,797 digits at 0.2 give 360), shared among the classes in
    proportion to their counts by largest remainders, so class k gets within
    1 of ``n_test * count_k / N``. Within a class the test samples are the
    first of a permutation drawn from ``rng``, class after class.

    Parameters
    ----------
    labels : (N,) class labels
    test_fraction : float in (0, 1)
    rng : numpy.random.Generator
        The only source of randomness: same labels, fraction and generator
        state give the same split.

    Returns
    -------
    train_idx, test_idx : (N - n_test,), (n_test,) int, each sorted
        Disjoint; together all of 0..N-1.
    """
    labels = np.asarray(labels)
    n = len(labels)
    # The small margin keeps float noise from adding a sample: 0.1 * 30 is
    # 3.0000000000000004, whose ceiling would be 4.
    n_test = math.ceil(test_fraction * n - 1e-9)
    if not 0 < n_test < n:
        raise DataError(
            f"{n} samples are too few for test_fraction={test_fraction}: "
            f"train and test each need at least one"
        )
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = n_test * counts / n
    quota = np.floor(exact).astype(np.int64)
    # The samples that flooring left over go to the largest remainders; the
    # stable sort breaks ties by class order, so the quotas are deterministic.
    quota[np.argsort(quota - exact, kind="stable")[: n_test - quota.sum()]] += 1
    test = np.concatenate([rng.permutation(np.flatnonzero(inverse == k))[:q] for k, q in enumerate(quota)])
    in_test = np.zeros(n, dtype=bool)
    in_test[test] = True
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)


def _check_size(what: str, size: object) -> None:
    if size is None:
        return
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise DataError(f"{what} must be a positive integer or None, got {size!r}")


def _subset(idx: np.ndarray, size: int | None, rng: np.random.Generator, what: str, spec: str) -> np.ndarray:
    """The first ``size`` of ``idx`` after a shuffle, in their original order."""
    if size is None:
        return idx
    if size > len(idx):
        raise DataError(f"{what}={size} but {spec!r} has only {len(idx)} samples available for it")
    return idx[np.sort(rng.permutation(len(idx))[:size])]


# ------------------------------------------------------------------- load


def load_dataset(
    spec: str,
    *,
    input_scale: str = "unit",
    test_fraction: float = 0.2,
    train_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
) -> Dataset:
    """Load a data set by spec, scaled and split into train and test.

    Parameters
    ----------
    spec : str
        ``"digits"``, ``"idx:DIR"`` or ``"csv:TRAIN.csv[,TEST.csv]"`` (see
        ``DATA_SOURCES``).
    input_scale : str
        A key of ``INPUT_SCALES``: ``"unit"`` (x / max, in [0, 1]) or
        ``"book"`` (x / max * 0.99 + 0.01); max is 16 for digits and 255 for
        MNIST.
    test_fraction : float in (0, 1)
        Share of the test set when the source has no test set of its own
        (digits, a lone IDX set, a lone CSV file); ignored otherwise.
    train_size, test_size : int or None
        Keep only this many samples of each part, chosen by a seeded shuffle,
        so quick runs see a representative subset. None keeps all.
    split_seed : int >= 0
        Seeds the split and the subsets, and nothing else: a run's own seed
        never changes its data.

    Returns
    -------
    Dataset
        ``X_*`` (N, n_features) float64 and ``y_*`` (N,) int64, read-only,
        in the order of the file.

    Raises
    ------
    DataError
        An unknown spec, scale or size, or a missing or malformed file; the
        message names the file and the problem.
    """
    source, arg = _parse_spec(spec)
    scale = _lookup(INPUT_SCALES, input_scale, "input scale")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) or not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
    _check_size("train_size", train_size)
    _check_size("test_size", test_size)
    if isinstance(split_seed, bool) or not isinstance(split_seed, numbers.Integral) or split_seed < 0:
        raise DataError(f"split_seed must be a non-negative integer, got {split_seed!r}")

    train, test = source.load(arg)
    # One independent stream each, so asking for a train subset changes
    # neither the split nor the test subset.
    split_rng, train_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(split_seed)).spawn(3)
    )
    if test is None:
        try:
            train_idx, test_idx = stratified_split(train[1], test_fraction, split_rng)
        except DataError as err:
            raise DataError(f"{spec!r} cannot be split: {err}") from None
        test = train
    else:
        train_idx, test_idx = np.arange(len(train[1])), np.arange(len(test[1]))
    train_idx = _subset(train_idx, train_size, train_rng, "train_size", spec)
    test_idx = _subset(test_idx, test_size, test_rng, "test_size", spec)

    def part(raw: Raw, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Indexing copies, so the cached arrays are never handed out.
        X = scale(raw[0][idx], source.pixel_max)
        return _frozen(X), _frozen(raw[1][idx].astype(np.int64))

    X_train, y_train = part(train, train_idx)
    X_test, y_test = part(test, test_idx)
    return Dataset(spec, X_train, y_train, X_test, y_test, N_CLASSES)
