"""Snapshot and restore the user's instance around a ``train`` call.

``train`` may update arrays in place (``self.who += ...``) or rebind them
(``self.who = self.who + ...``), and may touch biases or any other array. The
snapshot keeps the attribute namespace (which object each name refers to,
and the items of list attributes) and a copy of every array reachable from it
directly or through a list or tuple; restoring writes the copies back into the
original arrays and the original objects back into the namespace, so the
weights the user's code sees are exactly the ones before the call.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class Snapshot:
    def __init__(self, obj: Any) -> None:
        self._namespace = dict(vars(obj))
        self._items = {k: list(v) for k, v in self._namespace.items() if isinstance(v, list)}
        arrays: dict[int, np.ndarray] = {}
        for value in self._namespace.values():
            for a in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(a, np.ndarray) and a.flags.writeable:
                    arrays[id(a)] = a
        self._arrays = [(a, a.copy()) for a in arrays.values()]

    def restore(self, obj: Any) -> None:
        for a, saved in self._arrays:
            a[...] = saved
        for k, items in self._items.items():
            self._namespace[k][:] = items
        namespace = vars(obj)
        namespace.clear()
        namespace.update(self._namespace)
