"""Find the user's weight matrices and order them from input to output.

Candidates are the instance's 2-D float ndarray attributes, and those held in
a list or tuple attribute (named ``W[0]``, ``W[1]``...). They are ordered by
chaining their shapes: the output width of one is the input width of the
next. Both storages are tried: n_out x n_in (the book's ``z = W @ x``) and
n_in x n_out (``z = x @ W``). Other 2-D arrays that do not chain, such as
column-vector biases, are left out of the longest chain.

When several chains fit, the one whose input width ``query`` accepts and whose
output width it returns is taken, then the one with fewer width-1 matrices
(column biases), then the one in the order the attributes were defined, then
the book's storage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .load import CheckError

Array = np.ndarray

# storage name -> shape -> (n_in, n_out)
STORAGES: dict[str, Callable[[tuple[int, int]], tuple[int, int]]] = {
    "n_out x n_in": lambda shape: (shape[1], shape[0]),
    "n_in x n_out": lambda shape: (shape[0], shape[1]),
}

MAX_CANDIDATES = 12  # beyond this, chaining by shape is guesswork: ask for --weights


@dataclass(frozen=True)
class WeightRef:
    """Where a weight matrix lives on the instance: ``attr`` or ``attr[index]``."""

    attr: str
    index: int | None = None

    @property
    def name(self) -> str:
        return self.attr if self.index is None else f"{self.attr}[{self.index}]"

    def set(self, obj: Any, value: Array) -> bool:
        """Put ``value`` in this place; False where that is impossible (a tuple item)."""
        if self.index is None:
            setattr(obj, self.attr, value)
            return True
        container = getattr(obj, self.attr)
        if not isinstance(container, list):
            return False
        container[self.index] = value
        return True

    def get(self, obj: Any) -> Any:
        value = getattr(obj, self.attr, None)
        if self.index is None:
            return value
        try:
            return value[self.index]
        except (TypeError, IndexError, KeyError):
            return None


@dataclass(frozen=True)
class Weights:
    """The weight matrices in input-to-output order and how they are stored.

    Attributes
    ----------
    refs : one :class:`WeightRef` per layer, input layer first
    storage : a key of :data:`STORAGES`
    sizes : widths of every layer, input first, e.g. ``(784, 200, 100, 10)``
    """

    refs: tuple[WeightRef, ...]
    storage: str
    sizes: tuple[int, ...]

    def arrays(self, obj: Any) -> list[Array]:
        return [ref.get(obj) for ref in self.refs]

    def canonical(self, W: Array) -> Array:
        """A stored matrix as n_out x n_in, or back: a view (transposing is its own inverse)."""
        return W if self.storage == "n_out x n_in" else W.T


def is_weight(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 2 and np.issubdtype(value.dtype, np.floating)


def candidates(obj: Any) -> list[WeightRef]:
    """Every 2-D float ndarray on the instance, in attribute order."""
    refs = []
    for attr, value in vars(obj).items():
        if is_weight(value):
            refs.append(WeightRef(attr))
        elif isinstance(value, (list, tuple)):
            refs.extend(WeightRef(attr, i) for i, v in enumerate(value) if is_weight(v))
    return refs


_NAME = re.compile(r"^([A-Za-z_]\w*)(?:\[(\d+)\])?$")


def named(obj: Any, names: str) -> list[WeightRef]:
    """The refs given by ``--weights NAME,NAME,...`` (``W`` or ``W[0]``)."""
    refs = []
    for name in (n.strip() for n in names.split(",")):
        m = _NAME.match(name)
        if not m:
            raise CheckError(f"--weights: {name!r} is not an attribute name (NAME or NAME[i])")
        ref = WeightRef(m.group(1), None if m.group(2) is None else int(m.group(2)))
        if not is_weight(ref.get(obj)):
            found = ", ".join(r.name for r in candidates(obj)) or "none"
            raise CheckError(f"--weights: {type(obj).__name__} has no 2-D float array {ref.name!r}; "
                             f"its 2-D float arrays: {found}")
        refs.append(ref)
    return refs


def _chains(shapes: list[tuple[int, int]], storage: str, fixed_order: bool) -> list[tuple[int, ...]]:
    """Index sequences whose shapes chain under ``storage``; the longest ones only."""
    dims = [STORAGES[storage](s) for s in shapes]
    if fixed_order:
        ok = all(dims[i][1] == dims[i + 1][0] for i in range(len(dims) - 1))
        return [tuple(range(len(dims)))] if ok else []
    best: list[tuple[int, ...]] = []

    def extend(path: tuple[int, ...]) -> None:
        nonlocal best
        grew = False
        for j in range(len(dims)):
            if j not in path and dims[path[-1]][1] == dims[j][0]:
                grew = True
                extend(path + (j,))
        if not grew:
            if not best or len(path) > len(best[0]):
                best = [path]
            elif len(path) == len(best[0]):
                best.append(path)

    for i in range(len(dims)):
        extend((i,))
    return best


def order(obj: Any, refs: list[WeightRef], fits_query: Callable[[int, int], bool], fixed_order: bool) -> Weights:
    """Chain ``refs`` into :class:`Weights` (see module docstring).

    ``fits_query(n_in, n_out)``: whether ``query`` takes n_in inputs and returns n_out outputs.
    ``fixed_order``: the refs are already in order (``--weights``); only the storage is found.
    """
    if not refs:
        raise CheckError(f"{type(obj).__name__} has no 2-D float ndarray attributes (weight matrices); "
                         "name them with --weights NAME,NAME,...")
    if len(refs) > MAX_CANDIDATES:
        raise CheckError(f"{type(obj).__name__} has {len(refs)} 2-D float arrays; name the weights, input "
                         "layer first, with --weights NAME,NAME,...")
    shapes = [ref.get(obj).shape for ref in refs]
    options = []
    for rank, storage in enumerate(STORAGES):
        for chain in _chains(shapes, storage, fixed_order):
            dims = [STORAGES[storage](shapes[i]) for i in chain]
            sizes = (dims[0][0],) + tuple(d[1] for d in dims)
            in_attribute_order = list(chain) == sorted(chain)
            vectors = sum(1 in shapes[i] for i in chain)  # column biases chain too, as width-1 layers
            options.append((len(chain), sizes, (vectors, not in_attribute_order, rank), chain, storage))
    if not options:
        listed = ", ".join(f"{r.name} {s[0]}x{s[1]}" for r, s in zip(refs, shapes))
        raise CheckError(f"--weights: the shapes do not chain from input to output in either storage "
                         f"(n_out x n_in or n_in x n_out): {listed}")
    longest = max(o[0] for o in options)
    options = [o for o in options if o[0] == longest]
    fitting = [o for o in options if fits_query(o[1][0], o[1][-1])]
    if not fitting:
        widths = sorted({(o[1][0], o[1][-1]) for o in options})
        tried = "; ".join(f"{i} inputs -> {n} outputs" for i, n in widths)
        raise CheckError(f"query does not take the input width or return the output width of the weight "
                         f"matrices found ({tried}); name the weights with --weights NAME,NAME,...")
    _, sizes, _, chain, storage = min(fitting, key=lambda o: o[2])
    return Weights(tuple(refs[i] for i in chain), storage, sizes)
