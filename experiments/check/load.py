"""Import the user's file, build the class, and call the user's code safely.

Importing a file executes it, as pytest does with test files: the module runs
under its own name (not ``__main__``), so a training script guarded by
``if __name__ == "__main__":`` does not train. The file's folder goes first on
``sys.path`` so that it can import its neighbours.

Everything the user's code prints is discarded (stdout must stay clean for
``--json``), and its warnings are silenced; an exception it raises becomes a
:class:`CheckError` carrying its message.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np


class CheckError(Exception):
    """A usage error: one line for the user, exit status 2."""


def parse_target(target: str) -> tuple[Path, str]:
    """``"FILE.py:CLASS"`` -> (path, class name)."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise CheckError(f"expected FILE.py:CLASS (e.g. examples/book_sigmoid.py:neuralNetwork), got {target!r}")
    return Path(path), name


def parse_args(text: str | None) -> tuple[tuple, dict]:
    """The constructor's arguments from ``--args``, a Python literal (never ``eval``).

    A tuple gives the positional arguments, a dict the keyword arguments,
    anything else is the single argument: ``'(784, 200, 10, 0.1)'``,
    ``'{"sizes": [64, 32, 10]}'``, ``'[64, 32, 10]'``.
    """
    if text is None:
        return (), {}
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckError(
            f"--args {text!r} is not a Python literal ({reason}); give the constructor's arguments as a "
            "tuple, e.g. --args '(784, 200, 10, 0.1)'"
        ) from None
    if isinstance(value, tuple):
        return value, {}
    if isinstance(value, dict):
        if not all(isinstance(k, str) and k.isidentifier() for k in value):
            raise CheckError(f"--args {text!r}: a dict gives keyword arguments, so its keys must be names")
        return (), value
    return (value,), {}


def describe(exc: BaseException) -> str:
    """``TypeError: message``, the last line a traceback would end with."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[-1]}" if message else type(exc).__name__


@contextlib.contextmanager
def quiet():
    """Discard what user code prints and the warnings it raises."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def call(what: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, with an exception of user code as a :class:`CheckError`.

    ``what`` names the call in the message, e.g. ``"neuralNetwork.train(inputs, targets)"``.
    """
    try:
        with quiet():
            return fn(*args, **kwargs)
    except (KeyboardInterrupt, CheckError):
        raise
    except (Exception, SystemExit) as exc:  # SystemExit: a script's sys.exit() must not end the checker
        raise CheckError(f"{what} raised {describe(exc)}") from None


def load_class(path: Path, name: str) -> type:
    """Import ``path`` and return its class ``name``."""
    if path.suffix != ".py":
        raise CheckError(f"{path}: expected a Python file (FILE.py:CLASS)")
    if not path.is_file():
        raise CheckError(f"{path}: no such file (expected FILE.py:CLASS)")
    module_name = f"_checked_{path.stem}_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up there
    call(f"importing {path}", spec.loader.exec_module, module)
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        classes = sorted(k for k, v in vars(module).items() if isinstance(v, type) and v.__module__ == module_name)
        found = f"classes defined there: {', '.join(classes)}" if classes else "it defines no class"
        raise CheckError(f"{path} has no class {name!r}; {found}")
    return cls


def build(cls: type, args: tuple, kwargs: dict, seed: int) -> Any:
    """``cls(*args, **kwargs)``, NumPy's global generator seeded first.

    This is the one place the project touches NumPy's global random state, on
    purpose: book-style classes draw their weights from ``numpy.random.normal``
    in ``__init__``, and seeding it is the only way to make their check
    repeatable.
    """
    np.random.seed(seed)
    shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    obj = call(f"{cls.__name__}({shown})", cls, *args, **kwargs)
    if not hasattr(obj, "__dict__"):
        raise CheckError(f"{cls.__name__} keeps no attributes in __dict__ (__slots__?); the checker reads the "
                         "weights from the instance's attributes")
    return obj


def method(obj: Any, name: str, option: str) -> Callable:
    """The bound method ``name`` of ``obj``, or a usage error naming the protocol."""
    fn = getattr(obj, name, None)
    if not callable(fn):
        raise CheckError(
            f"{type(obj).__name__} has no method {name!r}; the book's protocol is train(inputs_list, "
            f"targets_list) and query(inputs_list): name yours with {option}"
        )
    return fn
