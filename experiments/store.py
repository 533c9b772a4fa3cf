"""Per-run result files: atomic writes, validated reads, one lock per folder.

Each finished run is written at once to ``DIR/runs/<run_id>.json`` through a
temporary file and ``os.replace``, so a crash or Ctrl-C never leaves half a
file under a run's name; an interrupted sweep resumes from what is there.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    from experiments.config import RunConfig

REQUIRED_KEYS = ("run_id", "config", "status", "epochs_done", "epochs", "layers", "seconds")
STATUSES = ("ok", "diverged", "failed")
# Keys every row of a result's "epochs" and "layers" lists holds, as whole numbers.
ROW_INDEX_KEYS = {"epochs": ("epoch",), "layers": ("epoch", "layer")}


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
            result = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"unreadable ({type(exc).__name__})"
        if not isinstance(result, dict) or any(k not in result for k in REQUIRED_KEYS):
            return "missing fields"
        if result["run_id"] != path.stem:
            return f"holding run {result['run_id']!r}, not {path.stem!r}"
        if result["status"] not in STATUSES:
            return f"of unknown status {result['status']!r}"
        return _shape_problem(result) or result

    def load(self, run_ids: Iterable[str] | None = None) -> tuple[dict[str, dict], dict[str, str]]:
        """Valid results by run_id, and problems (run_id -> reason) of bad files.

        ``run_ids`` limits the read to those runs (files of other runs are left alone).
        """
        if not self.dir.is_dir():
            return {}, {}
        paths = sorted(self.dir.glob("*.json")) if run_ids is None else [self.path(r) for r in run_ids]
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
        """Move a bad file aside (kept for inspection, never read as data)."""
        target = self.out_dir / "corrupt" / f"{run_id}.json"
        target.parent.mkdir(exist_ok=True)
        os.replace(self.path(run_id), target)
        return target


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, Real) and not isinstance(v, bool))


# What json.loads makes of numbers and null: a row holding only these passes
# _is_number without a call per value (a sweep holds hundreds of thousands).
_JSON_NUMBER_TYPES = frozenset({int, float, type(None)})


def _row_ok(row: dict[str, Any], index: tuple[str, ...]) -> bool:
    """Whole numbers under the ``index`` keys, numbers or None everywhere."""
    values = row.values()
    if not (_JSON_NUMBER_TYPES.issuperset(map(type, values)) or all(map(_is_number, values))):
        return False
    return all(map(_is_int, map(row.get, index)))


def _shape_problem(result: dict[str, Any]) -> str | None:
    """Why a result with every required key still cannot be read as data, or None."""
    if not isinstance(result["config"], dict):
        return "holding a config that is not a mapping"
    if not (_is_int(result["epochs_done"]) and result["epochs_done"] >= 0) or not _is_number(result["seconds"]):
        return "holding a bad epochs_done or seconds"
    if not (result.get("sizes") is None or (isinstance(result["sizes"], list) and all(map(_is_int, result["sizes"])))):
        return "holding bad layer sizes"
    if not (result.get("diverged_epoch") is None or _is_int(result["diverged_epoch"])):
        return "holding a bad diverged_epoch"
    for part, index in ROW_INDEX_KEYS.items():
        rows = result[part]
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            return f"holding {part} that are not a list of rows"
        if not all(_row_ok(row, index) for row in rows):
            return f"holding a malformed row in {part}"
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
