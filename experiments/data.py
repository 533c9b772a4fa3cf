"""Data sets for the experiments: 8x8 digits, and MNIST as IDX or CSV files.

``load_dataset(spec)`` turns a spec string into a :class:`Dataset`: float64
features in a chosen input scale and int64 class indices, split into train,
validation (optional) and test.

- ``"digits"``: scikit-learn's 1,797 8x8 digits (pixels 0..16).
- ``"idx:DIR"``: MNIST in its original IDX files, raw or ``.gz``, in DIR.
- ``"csv:TRAIN.csv[,TEST.csv]"``: the format of "Make Your Own Neural Network":
  one sample a line, the label first, then the pixel values 0..255, or any
  real-valued features (with ``input_scale`` standardize or none).
- ``"npz:FILE.npz"``: NumPy arrays ``X_train``, ``y_train`` and optionally
  ``X_test``, ``y_test``.

Labels may be any integers or names; the sorted list of those found is the
data set's ``classes``, and ``y`` holds indices into it.

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
import zipfile
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
    """A train/validation/test split ready for training.

    Attributes
    ----------
    name : str
        The spec it was loaded from, e.g. ``"digits"``, ``"idx:/path"``,
        ``"csv:/a.csv,/b.csv"``.
    X_train : (N_train, n_features) float64, in the requested input scale
    y_train : (N_train,) int64, class indices 0..n_classes-1
    X_test : (N_test, n_features) float64
    y_test : (N_test,) int64
    n_classes : int
        Number of classes: ``len(classes)`` when ``classes`` is given.
    X_val : (N_val, n_features) float64, held out of the training data for
        model selection; (0, n_features) without a validation split.
    y_val : (N_val,) int64
    classes : tuple
        The label of each class index as the file wrote it (ints or strings),
        sorted; ``y == i`` means label ``classes[i]``.
    form : str
        What the features were in the file, as detected: ``"pixels 0..255"``
        (every value in the format's pixel range) or ``"real-valued"`` with
        their range.

    All arrays are read-only: a data set is shared by many runs.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = N_CLASSES
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    classes: tuple = ()
    form: str = ""

    def __post_init__(self) -> None:
        if self.X_val is None:
            object.__setattr__(self, "X_val", _frozen(np.zeros((0, self.X_train.shape[-1]))))
            object.__setattr__(self, "y_val", _frozen(np.zeros(0, np.int64)))
        if self.classes:
            object.__setattr__(self, "n_classes", len(self.classes))
        parts = ((self.X_train, self.y_train, "train"), (self.X_val, self.y_val, "validation"),
                 (self.X_test, self.y_test, "test"))
        for X, y, part in parts:
            if X.ndim != 2 or y is None or y.ndim != 1 or len(X) != len(y):
                raise ValueError(
                    f"{part} set of {self.name!r} needs X (N, n_features) and y (N,), "
                    f"got {X.shape} and {None if y is None else y.shape}"
                )
            if X.shape[1] != self.X_train.shape[1]:
                raise ValueError(
                    f"{self.name!r} has {self.X_train.shape[1]} features in train but {X.shape[1]} in {part}"
                )

    @property
    def n_features(self) -> int:
        """Number of inputs per sample (64 for digits, 784 for MNIST)."""
        return self.X_train.shape[1]

    def info(self) -> dict:
        """What a run stores about its data: detected form, class list, sizes (plain JSON data)."""
        return {
            "form": self.form,
            "classes": [c.item() if isinstance(c, np.generic) else c for c in self.classes],
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
        }

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}, "
            f"n_features={self.n_features}, n_classes={self.n_classes})"
        )


# ------------------------------------------------------- scales and targets

# (training inputs, the format's largest pixel value) -> the transform of
# every part. Fitted on the training part alone, so nothing of the
# validation or test data leaks into the inputs.
Fit = Callable[[np.ndarray, float], Callable[[np.ndarray], np.ndarray]]


@dataclass(frozen=True)
class InputScale:
    """One way to scale the inputs.

    Attributes
    ----------
    fit : callable, (X_train (N, n) float64, pixel_max) -> transform
    pixels_only : bool
        Meaningful only for pixels in 0..pixel_max: real-valued features
        with such a scale are an error rather than silently mis-scaled.
    """

    fit: Fit
    pixels_only: bool = False


def _standardizer(X: np.ndarray, top: float) -> Callable[[np.ndarray], np.ndarray]:
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0] = 1.0  # a constant feature stays 0 instead of becoming NaN
    return lambda x: (x - mean) / std


INPUT_SCALES: dict[str, InputScale] = {
    "unit": InputScale(lambda X, top: lambda x: x / top, pixels_only=True),
    # The book keeps every input above 0 because a zero input gives its
    # weights a zero gradient: 0.01..1.0 instead of 0..1.
    "book": InputScale(lambda X, top: lambda x: x / top * 0.99 + 0.01, pixels_only=True),
    # Per feature mean 0 and std 1 on the training part.
    "standardize": InputScale(_standardizer),
    "none": InputScale(lambda X, top: lambda x: x),
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


def csv_header(path: str | Path) -> str | None:
    """The first line of a CSV file if it is read as a header (and skipped), else None."""
    rows: list[tuple[int, str]] = []
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    rows.append((n, line.strip()))
                if len(rows) == 2:  # _is_header looks at the first two lines
                    break
    except OSError:
        pass
    return rows[0][1] if rows and _is_header(rows) else None


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
    """The error for the first feature field that is not a number (slow: only on failure)."""
    for line_no, line in rows:
        for col, field in enumerate(line.split(",")[1:], start=2):
            if not _NUMBER.fullmatch(field):
                return DataError(f"CSV file {path}, line {line_no}, field {col}: {field.strip()!r} is not a number")
    return DataError(f"CSV file {path} could not be parsed: {err}")


def _parse_numbers(lines: list[str], width: int) -> np.ndarray | ValueError:
    """Comma-separated numbers as a (len(lines), width) array, or the parser's error."""
    # int64 first: the book's files hold integers, which numpy parses about
    # five times faster than floats (2.5 s against 12 s for full MNIST).
    for dtype in (np.int64, np.float64):
        try:
            values = np.loadtxt(lines, delimiter=",", dtype=dtype, ndmin=2)
        except ValueError as err:
            last_err = err
            continue
        if values.shape == (len(lines), width):  # loadtxt skips lines it reads as empty
            return values
        return ValueError(f"expected {len(lines)} rows of {width} numbers, read {values.shape}")
    return last_err


def _is_header(rows: list[tuple[int, str]]) -> bool:
    """A first line of names: a feature field that is not a number, or a
    label field that is not one while the next line's is (labels may be names)."""
    first = rows[0][1].split(",")
    if not all(_NUMBER.fullmatch(f) for f in first[1:]):
        return True
    return (not _NUMBER.fullmatch(first[0]) and len(rows) > 1
            and bool(_NUMBER.fullmatch(rows[1][1].split(",", 1)[0])))


def _class_labels(path: str, rows: list[tuple[int, str]], labels: np.ndarray) -> np.ndarray:
    """Labels as int64 when every one is a whole number, else as their text."""
    if labels.dtype.kind in "iu":
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
        if bad.size:
            i = bad[0]
            raise DataError(f"CSV file {path}, line {rows[i][0]}: label {labels[i]:g} is neither an integer nor a name")
        return labels.astype(np.int64)
    empty = np.flatnonzero(labels == "")
    if empty.size:
        raise DataError(f"CSV file {path}, line {rows[empty[0]][0]}: the label (field 1) is empty")
    return labels


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
    if rows and _is_header(rows):
        rows = rows[1:]  # a header line, e.g. "label,1x1,1x2,..."
    if not rows:
        raise DataError(f"CSV file {path} has no data rows")

    # Widths from comma counts: splitting every line into fields would be far slower.
    widths = np.array([line.count(",") + 1 for _, line in rows])
    width = int(widths[0])
    if width < 2:
        raise DataError(f"CSV file {path}, line {rows[0][0]}: a row needs a label and at least one feature value")
    bad = np.flatnonzero(widths != width)
    if bad.size:
        i = bad[0]
        raise DataError(
            f"CSV file {path}, line {rows[i][0]}: found {widths[i]} fields, expected {width} "
            f"(a label and {width - 1} features, as on line {rows[0][0]})"
        )

    lines = [line for _, line in rows]
    values = _parse_numbers(lines, width)
    if isinstance(values, np.ndarray):
        labels, features = values[:, 0], values[:, 1:]
    else:  # labels that are names (or a bad field): the two parts apart
        parts = [line.partition(",") for line in lines]
        features = _parse_numbers([p[2] for p in parts], width - 1)
        if not isinstance(features, np.ndarray):
            raise _non_numeric(path, rows, features)
        labels = np.array([p[0].strip() for p in parts])
    labels = _class_labels(path, rows, labels)
    bad = np.argwhere(~np.isfinite(features))
    if bad.size:
        i, j = bad[0]
        raise DataError(f"CSV file {path}, line {rows[i][0]}, field {j + 2}: {features[i, j]} is not a finite number")
    return _frozen_features(features), _frozen(labels)


def _frozen_features(X: np.ndarray) -> np.ndarray:
    """(N, n_features) as cached: contiguous, read-only, and whole-number
    pixels (the usual case) as uint8: full MNIST takes 47 MB per worker instead of 376 MB."""
    if X.dtype.kind in "iu" and X.min() >= 0 and X.max() <= 255:
        X = X.astype(np.uint8)
    return _frozen(np.ascontiguousarray(X))


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


# -------------------------------------------------------------------- NPZ

NPZ_ARRAYS = ("X_train", "y_train", "X_test", "y_test")


def _load_npz(arg: str) -> tuple[Raw, Raw | None]:
    if not arg:
        raise DataError("'npz:' needs a file, as in 'npz:data.npz'")
    return _parse_npz(_file_key(arg, "NPZ"))


@functools.lru_cache(maxsize=8)
def _parse_npz(key: tuple[str, int, int]) -> tuple[Raw, Raw | None]:
    path = key[0]
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in NPZ_ARRAYS if name in npz.files}
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as err:  # not a zip, pickled objects, truncated
        raise DataError(f"NPZ file {path} cannot be read as a NumPy .npz archive ({err})") from None
    missing = [n for n in NPZ_ARRAYS[:2] if n not in arrays]
    if missing or (("X_test" in arrays) != ("y_test" in arrays)):
        raise DataError(
            f"NPZ file {path} holds {', '.join(arrays) or 'none'} of its arrays; it needs X_train and y_train, "
            "and optionally X_test with y_test"
        )
    parts = [_npz_part(path, arrays[f"X_{p}"], arrays[f"y_{p}"], p) for p in ("train", "test") if f"X_{p}" in arrays]
    if len(parts) == 2 and parts[0][0].shape[1] != parts[1][0].shape[1]:
        raise DataError(
            f"NPZ file {path}: X_train has {parts[0][0].shape[1]} features per sample but X_test {parts[1][0].shape[1]}"
        )
    return parts[0], (parts[1] if len(parts) == 2 else None)


def _npz_part(path: str, X: np.ndarray, y: np.ndarray, part: str) -> Raw:
    if X.ndim < 2 or len(X) == 0 or X[0].size == 0:
        raise DataError(f"NPZ file {path}: X_{part} must be (samples, features...) with at least one of each, got {X.shape}")
    if y.shape != (len(X),):
        raise DataError(f"NPZ file {path}: y_{part} must be 1-D with one label per sample of X_{part}, got {y.shape}")
    if X.dtype.kind not in "iuf" or not np.isfinite(X).all():
        raise DataError(f"NPZ file {path}: X_{part} must hold finite real numbers, got dtype {X.dtype}")
    X = X.reshape(len(X), -1)
    if y.dtype.kind == "f":
        if not (np.isfinite(y) & (y == np.round(y))).all():
            raise DataError(f"NPZ file {path}: y_{part} holds numbers that are not integers; labels are integers or names")
        y = y.astype(np.int64)
    elif y.dtype.kind in "iu":
        y = y.astype(np.int64)
    elif y.dtype.kind in "US":
        y = y.astype(str)
    else:
        raise DataError(f"NPZ file {path}: y_{part} must hold integers or strings, got dtype {y.dtype}")
    return _frozen_features(X), _frozen(y)


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
        The format's largest pixel value: ``unit`` and ``book`` divide by it,
        and features within 0..pixel_max are taken for pixels.
    load : callable, the text after ``prefix:`` -> (train, test or None)
        Each part is (features (N, n_features), labels (N,) int64 or str),
        read-only; a
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
    "npz": DataSource("npz:FILE.npz", 255.0, _load_npz, lambda arg: [Path(arg)]),
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


def _form(raws: list[Raw], top: float) -> tuple[str, float, float]:
    """The detected form of the features: ("pixels 0..top" or "real-valued lo..hi", lo, hi)."""
    lo = min(float(r[0].min()) for r in raws)
    hi = max(float(r[0].max()) for r in raws)
    if 0 <= lo and hi <= top:
        return f"pixels 0..{top:g}", lo, hi
    return f"real-valued {lo:.4g}..{hi:.4g}", lo, hi


def _classes(raws: list[Raw]) -> np.ndarray:
    """The sorted class labels found in any part; names when any part has names."""
    labels = [r[1] for r in raws]
    if any(y.dtype.kind in "US" for y in labels):
        labels = [y.astype(str) for y in labels]
    return np.unique(np.concatenate(labels))


def load_dataset(
    spec: str,
    *,
    input_scale: str = "unit",
    test_fraction: float = 0.2,
    train_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
    val_fraction: float = 0.0,
) -> Dataset:
    """Load a data set by spec, scaled and split into train, validation and test.

    Parameters
    ----------
    spec : str
        ``"digits"``, ``"idx:DIR"``, ``"csv:TRAIN.csv[,TEST.csv]"`` or
        ``"npz:FILE.npz"`` (see ``DATA_SOURCES``).
    input_scale : str
        A key of ``INPUT_SCALES``: ``"unit"`` (x / max, in [0, 1]),
        ``"book"`` (x / max * 0.99 + 0.01), max being 16 for digits and 255
        for the files (both only for pixels in 0..max); ``"standardize"``
        (per feature mean 0, std 1, fitted on the training part alone) or
        ``"none"``.
    test_fraction : float in (0, 1)
        Share of the test set when the source has no test set of its own
        (digits, a lone IDX set, a lone CSV file, an NPZ without X_test);
        ignored otherwise.
    train_size, test_size : int or None
        Keep only this many samples of each part, chosen by a seeded shuffle,
        so quick runs see a representative subset. None keeps all.
    split_seed : int >= 0
        Seeds the splits and the subsets, and nothing else: a run's own seed
        never changes its data.
    val_fraction : float in [0, 1)
        Share of the (subset) training part held out as the validation set,
        stratified, seeded by ``split_seed``. 0: no validation set.

    Returns
    -------
    Dataset
        ``X_*`` (N, n_features) float64 and ``y_*`` (N,) int64 class
        indices, read-only, in the order of the file.

    Raises
    ------
    DataError
        An unknown spec, scale or size, a missing or malformed file, or an
        input scale that does not fit the features; the message names the
        file and the problem.
    """
    source, arg = _parse_spec(spec)
    scale = _lookup(INPUT_SCALES, input_scale, "input scale")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) or not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) or not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")
    _check_size("train_size", train_size)
    _check_size("test_size", test_size)
    if isinstance(split_seed, bool) or not isinstance(split_seed, numbers.Integral) or split_seed < 0:
        raise DataError(f"split_seed must be a non-negative integer, got {split_seed!r}")

    train, test = source.load(arg)
    form, lo, hi = _form([train] if test is None else [train, test], source.pixel_max)
    if scale.pixels_only and not form.startswith("pixels"):
        raise DataError(
            f"{spec!r} holds {form} features, not pixels 0..{source.pixel_max:g}: input_scale "
            f"{input_scale!r} would mis-scale them; use input_scale standardize or none"
        )
    classes = _classes([train] if test is None else [train, test])
    # One independent stream each, so asking for a train subset changes
    # neither the split nor the test subset (the validation stream is the
    # fourth child: the first three are as they were before it existed).
    split_rng, train_rng, test_rng, val_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(split_seed)).spawn(4)
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
    val_idx = train_idx[:0]
    if val_fraction > 0:
        try:
            keep, held = stratified_split(train[1][train_idx], val_fraction, val_rng)
        except DataError as err:
            raise DataError(f"the training part of {spec!r} cannot give a validation set: {err}") from None
        train_idx, val_idx = train_idx[keep], train_idx[held]

    transform = scale.fit(np.asarray(train[0][train_idx], dtype=np.float64), source.pixel_max)

    def part(raw: Raw, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Indexing copies, so the cached arrays are never handed out.
        X = transform(np.asarray(raw[0][idx], dtype=np.float64))
        y = np.searchsorted(classes, raw[1][idx].astype(classes.dtype)).astype(np.int64)
        return _frozen(X), _frozen(y)

    X_train, y_train = part(train, train_idx)
    X_val, y_val = part(train, val_idx)
    X_test, y_test = part(test, test_idx)
    return Dataset(spec, X_train, y_train, X_test, y_test, len(classes), X_val, y_val, tuple(classes), form)
