"""The Python values a ``.t7`` file reads to, beyond plain dicts, lists, numbers and strings.

Lua tables become :class:`T7Table` (a dict) or :class:`T7List` (a list, when the keys are exactly
1..n). Both hash by identity because Lua allows a table as a key, even a table as its own key.
Torch classes become :class:`T7Object`; storages :class:`T7Storage` (an ndarray subclass, so that a
storage written back stays a storage and a tensor stays a tensor); functions :class:`T7Function`, whose
bytecode is kept as opaque bytes and never executed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from t7convert.common.errors import T7ConvertError


class T7Table(dict):
    """A Lua table with non-list keys. Hashable by identity, as Lua tables are."""

    __hash__ = object.__hash__  # type: ignore[assignment]


class T7List(list):
    """A Lua table whose keys are exactly 1..n, as a 0-based Python list. Hashable by identity."""

    __hash__ = object.__hash__  # type: ignore[assignment]


class T7Storage(np.ndarray):
    """A Torch7 storage: a flat array that tensors view with sizes, strides and an offset.

    Kept distinct from a 1-D tensor because Torch7 code distinguishes them (``nn.View`` keeps its
    sizes in a LongStorage); slicing or arithmetic on it gives plain ndarrays.
    """

    def __array_finalize__(self, obj: Any) -> None:  # noqa: D105 - numpy hook
        pass

    def __array_wrap__(self, out_arr, context=None, return_scalar=False):  # noqa: D105
        return np.asarray(out_arr)[()] if return_scalar else np.asarray(out_arr)

    def __getitem__(self, key):  # noqa: D105 - a slice of a storage is just data
        return np.asarray(self)[key]


def as_storage(array: np.ndarray) -> T7Storage:
    """Mark a 1-D array as a Torch7 storage (a view, no copy)."""
    array = np.asarray(array)
    if array.ndim != 1:
        raise ValueError("a storage is one-dimensional")
    return array.view(T7Storage)


def lua_sequence(table: dict) -> list:
    """``table[1], table[2], ...`` up to the first missing key (the Lua border from 1)."""
    # only int keys: a bare True is the same dict key as 1 in Python but a different key in Lua
    numbered = {k: v for k, v in table.items() if type(k) is int}
    out = []
    while len(out) + 1 in numbered:
        out.append(numbered[len(out) + 1])
    return out


_STEP = re.compile(r"""\.?([A-Za-z_][A-Za-z_0-9]*)|\[\s*(-?\d+)\s*\]|\[\s*(["'])(.*?)\3\s*\]""")


def at_path(value: Any, path: str) -> Any:
    """Follow a Torch7 path (``modules[2].weight``, ``[1]``, ``["key"]``) from ``value``.

    ``[n]`` is Lua's 1-based index: item n-1 of a list (the reader reads tables keyed 1..n as 0-based
    Python lists), key n of a table. A name is a field of a module or a string key of a table.
    Raises KeyError naming the part of the path that was found and what it is."""
    pos, done = 0, ""
    path = path.strip()
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None or (m.group(1) and pos and path[pos] != "."):
            raise KeyError(f"{path!r} is not a Torch7 path (expected .name or [n] at {path[pos:]!r})")
        name, number, string = m.group(1), m.group(2), m.group(4)
        key: Any = name if name is not None else (int(number) if number is not None else string)
        value = _step(value, key, done or "<root>")
        done += path[pos:m.end()]
        pos = m.end()
    return value


def _step(value: Any, key: Any, where: str) -> Any:
    holder = value.fields if isinstance(value, T7Object) else value
    if isinstance(holder, list) and type(key) is int:
        if 1 <= key <= len(holder):
            return holder[key - 1]
        raise KeyError(f"{where} has {len(holder)} entries (1 to {len(holder)}); there is no [{key}]")
    if isinstance(holder, dict) and key in holder:
        return holder[key]
    what = (value.class_name if isinstance(value, T7Object) else "tensor" if isinstance(value, np.ndarray)
            else "Lua table" if isinstance(value, dict) else type(value).__name__)
    label = f"[{key}]" if type(key) is int else key
    raise KeyError(f"{where} (a {what}) has no {label}")


class T7ObjectKey:
    """A Lua table key that is itself a table, tensor or storage (nn.GPU keeps its devices in tables
    keyed by tensors). Lua compares such keys by identity, and so does this wrapper; ``value`` is the
    key itself, and the writer writes it back as that value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("T7ObjectKey is immutable")

    def __eq__(self, other: Any) -> bool:
        return type(other) is T7ObjectKey and other.value is self.value

    def __hash__(self) -> int:
        return hash((T7ObjectKey, id(self.value)))

    def __repr__(self) -> str:
        return f"T7ObjectKey({type(self.value).__name__})"


class T7BooleanKey:
    """A Lua boolean used as a table key in a table that also has the number key equal to it.

    Lua's ``true`` and ``1`` are different keys; Python's ``True`` and ``1`` are the same dict key. A table
    holding both (``{[1] = 'one', [true] = 'yes'}``) therefore reads with this object as the key of the
    boolean entry, so that neither entry is lost; the writer writes it back as a boolean. Boolean keys
    without such a twin read as plain ``True``/``False``.
    """

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        object.__setattr__(self, "value", bool(value))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("T7BooleanKey is immutable")

    def __eq__(self, other: Any) -> bool:
        return type(other) is T7BooleanKey and other.value == self.value

    def __hash__(self) -> int:
        return hash((T7BooleanKey, self.value))

    def __repr__(self) -> str:
        return f"T7BooleanKey({self.value})"


@dataclass(eq=False)
class T7Function:
    """A serialized Lua function: LuaJIT/Lua bytecode and its upvalues, never executed."""

    bytecode: bytes
    upvalues: Any
    legacy: bool = False

    def __repr__(self) -> str:
        return f"<T7Function: {len(self.bytecode)} bytes of bytecode, not executed>"


@dataclass(eq=False)
class T7Object:
    """An instance of a Torch7 class: ``nn.SpatialConvolution``, ``tds.Hash``, a user's ``Blah``.

    ``version`` is the number after the ``V `` prefix Torch7 writes before the class name; None in files
    written before the versioning system existed (Torch7 then reads the version as 0).
    ``fields`` is the instance's table. Fields are also reachable as attributes and items.
    """

    class_name: str
    version: int | None = None
    fields: dict = field(default_factory=T7Table)
    #: objects a class's own ``write`` puts before its fields (nn.GPU writes ``{type, device}`` first)
    header: tuple = ()

    # --- field access -------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("class_name", "version", "fields"):
            raise AttributeError(name)
        try:
            return self.fields[name]
        except (KeyError, TypeError):
            raise AttributeError(f"{self.class_name} has no field {name!r}") from None

    def __getitem__(self, key: Any) -> Any:
        return self.fields[key]

    def __contains__(self, key: Any) -> bool:
        return isinstance(self.fields, dict) and key in self.fields

    def get(self, key: Any, default: Any = None) -> Any:
        return self.fields.get(key, default) if isinstance(self.fields, dict) else default

    def items(self):
        return self.fields.items() if isinstance(self.fields, dict) else iter(())

    # --- nn modules ------------------------------------------------------------------------------
    @property
    def children(self) -> list["T7Object"]:
        """Child modules of a container, in order: what Torch7's ``for i = 1, #self.modules`` runs.

        That is the Lua sequence ``modules[1], modules[2], ...`` up to the first missing key. Other keys
        (0, negative numbers, anything after a hole) are never run by Torch7 and are not children; Lua's
        ``#`` on a table with holes may give any border, and this takes the contiguous run from 1, which
        is what tables built with ``table.insert`` (as nn containers are) give.
        """
        mods = self.get("modules")
        if isinstance(mods, list):
            return list(mods)
        if isinstance(mods, dict):
            return lua_sequence(mods)
        return []

    def at(self, path: str) -> Any:
        """The value at a Torch7 path, 1-based as Lua and t7convert's messages write it:
        ``m.at("modules[2].modules[1].weight")`` is ``m.modules[1].modules[0].weight`` in Python."""
        return at_path(self, path)

    @property
    def effective_version(self) -> int:
        """The version Torch7's ``read`` methods see: 0 when the file has no ``V n`` prefix."""
        return 0 if self.version is None else self.version

    def walk(self, path: str = "", *, unique: bool = False,
             limit: int = 1_000_000) -> Iterator[tuple[str, "T7Object"]]:
        """Yield (path, module) for this module and every descendant, depth first.

        A module used in several places (Torch7 allows sharing) comes once per place, or only at its
        first place with ``unique``. Iterative, and at most ``limit`` visits: a small file can share
        modules so that its tree has exponentially many places.
        """
        stack: list[tuple[str, T7Object]] = [(path, self)]
        seen: set[int] = set()
        visits = 0
        while stack:
            p, m = stack.pop()
            if unique:
                if id(m) in seen:
                    continue
                seen.add(id(m))
            visits += 1
            if visits > limit:
                raise T7ConvertError(f"more than {limit:,} modules in the tree (modules shared over and over?)")
            yield p, m
            kids = [(f"{p}.modules[{i}]" if p else f"modules[{i}]", c)
                    for i, c in enumerate(m.children, 1) if isinstance(c, T7Object)]
            stack.extend(reversed(kids))

    def __repr__(self) -> str:
        v = "" if self.version is None else f" v{self.version}"
        return f"<T7Object {self.class_name}{v}: {len(self.fields) if isinstance(self.fields, dict) else '?'} fields>"
