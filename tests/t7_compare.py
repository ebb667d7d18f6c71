"""Structural comparison of values as Torch7 sees them, for tests and for ``read(write(x)) == x``.

:func:`canonical` turns a value into nested tuples that compare equal exactly when Torch7 could not tell
the two values apart after a save and a load:

* numbers are Lua numbers (doubles): ``1`` and ``1.0`` are one number; ``-0.0`` is not ``0``; every NaN
  equals every NaN;
* strings are byte strings: ``"abc"`` equals ``b"abc"``;
* a list is the table with keys 1..n, an empty list the empty table, a tuple a list;
* a tensor is its element type, its shape as Torch7 stores it (a 0-d array has shape ``(1,)``, an empty
  one ``(0,)``; numpy booleans are Bytes) and its values; a storage its element type and values;
* tables, torch objects and functions met again (shared, or holding themselves) are written as a
  reference to where they were first met, so sharing and cycles are part of the comparison. Entries are
  visited in a canonical order (by key), not in the tables' order, because two saves of one table
  may list its entries in different orders.

Only numpy; no torch.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from t7convert.torch7.format import classes as C
from t7convert.torch7.format.reader import TdsHash, TdsVec
from t7convert.torch7.format.values import T7BooleanKey, T7Function, T7Object, T7ObjectKey, T7Storage

__all__ = ["canonical", "same"]


def same(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same Torch7 value (see :func:`canonical`)."""
    return canonical(a) == canonical(b)


def canonical(x: Any) -> tuple:
    """A hashable, comparable form of ``x`` (see the module's documentation)."""
    return _Canon().run(x)


def _number(v: float) -> tuple:
    v = float(v)
    if math.isnan(v):
        return ("n", "nan")
    return ("n", repr(v))


def _scalar(x: Any) -> tuple | None:
    """The canonical form of a value that holds no others, or None."""
    if x is None:
        return ("nil",)
    if isinstance(x, (bool, np.bool_)):
        return ("b", bool(x))
    if isinstance(x, T7BooleanKey):
        return ("b", x.value)
    if isinstance(x, (int, float, np.integer, np.floating)):
        return _number(x)
    if isinstance(x, str):
        return ("s", x.encode("utf-8", "surrogateescape"))
    if isinstance(x, (bytes, bytearray, memoryview)):
        return ("s", bytes(x))
    if isinstance(x, T7Storage):
        a = np.asarray(x)
        return ("storage", _element(a.dtype), _data(a))
    if isinstance(x, np.ndarray):
        a = x.astype(np.uint8) if x.dtype == np.bool_ else x
        shape = (0,) if a.size == 0 else (1,) if a.ndim == 0 else tuple(a.shape)
        return ("tensor", _element(a.dtype), shape, _data(a))
    return None


def _element(dtype: np.dtype) -> str:
    try:
        return C.element_name(dtype)
    except KeyError:
        return f"?{np.dtype(dtype).str}"


def _data(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a).reshape(-1)
    if a.dtype.kind == "f":
        a = a.astype(a.dtype.newbyteorder("<"), copy=True)
        a[np.isnan(a)] = np.nan  # one NaN: ascii files keep neither sign nor payload
    else:
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return a.tobytes()


def _sort_key(k: Any) -> tuple:
    """Orders a table's keys without looking into shared structure: scalars by value, others by kind."""
    if isinstance(k, T7ObjectKey):
        k = k.value
    s = _scalar(k)
    if s is not None:
        return (0, repr(s))
    if isinstance(k, T7Object):
        return (1, k.class_name)
    if isinstance(k, dict):
        return (2, len(k), sorted(repr(_scalar(i)) for i in k if _scalar(i) is not None))
    if isinstance(k, (list, tuple)):
        return (3, len(k))
    return (4, type(k).__name__)


class _Canon:
    def __init__(self) -> None:
        self.seen: dict[int, int] = {}
        self.keep: list[Any] = []

    def run(self, root: Any) -> tuple:
        # Iterative, like the reader: each frame is (header, items still to visit, parts done).
        frames: list[tuple[tuple, list, list]] = []
        value = self._enter(root, frames)
        if value is not None:
            return value
        result: tuple | None = None
        while frames:
            header, items, parts = frames[-1]
            if items:
                v = self._enter(items.pop(), frames)
                if v is not None:
                    parts.append(v)
                continue
            frames.pop()
            done = header + (tuple(parts),)
            if frames:
                frames[-1][2].append(done)
            else:
                result = done
        assert result is not None
        return result

    def _enter(self, x: Any, frames: list) -> tuple | None:
        """The canonical form of ``x`` if it holds nothing; else push a frame and return None."""
        if isinstance(x, T7ObjectKey):
            x = x.value
        s = _scalar(x)
        if s is not None:
            return s
        key = id(x)
        if key in self.seen:
            return ("ref", self.seen[key])
        n = self.seen[key] = len(self.seen) + 1
        self.keep.append(x)
        if isinstance(x, T7Object):
            fields = x.fields
            header: tuple = ("object", n, x.class_name, x.version)
            items = [fields] if not isinstance(fields, dict) else _entries(fields)
            if isinstance(fields, dict):
                header = header + ("fields",)
        elif isinstance(x, T7Function):
            header = ("function", n, bytes(x.bytecode), bool(x.legacy))
            items = [x.upvalues]
        elif isinstance(x, TdsVec):
            header = ("tds.Vec", n)
            items = list(x)
        elif isinstance(x, TdsHash):
            header = ("tds.Hash", n)
            items = _entries(x)
        elif isinstance(x, dict):
            header = ("table", n)
            items = _entries(x)
        elif isinstance(x, (list, tuple)):
            header = ("table", n)
            items = _entries(dict(enumerate(x, 1)))
        else:
            return ("?", type(x).__name__, repr(x)[:60])
        items.reverse()  # popped from the end
        frames.append((header, items, []))
        return None


def _entries(table: dict) -> list:
    """Keys and values, flattened, in canonical key order."""
    pairs = sorted(table.items(), key=lambda kv: _sort_key(kv[0]))
    flat: list[Any] = []
    for k, v in pairs:
        flat.append(k)
        flat.append(v)
    return flat
