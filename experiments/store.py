"""Per-run result files: atomic writes, validated reads, one lock per folder.

Each finished run is written at once to ``DIR/runs/<run_id>.json`` through a
temporary file and ``os.replace``, so a crash or Ctrl-C never leaves half a
file under a run's name; an interrupted sweep resumes from what is there.
A file is read as data only if it matches the schema below, key by key and
row by row; anything else is set aside in ``DIR/corrupt/``.
"""
from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import nn

if TYPE_CHECKING:
    from experiments.config import RunConfig

# ------------------------------------------------------------- the schema
# What a stored run holds (see experiments.train.train_group). Every file is
# checked against these tables before it is used; one that breaks them is
# quarantined and recomputed. To store a new key, add it to the table of its
# place: RESULT_KEYS (top level, required), OPTIONAL_RESULT_KEYS (top level,
# may be absent), EPOCH_ROW_KEYS or LAYER_ROW_KEYS (required in every row),
# OPTIONAL_EPOCH_ROW_KEYS (may be absent from a row, e.g. in runs stored by
# older code).
# A row may also hold keys no table names, if their values are numbers
# (int or float; NaN and +-inf included, since a run's diverged epoch holds
# them): a new metric passes before it is registered here.

STATUSES = ("ok", "diverged", "failed")


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_count(v: Any) -> bool:
    return type(v) is int and v >= 0


def _is_seconds(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v) and v >= 0


def _is_float(v: Any) -> bool:  # any float, NaN and inf included
    return type(v) in (int, float)


def _is_fraction(v: Any) -> bool:  # a share in [0, 1]; NaN fails
    return type(v) in (int, float) and 0 <= v <= 1


def _is_text_or_none(v: Any) -> bool:
    return v is None or type(v) is str


def _is_fraction_or_none(v: Any) -> bool:  # None: not measured (no validation split)
    return v is None or _is_fraction(v)


def _is_epoch_or_none(v: Any) -> bool:
    return v is None or _is_count(v)


def _is_class_counts(v: Any) -> bool:  # {"train": [n, ...], "test": [n, ...]}, one count per class
    return (type(v) is dict and set(v) == {"train", "test"}
            and all(type(c) is list and c and all(_is_count(n) for n in c) for c in v.values())
            and len(v["train"]) == len(v["test"]))


def _is_sizes(v: Any) -> bool:
    return v is None or (type(v) is list and len(v) >= 2 and all(type(n) is int and n >= 1 for n in v))


RESULT_KEYS: dict[str, Callable[[Any], bool]] = {
    "run_id": lambda v: type(v) is str,
    "config": lambda v: type(v) is dict,
    "status": lambda v: v in STATUSES,
    "epochs_done": _is_count,
    "epochs": lambda v: type(v) is list,
    "layers": lambda v: type(v) is list,
    "seconds": _is_seconds,
}
OPTIONAL_RESULT_KEYS: dict[str, Callable[[Any], bool]] = {
    "error": _is_text_or_none,
    "diverged_epoch": _is_epoch_or_none,
    "best_epoch": _is_epoch_or_none,
    "stopped_epoch": _is_epoch_or_none,
    "data_info": lambda v: type(v) is dict,
    "class_counts": _is_class_counts,
    "sizes": _is_sizes,
    "blas_threads": _is_count,
}
EPOCH_ROW_KEYS: dict[str, Callable[[Any], bool]] = {
    "epoch": _is_count,
    "train_loss": _is_float,
    "train_acc": _is_fraction,
    "test_acc": _is_fraction,
}
OPTIONAL_EPOCH_ROW_KEYS: dict[str, Callable[[Any], bool]] = {
    "val_acc": _is_fraction_or_none,
}
LAYER_ROW_KEYS: dict[str, Callable[[Any], bool]] = {
    "epoch": _is_count,
    "layer": _is_count,
    **{metric: _is_float for metric in nn.LAYER_METRICS},
}
# part of a result -> (its required row keys, its optional ones, the keys that name a row: one row each)
Checks = dict[str, Callable[[Any], bool]]
ROWS: dict[str, tuple[Checks, Checks, tuple[str, ...]]] = {
    "epochs": (EPOCH_ROW_KEYS, OPTIONAL_EPOCH_ROW_KEYS, ("epoch",)),
    "layers": (LAYER_ROW_KEYS, {}, ("epoch", "layer")),
}


class StoreError(RuntimeError):
    """A results folder that cannot be used: the message says why."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise StoreError(f"cannot write in {path.parent}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes files private; results are for reading
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
        raise StoreError(f"cannot write {path}: {reason}; files written before are intact") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunStore:
    """The ``runs/`` folder of a results directory."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.dir = self.out_dir / "runs"

    def prepare(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create results folder {self.dir}: {exc.strerror}") from None
        if not os.access(self.dir, os.W_OK):
            raise StoreError(f"results folder {self.dir} is not writable")

    def path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def write(self, result: dict[str, Any]) -> None:
        atomic_write_text(self.path(result["run_id"]), json.dumps(result))

    def _read(self, path: Path) -> dict[str, Any] | str:
        """The result in ``path``, or a sentence saying why it is unusable."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read
                return "not a regular file"
            result = json.loads(path.read_bytes())
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            # ValueError: bad JSON, or an integer of over 4,300 digits;
            # RecursionError: JSON nested many thousand levels deep.
            return f"unreadable ({type(exc).__name__})"
        if type(result) is not dict:
            return "not a mapping"
        if result.get("run_id") != path.stem:
            return f"holding run {show_short(result.get('run_id'))}, not {path.stem!r}"
        return schema_problem(result) or result

    def load(self, run_ids: Iterable[str] | None = None) -> tuple[dict[str, dict], dict[str, str]]:
        """Valid results by run_id, and problems (run_id -> reason) of bad files.

        ``run_ids`` limits the read to those runs (files of other runs are left alone).
        """
        if not self.dir.is_dir():
            return {}, {}
        if run_ids is None:
            paths = sorted(self.dir.glob("*.json"))
        else:  # one listing of the folder, not a stat per run: a big grid is planned fast
            stored = {name[:-5] for name in os.listdir(self.dir) if name.endswith(".json")}
            paths = [self.path(r) for r in run_ids if r in stored]
        good, bad = {}, {}
        for path in paths:
            if not path.exists():
                continue
            r = self._read(path)
            if isinstance(r, str):
                bad[path.stem] = r
            else:
                good[path.stem] = r
        return good, bad

    def load_runs(self, runs: Sequence["RunConfig"]) -> tuple[dict[str, dict], dict[str, str]]:
        """As :meth:`load` for the runs of a sweep; a file must also hold its
        run's config, so an edited file is never taken for the run's result."""
        run_ids = [r.run_id for r in runs]  # a hash of the config: computed once
        good, bad = self.load(run_ids)
        for run, run_id in zip(runs, run_ids):
            if run_id in good and good[run_id]["config"] != run.flat():
                del good[run_id]
                bad[run_id] = "holding a config other than its run's"
        return good, bad

    def quarantine(self, run_id: str) -> Path:
        """Move a bad file aside (kept for inspection, never read as data).

        A run quarantined before keeps its first copy: the next is
        ``<run_id>.1.json``, then ``.2``, and so on.
        """
        folder = self.out_dir / "corrupt"
        folder.mkdir(exist_ok=True)
        n = 0
        while True:
            target = folder / (f"{run_id}.json" if n == 0 else f"{run_id}.{n}.json")
            if not os.path.lexists(target):
                break
            n += 1
        os.replace(self.path(run_id), target)
        return target

    def remove_leftovers(self) -> list[Path]:
        """Delete temporary files that a killed process left behind (call with
        the folder locked, so that no live writer owns them)."""
        leftovers = [p for folder in (self.out_dir, self.dir) for p in folder.glob(".*.tmp") if p.is_file()]
        for p in leftovers:
            p.unlink(missing_ok=True)
        return leftovers


def show_short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad_key(d: dict[str, Any], keys: Checks, optional: Checks) -> str | None:
    """The first key of ``keys`` missing from ``d`` or failing its check, else
    the first key of ``optional`` present and failing its check, else None."""
    for key, ok in keys.items():
        if key not in d or not ok(d[key]):
            return key
    for key, ok in optional.items():
        if key in d and not ok(d[key]):
            return key
    return None


def _row_problem(rows: list[Any], keys: Checks, optional: Checks, part: str) -> str | None:
    for i, row in enumerate(rows):
        if type(row) is not dict:
            return f"holding a row of {part} that is not a mapping"
        key = _bad_key(row, keys, optional)
        if key is not None:
            if key not in row:
                return f"holding a row of {part} without {key!r} (row {i})"
            return f"holding a bad {key} in {part} (row {i}: {show_short(row[key])})"
        if len(row) > len(keys):
            extra = [k for k in row if k not in keys and k not in optional and not _is_float(row[k])]
            if extra:
                return f"holding a non-numeric {extra[0]!r} in {part} (row {i})"
    return None


def schema_problem(result: dict[str, Any]) -> str | None:
    """Why a stored result does not match the schema, or None if it does.

    Checks the keys and their types (:data:`RESULT_KEYS`, :data:`ROWS`),
    ranges, one row per epoch (and per epoch and layer), and that status and
    rows agree: a failed run has an error and no rows, a finished one has
    the rows of epochs 0..epochs_done, a diverged one diverged at its last.
    """
    key = _bad_key(result, RESULT_KEYS, OPTIONAL_RESULT_KEYS)
    if key is not None:
        return f"missing {key!r}" if key not in result else f"holding a bad {key} ({show_short(result[key])})"
    status, done, error = result["status"], result["epochs_done"], result.get("error")
    planned = result["config"].get("epochs")
    if type(planned) is int and done > planned:
        return f"holding epochs_done {done} of a run of {planned} epochs"
    if status == "failed":
        if not error or result["epochs"] or result["layers"] or done or result.get("diverged_epoch") is not None:
            return "a failed run holding rows or no error"
        return None
    if error is not None or result.get("sizes") is None:
        return f"an {status} run holding an error or no layer sizes"
    if (result.get("diverged_epoch") == done) != (status == "diverged") or (
        status == "ok" and result.get("diverged_epoch") is not None
    ):
        return f"an {status} run whose diverged_epoch disagrees with its status"
    for part, (keys, optional, index) in ROWS.items():
        problem = _row_problem(result[part], keys, optional, part)
        if problem:
            return problem
    epochs = [row["epoch"] for row in result["epochs"]]
    if epochs != list(range(done + 1)):
        return f"holding epoch rows {show_short(epochs)}, not one for each epoch 0..{done}"
    n_layers = len(result["sizes"]) - 1
    layers = sorted((row["epoch"], row["layer"]) for row in result["layers"])
    if layers != [(e, l) for e in range(done + 1) for l in range(1, n_layers + 1)]:
        return f"holding layer rows other than one for each epoch 0..{done} and layer 1..{n_layers}"
    return None


class FolderLock:
    """An exclusive lock on a results folder, so two sweeps never write the same files."""

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / ".sweep.lock"
        self._fd: int | None = None

    def __enter__(self) -> "FolderLock":
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            self._fd = None
            raise StoreError(
                f"another sweep ({holder}) is writing to {self.path.parent}; "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"pid {os.getpid()}".encode(), 0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
