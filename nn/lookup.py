"""Name -> entry lookups in the project's tables, with one kind of error."""
from __future__ import annotations

from typing import Any, Mapping


def lookup(table: Mapping[str, Any], name: object, what: str, error: type[Exception] = ValueError) -> Any:
    """``table[name]``, or ``error`` naming ``name`` and listing the valid names."""
    try:
        return table[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name
        raise error(f"unknown {what} {name!r}; valid {what}s: {', '.join(table)}") from None
