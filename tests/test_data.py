"""Tests of experiments.data on tiny IDX and CSV fixtures built here.

Fixtures: 4x4 images with labels 0..9 cycled, so 50 images hold 5 of each
class. Only the last test reads the real MNIST files, and it skips when they
are not beside the project.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.data import (
    DATA_SOURCES,
    INPUT_SCALES,
    TARGET_ENCODINGS,
    DataError,
    Dataset,
    load_dataset,
    one_hot_targets,
    read_idx,
    stratified_split,
)

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801


# ---------------------------------------------------------------- fixtures


def make_images(n: int, seed: int, side: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(n, side, side) uint8 images with all values 0..255, labels i % 10."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, side, side), dtype=np.uint8)
    images.flat[:2] = (0, 255)  # both ends of the range, whatever the seed
    return images, (np.arange(n) % 10).astype(np.uint8)


def write_idx(path: Path, magic: int, array: np.ndarray, dims: tuple[int, ...] | None = None) -> None:
    """An IDX file: big-endian magic and dims, then the bytes (gzipped for .gz)."""
    header = np.array([magic, *(array.shape if dims is None else dims)], dtype=">u4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def write_idx_set(folder: Path, prefix: str, n: int, seed: int, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    images, labels = make_images(n, seed)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", IMAGES_MAGIC, images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", LABELS_MAGIC, labels)
    return images, labels


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray, header: bool = False) -> None:
    rows = np.column_stack([labels, images.reshape(len(images), -1)]).astype(np.int64)
    head = ",".join(["label"] + [f"px{i}" for i in range(rows.shape[1] - 1)]) if header else ""
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=head, comments="")


@pytest.fixture(params=[False, True], ids=["raw", "gz"])
def idx_both(request, tmp_path):
    """A folder with train (50) and t10k (20) sets; returns (folder, train, test)."""
    train = write_idx_set(tmp_path, "train", 50, seed=1, gz=request.param)
    test = write_idx_set(tmp_path, "t10k", 20, seed=2, gz=request.param)
    return tmp_path, train, test


@pytest.fixture
def csv_pair(tmp_path):
    train, test = make_images(50, seed=3), make_images(20, seed=4)
    write_csv(tmp_path / "train.csv", *train)
    write_csv(tmp_path / "test.csv", *test)
    return tmp_path, train, test


def rows_of(X: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in np.ascontiguousarray(X)}


def error_text(spec: str, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(spec, **kwargs)
    return str(info.value)


# ------------------------------------------------------------------- IDX


def test_idx_both_sets_are_train_and_test(idx_both):
    folder, (train_images, train_labels), (test_images, test_labels) = idx_both
    ds = load_dataset(f"idx:{folder}")
    assert isinstance(ds, Dataset) and ds.name == f"idx:{folder}"
    assert ds.X_train.shape == (50, 16) and ds.X_test.shape == (20, 16)
    assert ds.n_features == 16 and ds.n_classes == 10
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.X_train, train_images.reshape(50, -1) / 255.0)
    np.testing.assert_array_equal(ds.X_test, test_images.reshape(20, -1) / 255.0)
    np.testing.assert_array_equal(ds.y_train, train_labels)
    np.testing.assert_array_equal(ds.y_test, test_labels)


@pytest.mark.parametrize("prefix", ["train", "t10k"])
def test_idx_one_set_is_split(tmp_path, prefix):
    images, labels = write_idx_set(tmp_path, prefix, 50, seed=5, gz=True)
    ds = load_dataset(f"idx:{tmp_path}", test_fraction=0.2)
    assert len(ds.y_train) == 40 and len(ds.y_test) == 10
    # 5 of each class, 20 %: exactly one of each in test.
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=10), np.ones(10))
    # Together the two parts are the file, each image once.
    X_all = np.concatenate([ds.X_train, ds.X_test])
    assert rows_of(X_all) == rows_of(images.reshape(50, -1) / 255.0)
    assert len(rows_of(X_all)) == 50


def test_scales(idx_both):
    folder, (images, _), _ = idx_both
    unit = load_dataset(f"idx:{folder}", input_scale="unit")
    book = load_dataset(f"idx:{folder}", input_scale="book")
    x = images.reshape(50, -1).astype(np.float64)
    np.testing.assert_allclose(unit.X_train, x / 255)
    np.testing.assert_allclose(book.X_train, x / 255 * 0.99 + 0.01)
    assert unit.X_train.min() == 0.0 and unit.X_train.max() == 1.0
    assert book.X_train.min() == pytest.approx(0.01) and book.X_train.max() == pytest.approx(1.0)
    assert set(INPUT_SCALES) == {"unit", "book", "standardize", "none"}


def test_idx_errors_name_file_and_problem(tmp_path):
    images, labels = make_images(50, seed=6)
    img, lab = tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte"
    spec = f"idx:{tmp_path}"

    write_idx(img, IMAGES_MAGIC, images[:40], dims=(50, 4, 4))  # header says 50
    write_idx(lab, LABELS_MAGIC, labels)
    msg = error_text(spec)
    assert str(img) in msg and "truncated" in msg and "expected 816 bytes, found 656" in msg

    write_idx(img, 0x00000802, images)
    msg = error_text(spec)
    assert str(img) in msg and "magic number 0x00000802" in msg and "0x00000803" in msg

    write_idx(img, LABELS_MAGIC, images.reshape(-1)[:50])  # a labels file in the images' place
    assert "looks like an IDX labels file" in error_text(spec)

    write_idx(img, IMAGES_MAGIC, images)
    write_idx(lab, LABELS_MAGIC, np.where(np.arange(50) == 7, 12, labels))
    msg = error_text(spec)
    assert str(lab) in msg and "label 12 at index 7" in msg and "0..9" in msg

    write_idx(lab, LABELS_MAGIC, labels[:49])
    msg = error_text(spec)
    assert str(img) in msg and str(lab) in msg and "50 images" in msg and "49 labels" in msg

    write_idx(lab, LABELS_MAGIC, np.concatenate([labels, [1]]), dims=(50,))  # a byte too many
    msg = error_text(spec)
    assert str(lab) in msg and "expected 58 bytes, found 59" in msg


def test_idx_truncated_gzip(tmp_path):
    images, labels = make_images(50, seed=7)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC, images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC, labels)
    gz = tmp_path / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:-20])
    msg = error_text(f"idx:{tmp_path}")
    assert str(gz) in msg and "truncated" in msg


def test_idx_missing_files(tmp_path):
    msg = error_text(f"idx:{tmp_path}")
    assert str(tmp_path) in msg
    for prefix in ("train", "t10k"):
        assert f"{prefix}-images-idx3-ubyte" in msg and f"{prefix}-labels-idx1-ubyte" in msg
    assert "does not exist" in error_text(f"idx:{tmp_path / 'nowhere'}")

    # Half a set is an error, not a set silently skipped.
    images, _ = make_images(10, seed=8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC, images)
    msg = error_text(f"idx:{tmp_path}")
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte" in msg


def test_read_idx_returns_read_only_arrays(idx_both):
    folder, (images, _), _ = idx_both
    path = next(folder.glob("train-images-*"))
    got = read_idx(path, "images")
    np.testing.assert_array_equal(got, images)
    with pytest.raises(ValueError):
        got[0, 0, 0] = 1


# ------------------------------------------------------------------- CSV


def test_csv_train_and_test(csv_pair):
    folder, (train_images, train_labels), (test_images, test_labels) = csv_pair
    ds = load_dataset(f"csv:{folder / 'train.csv'},{folder / 'test.csv'}", input_scale="book")
    assert ds.X_train.shape == (50, 16) and ds.X_test.shape == (20, 16)
    np.testing.assert_allclose(ds.X_train, train_images.reshape(50, -1) / 255 * 0.99 + 0.01)
    np.testing.assert_array_equal(ds.y_test, test_labels)


def test_csv_header_and_single_file_split(tmp_path):
    images, labels = make_images(50, seed=9)
    write_csv(tmp_path / "with_header.csv", images, labels, header=True)
    write_csv(tmp_path / "plain.csv", images, labels)
    a = load_dataset(f"csv:{tmp_path / 'with_header.csv'}")
    b = load_dataset(f"csv:{tmp_path / 'plain.csv'}")
    assert len(a.y_train) == 40 and len(a.y_test) == 10
    np.testing.assert_array_equal(a.X_train, b.X_train)  # header skipped, nothing else
    np.testing.assert_array_equal(np.bincount(a.y_test, minlength=10), np.ones(10))


def test_csv_errors_name_file_and_problem(tmp_path):
    images, labels = make_images(10, seed=10)
    good = tmp_path / "good.csv"
    write_csv(good, images, labels)
    lines = good.read_text().splitlines()

    def broken(line: int, text: str) -> str:
        """Spec of a copy of good.csv with 1-based line ``line`` replaced."""
        path = tmp_path / f"bad{line}.csv"
        path.write_text("\n".join(lines[: line - 1] + [text] + lines[line:]) + "\n")
        return f"csv:{path}"

    msg = error_text(broken(3, lines[2] + ",7"))
    assert "bad3.csv" in msg and "line 3" in msg and "found 18 fields, expected 17" in msg
    msg = error_text(broken(4, lines[3].replace(",", ",x,", 1).rsplit(",", 1)[0]))
    assert "bad4.csv" in msg and "line 4" in msg and "'x' is not a number" in msg
    msg = error_text(broken(5, "3.5" + lines[4][1:]))
    assert "bad5.csv" in msg and "line 5" in msg and "label 3.5" in msg and "neither an integer nor a name" in msg
    msg = error_text(broken(6, lines[5].rsplit(",", 1)[0] + ",256"))  # real-valued with the default unit scale
    assert "bad6.csv" in msg and "256" in msg and "0..255" in msg and "input_scale 'unit'" in msg
    msg = error_text(broken(7, lines[6].rsplit(",", 1)[0] + ",nan"), input_scale="none")
    assert "bad7.csv" in msg and "line 7" in msg and "field 17" in msg and "not a finite number" in msg

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    msg = error_text(f"csv:{empty}")
    assert str(empty) in msg and "no data rows" in msg
    empty.write_text("label,px0,px1\n\n")
    assert "no data rows" in error_text(f"csv:{empty}")

    missing = tmp_path / "missing.csv"
    msg = error_text(f"csv:{good},{missing}")
    assert str(missing) in msg and "does not exist" in msg

    narrow = tmp_path / "narrow.csv"
    write_csv(narrow, images[:, :2, :2], labels)
    msg = error_text(f"csv:{good},{narrow}")
    assert "narrow.csv" in msg and "good.csv" in msg and "same width" in msg
    assert "one or two files" in error_text(f"csv:{good},{good},{good}")

    single = tmp_path / "single.csv"
    single.write_text(lines[0] + "\n")
    msg = error_text(f"csv:{single}")
    assert "single.csv" in msg and "cannot be split" in msg


# ----------------------------------------------------------------- digits


def test_digits_default_split():
    ds = load_dataset("digits")
    assert (len(ds.y_train), len(ds.y_test)) == (1437, 360)
    assert ds.n_features == 64 and ds.n_classes == 10
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=10)
    # Stratified: each class's test share is within one sample of proportional.
    assert np.all(np.abs(np.bincount(ds.y_test, minlength=10) - 360 * counts / 1797) < 1)


def test_digits_split_depends_only_on_split_seed():
    base = load_dataset("digits")
    np.random.seed(123)  # global state must not matter
    again = load_dataset("digits")
    book = load_dataset("digits", input_scale="book")
    np.testing.assert_array_equal(base.X_train, again.X_train)
    np.testing.assert_array_equal(base.y_test, again.y_test)
    np.testing.assert_array_equal(base.y_train, book.y_train)
    np.testing.assert_allclose(book.X_train, base.X_train * 0.99 + 0.01)
    other = load_dataset("digits", split_seed=1)
    assert not np.array_equal(base.y_train, other.y_train)
    # A subset is drawn from the same split, and does not move the test set.
    small = load_dataset("digits", train_size=100)
    assert rows_of(small.X_train) <= rows_of(base.X_train)
    np.testing.assert_array_equal(small.X_test, base.X_test)


# --------------------------------------------------------- split and sizes


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.integers(0, 9), min_size=2, max_size=200),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_properties(labels, fraction, seed):
    labels = np.array(labels)
    n_test = int(np.ceil(fraction * len(labels) - 1e-9))
    if not 0 < n_test < len(labels):
        with pytest.raises(DataError):
            stratified_split(labels, fraction, np.random.default_rng(seed))
        return
    train, test = stratified_split(labels, fraction, np.random.default_rng(seed))
    again = stratified_split(labels, fraction, np.random.default_rng(seed))
    np.testing.assert_array_equal(test, again[1])
    assert len(test) == n_test
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    counts = np.bincount(labels, minlength=10)
    assert np.all(np.abs(np.bincount(labels[test], minlength=10) - n_test * counts / len(labels)) < 1)


def test_split_is_deterministic_and_seeded(tmp_path):
    write_idx_set(tmp_path, "train", 50, seed=11, gz=False)
    a = load_dataset(f"idx:{tmp_path}", split_seed=3)
    b = load_dataset(f"idx:{tmp_path}", split_seed=3)
    c = load_dataset(f"idx:{tmp_path}", split_seed=4)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X_test, c.X_test)


def test_train_and_test_size(idx_both):
    folder = idx_both[0]
    spec = f"idx:{folder}"
    full = load_dataset(spec)
    ds = load_dataset(spec, train_size=30, test_size=7)
    assert (len(ds.y_train), len(ds.y_test)) == (30, 7)
    assert rows_of(ds.X_train) <= rows_of(full.X_train) and rows_of(ds.X_test) <= rows_of(full.X_test)
    np.testing.assert_array_equal(ds.X_train, load_dataset(spec, train_size=30, test_size=7).X_train)
    # The train subset does not depend on test_size (separate streams).
    np.testing.assert_array_equal(ds.X_train, load_dataset(spec, train_size=30).X_train)

    msg = error_text(spec, train_size=51)
    assert "train_size=51" in msg and "only 50" in msg and "available" in msg
    assert "only 20" in error_text(spec, test_size=21)
    for bad in (0, -1, 2.5, True):
        assert "train_size" in error_text(spec, train_size=bad)


# ----------------------------------------------------------------- general


def test_unknown_prefix_scale_and_fraction():
    msg = error_text("mnist:/data")
    assert "'mnist:/data'" in msg
    forms = {"digits", "idx:DIR", "csv:TRAIN.csv[,TEST.csv]", "npz:FILE.npz"}
    for form in forms:
        assert form in msg
    assert {s.form for s in DATA_SOURCES.values()} == forms
    msg = error_text("digits", input_scale="zscore")
    assert "'zscore'" in msg and "unit" in msg and "book" in msg
    for bad in (0.0, 1.0, -0.1, "0.2"):
        assert "test_fraction" in error_text("digits", test_fraction=bad)
    for bad in (1.0, -0.1, "0.1"):
        assert "val_fraction" in error_text("digits", val_fraction=bad)
    assert issubclass(DataError, ValueError)


def test_returned_arrays_are_read_only_and_cache_stays_clean(csv_pair):
    folder, (images, _), _ = csv_pair
    spec = f"csv:{folder / 'train.csv'},{folder / 'test.csv'}"
    ds = load_dataset(spec)
    for a in (ds.X_train, ds.y_train, ds.X_test, ds.y_test):
        with pytest.raises(ValueError):
            a[0] = 5
    # A caller's writable copy does not reach the next load.
    X = ds.X_train.copy()
    X[:] = -1
    np.testing.assert_array_equal(load_dataset(spec).X_train, images.reshape(50, -1) / 255)


def test_cache_sees_rewritten_file(tmp_path):
    path = tmp_path / "d.csv"
    write_csv(path, *make_images(50, seed=12))
    assert len(load_dataset(f"csv:{path}").y_train) == 40
    write_csv(path, *make_images(60, seed=12))  # a different size, so a different key
    assert len(load_dataset(f"csv:{path}").y_train) == 48


def test_one_hot_targets():
    labels = np.array([3, 0, 9])
    T = one_hot_targets(labels, 10, "onehot")
    assert T.shape == (3, 10) and T.dtype == np.float64
    np.testing.assert_array_equal(T.argmax(axis=1), labels)
    assert T.sum() == 3.0
    B = one_hot_targets(labels, 10, "book")
    assert B[0, 3] == 0.99 and B[0, 0] == 0.01 and np.count_nonzero(B == 0.99) == 3
    assert set(TARGET_ENCODINGS) == {"onehot", "book"}
    with pytest.raises(ValueError, match="onehot, book"):
        one_hot_targets(labels, 10, "soft")
    with pytest.raises(ValueError, match="0..9"):
        one_hot_targets(np.array([10]), 10, "onehot")


# ---------------------------------------------------------------- real data


def test_real_mnist_test_set():
    if not MNIST_DIR.is_dir():
        pytest.skip(f"no MNIST files at {MNIST_DIR}")
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz", "labels")
    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz", "images")
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    np.testing.assert_array_equal(labels[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    np.testing.assert_array_equal(
        np.bincount(labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    # t10k only: split 8,000 / 2,000.
    ds = load_dataset(f"idx:{MNIST_DIR}")
    assert (len(ds.y_train), len(ds.y_test), ds.n_features) == (8000, 2000, 784)
    # The book's CSV sample is the first 10 IDX images, pixel for pixel.
    csv = load_dataset(f"csv:{MNIST_DIR / 'mnist_train_100.csv'},{MNIST_DIR / 'mnist_test_10.csv'}")
    np.testing.assert_array_equal(csv.y_test, labels[:10])
    np.testing.assert_array_equal(csv.X_test, images[:10].reshape(10, -1) / 255)


# ------------------------------------------------------------ fingerprints


def test_a_fingerprint_hashes_contents_once_until_size_or_mtime_change(tmp_path, monkeypatch):
    import json
    import os

    from experiments import data as data_module

    monkeypatch.setenv("ACTCOMPARE_CACHE", str(tmp_path / "cache"))
    data_module._file_hash.cache_clear()
    path = tmp_path / "d.csv"
    path.write_text("1,2,3\n4,5,6\n")
    spec = f"csv:{path}"
    first = data_module.data_fingerprint(spec)
    assert len(first) == 12 and first == data_module.data_fingerprint(f"csv:{tmp_path}/./d.csv")

    # A new process (no memory cache) takes the hash from the cache file while
    # size and mtime are unchanged: a poisoned entry proves the file was not read.
    cache_file = data_module.fingerprint_cache_path()
    cache = json.loads(cache_file.read_text())
    cache[str(path.resolve())][-1] = "0" * 64
    cache_file.write_text(json.dumps(cache))
    data_module._file_hash.cache_clear()
    assert data_module.data_fingerprint(spec) != first

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: hashed again
    data_module._file_hash.cache_clear()
    assert data_module.data_fingerprint(spec) == first
    path.write_text("1,2,3\n4,5,7\n")  # same size, new contents, new mtime
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    assert data_module.data_fingerprint(spec) != first


def test_an_unwritable_fingerprint_cache_is_skipped(tmp_path, monkeypatch):
    from experiments import data as data_module

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("ACTCOMPARE_CACHE", str(blocker / "cache"))  # under a file: cannot be created
    data_module._file_hash.cache_clear()
    assert len(data_module.data_fingerprint("digits")) == 12


# ------------------------------------------- users' data: features, labels, npz


def write_real_csv(path: Path, X: np.ndarray, labels, header: str | None = None) -> None:
    lines = [header] if header else []
    lines += [f"{y}," + ",".join(f"{v:.17g}" for v in x) for y, x in zip(labels, X)]
    path.write_text("\n".join(lines) + "\n")


def test_real_valued_csv_standardized_on_the_training_part_only(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[-3.0, 10.0, 0.5], scale=[0.1, 5.0, 2.0], size=(60, 3))
    X[:, 2] = 7.25  # a constant feature stays finite
    labels = np.arange(60) % 3
    write_real_csv(tmp_path / "train.csv", X[:40], labels[:40], header="y,a,b,c")
    write_real_csv(tmp_path / "test.csv", X[40:], labels[40:])
    spec = f"csv:{tmp_path / 'train.csv'},{tmp_path / 'test.csv'}"
    ds = load_dataset(spec, input_scale="standardize")
    assert ds.form == f"real-valued {X.min():.4g}..{X.max():.4g}"
    mean, std = X[:40].mean(axis=0), X[:40].std(axis=0)
    std[2] = 1.0
    np.testing.assert_allclose(ds.X_train, (X[:40] - mean) / std)
    np.testing.assert_allclose(ds.X_test, (X[40:] - mean) / std)  # the training part's statistics
    np.testing.assert_allclose(ds.X_train[:, :2].mean(axis=0), 0, atol=1e-12)
    assert not np.allclose(ds.X_test[:, :2].mean(axis=0), 0, atol=1e-3)
    np.testing.assert_array_equal(load_dataset(spec, input_scale="none").X_test, X[40:])
    for scale in ("unit", "book"):
        msg = error_text(spec, input_scale=scale)
        assert "real-valued" in msg and "0..255" in msg and f"input_scale {scale!r}" in msg and "standardize" in msg


def test_standardize_fits_without_the_validation_part(tmp_path):
    rng = np.random.default_rng(1)
    X, labels = rng.normal(size=(100, 2)), np.arange(100) % 2
    write_real_csv(tmp_path / "a.csv", X, labels)
    ds = load_dataset(f"csv:{tmp_path / 'a.csv'}", input_scale="standardize", val_fraction=0.2)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (64, 16, 20)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1)


def test_labels_may_be_names_or_any_integers(tmp_path):
    X = np.random.default_rng(2).integers(0, 256, size=(30, 4))
    names = np.array(["setosa", "versicolor", "virginica"])[np.arange(30) % 3]
    write_real_csv(tmp_path / "named.csv", X, names)
    ds = load_dataset(f"csv:{tmp_path / 'named.csv'}")
    assert ds.classes == ("setosa", "versicolor", "virginica") and ds.n_classes == 3
    assert ds.info()["classes"] == ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose(ds.X_train.max(), X.max() / 255)  # pixels: unit scale as before
    write_real_csv(tmp_path / "header.csv", X, names, header="species,a,b,c,d")
    assert load_dataset(f"csv:{tmp_path / 'header.csv'}").classes == ds.classes
    codes = np.array([-7, 3, 1000])[np.arange(30) % 3]
    write_real_csv(tmp_path / "codes.csv", X, codes)
    ds = load_dataset(f"csv:{tmp_path / 'codes.csv'}", test_fraction=0.5)
    assert ds.classes == (-7, 3, 1000) and ds.info()["classes"] == [-7, 3, 1000]
    # y holds indices into classes: sample i has label codes[i]
    all_y = np.concatenate([ds.y_train, ds.y_test])
    assert sorted(np.bincount(all_y).tolist()) == [10, 10, 10]


def test_npz_with_and_without_a_test_set(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(40, 3, 3)).astype(np.uint8)
    labels = np.array(["a", "b"])[np.arange(40) % 2]
    np.savez(tmp_path / "both.npz", X_train=images[:30], y_train=labels[:30], X_test=images[30:], y_test=labels[30:])
    ds = load_dataset(f"npz:{tmp_path / 'both.npz'}", input_scale="book")
    assert ds.X_train.shape == (30, 9) and ds.X_test.shape == (10, 9) and ds.classes == ("a", "b")
    np.testing.assert_allclose(ds.X_test, images[30:].reshape(10, 9) / 255 * 0.99 + 0.01)
    np.testing.assert_array_equal(ds.y_test, np.arange(30, 40) % 2)
    real = rng.normal(size=(40, 5))
    np.savez(tmp_path / "train_only.npz", X_train=real, y_train=np.arange(40) % 4)
    ds = load_dataset(f"npz:{tmp_path / 'train_only.npz'}", input_scale="none", test_fraction=0.25)
    assert (len(ds.y_train), len(ds.y_test), ds.n_classes) == (30, 10, 4)
    assert "real-valued" in error_text(f"npz:{tmp_path / 'train_only.npz'}")  # unit needs pixels

    np.savez(tmp_path / "no_labels.npz", X_train=real)
    assert "needs X_train and y_train" in error_text(f"npz:{tmp_path / 'no_labels.npz'}", input_scale="none")
    np.savez(tmp_path / "short.npz", X_train=real, y_train=np.arange(39))
    assert "one label per sample" in error_text(f"npz:{tmp_path / 'short.npz'}", input_scale="none")
    np.savez(tmp_path / "nan.npz", X_train=np.full((4, 2), np.nan), y_train=np.arange(4))
    assert "finite real numbers" in error_text(f"npz:{tmp_path / 'nan.npz'}", input_scale="none")
    (tmp_path / "junk.npz").write_text("not an archive")
    assert "junk.npz" in error_text(f"npz:{tmp_path / 'junk.npz'}")
    assert "does not exist" in error_text(f"npz:{tmp_path / 'missing.npz'}")


def test_validation_split_is_stratified_seeded_and_disjoint():
    ds = load_dataset("digits", val_fraction=0.1)
    again = load_dataset("digits", val_fraction=0.1)
    plain = load_dataset("digits")
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (1293, 144, 360)
    np.testing.assert_array_equal(ds.X_val, again.X_val)
    np.testing.assert_array_equal(ds.X_test, plain.X_test)  # the test set does not move
    assert rows_of(ds.X_val) | rows_of(ds.X_train) == rows_of(plain.X_train)
    assert not rows_of(ds.X_val) & rows_of(ds.X_train)
    counts = np.bincount(ds.y_val, minlength=10)
    assert counts.min() >= 13 and counts.max() <= 16  # about 10% of each class's ~144
    assert len(plain.y_val) == 0 and plain.X_val.shape == (0, 64)
