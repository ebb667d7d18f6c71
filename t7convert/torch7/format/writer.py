"""Writing ``.t7`` files that real Torch7 can ``torch.load``.

Follows torch7's File.lua ``writeObject`` and the ``write`` methods of tensors and storages: objects
are numbered 1, 2, 3... as first written and written again only as their number, so shared tables,
self-references and storages shared by many tensors survive. Tensor views share a storage when they
are numpy views of one base array (as they are after :func:`t7convert.read`, or when a caller slices one
flat array the way ``getParameters()`` flattens a model's weights).

Python -> Torch7: None -> nil, bool -> boolean, int/float -> number, str/bytes -> string, dict ->
table, list/tuple -> table with keys 1..n, :class:`T7Object` -> its class (with ``V n`` unless its
version is None), numpy arrays -> tensors of the matching type (bool as Byte), :class:`T7Storage` ->
storage, :class:`T7Function` -> function (its bytes as they were).
"""
from __future__ import annotations

import io
import math
import os
import re
import struct
from typing import Any, BinaryIO, Iterator

import numpy as np

from t7convert.common.atomic import atomic_output
from t7convert.common.errors import T7ConvertError
from t7convert.torch7.format import classes as C
from t7convert.torch7.format.reader import TdsHash, TdsVec
from t7convert.torch7.format.values import T7BooleanKey, T7Function, T7Object, T7ObjectKey, T7Storage

_TDS_NAMES = ("tds.Hash", "tds_hash", "tds.Vec")


def _text(v: float, spec: str) -> str:
    """A number as C's printf writes it, as Torch7's ascii files have it (``-nan`` for a negative NaN)."""
    if v != v:
        return "-nan" if math.copysign(1.0, v) < 0 else "nan"
    return format(v, spec)


class _Encoder:
    """Primitive writes in one encoding; mirrors :mod:`t7convert.torch7.format.streams`."""

    def __init__(self, f: BinaryIO, encoding: str, long_size: int) -> None:
        self.f = f
        self.ascii = encoding == "ascii"
        self.long_size = long_size

    def int(self, v: int) -> None:
        if not -2**31 <= v < 2**31:
            raise T7ConvertError(f"{v} does not fit in a Torch7 int")
        self.f.write(b"%d\n" % v if self.ascii else struct.pack("<i", v))

    def longs(self, values: list[int] | tuple[int, ...]) -> None:
        if self.long_size == 4 and any(not -2**31 <= v < 2**31 for v in values):
            raise T7ConvertError("a size, stride or offset does not fit in a 4-byte long")
        if self.ascii:
            if values:
                self.f.write(b" ".join(b"%d" % v for v in values) + b"\n")
        else:
            self.f.write(np.asarray(values, "<i8" if self.long_size == 8 else "<i4").tobytes())

    def long(self, v: int) -> None:
        self.longs([v])

    def double(self, v: float) -> None:
        self.f.write(_text(v, ".17g").encode() + b"\n" if self.ascii else struct.pack("<d", v))

    def raw(self, b: bytes) -> None:
        self.f.write(b)
        if self.ascii and b:
            self.f.write(b"\n")

    def array(self, a: np.ndarray) -> None:
        """Storage data: raw bytes in binary (Longs narrowed for 4-byte files), text lines in ascii."""
        a = np.ascontiguousarray(a).reshape(-1)
        if not self.ascii:
            if a.dtype.kind == "i" and a.dtype.itemsize == 8 and self.long_size == 4:
                if a.size and (a.min() < -2**31 or a.max() >= 2**31):
                    raise T7ConvertError("LongStorage data does not fit in 4-byte longs")
                a = a.astype("<i4")
            self.f.write(memoryview(a.astype(a.dtype.newbyteorder("<"), copy=False)).cast("B"))
            return
        if a.dtype.itemsize == 1 and a.dtype.kind in "uib":
            self.raw(a.astype(np.uint8).tobytes())
            return
        if not a.size:
            return
        if a.dtype.kind == "f":
            spec = ".17g" if a.dtype.itemsize == 8 else ".9g"
            text = " ".join(_text(x, spec) for x in a.tolist())
        else:
            text = " ".join(str(int(x)) for x in a.tolist())
        self.f.write(text.encode() + b"\n")


class _Writer:
    def __init__(self, enc: _Encoder) -> None:
        self.e = enc
        # Keyed by (kind, id): a 1-D array is both a tensor and, as the base of its own view, the
        # storage under it; those are two Torch7 objects with two indices.
        self.index: dict[tuple[str, int], int] = {}
        self.keep: list[Any] = []  # keeps written objects alive so that their ids stay unique
        self.count = 0
        self.flats: dict[int, np.ndarray] = {}

    def _new_or_ref(self, key_obj: Any, tag: int, kind: str = "object") -> bool:
        """Write the tag and index; True when the object itself must follow."""
        self.e.int(tag)
        key = (kind, id(key_obj))
        if key in self.index:
            self.e.int(self.index[key])
            return False
        self.count += 1
        self.index[key] = self.count
        self.keep.append(key_obj)
        self.e.int(self.count)
        return True

    def obj(self, root: Any) -> None:
        """Write ``root`` and everything it holds, depth first as Torch7 does, with an explicit stack
        (so that nesting deeper than Python's recursion limit writes as well as it reads)."""
        stack: list[Iterator[Any]] = [iter((root,))]
        while stack:
            for x in stack[-1]:
                children = self._one(x)
                if children is not None:
                    stack.append(children)
                    break
            else:
                stack.pop()

    def _one(self, x: Any) -> Iterator[Any] | None:
        """Write one value; for a container, its header, and return the values that follow it."""
        e = self.e
        if isinstance(x, T7ObjectKey):
            x = x.value
        if x is None:
            e.int(C.TYPE_NIL)
        elif isinstance(x, (bool, np.bool_, T7BooleanKey)):
            e.int(C.TYPE_BOOLEAN)
            e.int(1 if (x.value if isinstance(x, T7BooleanKey) else x) else 0)
        elif isinstance(x, (int, float, np.integer, np.floating)):
            try:
                v = float(x)
            except OverflowError:
                raise T7ConvertError(f"the integer {x} is too large for a Lua number (a double)") from None
            e.int(C.TYPE_NUMBER)
            e.double(v)
        elif isinstance(x, str):
            e.int(C.TYPE_STRING)
            try:
                b = x.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raise T7ConvertError(f"the string {x[:40]!r} cannot be encoded as UTF-8") from None
            e.int(len(b))
            e.raw(b)
        elif isinstance(x, (bytes, bytearray, memoryview)):
            b = bytes(x)
            e.int(C.TYPE_STRING)
            e.int(len(b))
            e.raw(b)
        elif isinstance(x, T7Storage):
            root = _root(x)
            same = root.size == x.size and root.__array_interface__["data"][0] == x.__array_interface__["data"][0]
            self._storage(self._flat(root) if same and root.dtype == x.dtype else x)
        elif isinstance(x, np.ndarray):
            self._tensor(x)
        elif isinstance(x, T7Object):
            if self._new_or_ref(x, C.TYPE_TORCH):
                self._object_header(x)
                fields = x.fields  # itself, not a copy: a fields table shared or holding itself stays so
                if isinstance(fields, TdsHash):
                    fields = dict(fields)  # an object's fields are a plain table
                elif not isinstance(fields, (dict, list, tuple)):
                    raise T7ConvertError(f"the fields of {x.class_name} are a {type(fields).__name__}, not a table")
                expected = C.header_objects(x.class_name, x.version)
                if len(x.header) != expected:
                    raise T7ConvertError(f"{x.class_name} is written with {expected} "
                                         f"header object(s) before its fields; it has {len(x.header)}")
                return iter((*x.header, fields))
        elif isinstance(x, TdsHash):
            if self._new_or_ref(x, C.TYPE_TORCH):
                self._class_header("tds.Hash", 0)
                e.long(len(x))
                return self._pairs(x)
        elif isinstance(x, TdsVec):
            if self._new_or_ref(x, C.TYPE_TORCH):
                self._class_header("tds.Vec", 0)
                e.long(len(x))
                return iter(list(x))
        elif isinstance(x, dict):
            if self._new_or_ref(x, C.TYPE_TABLE):
                e.int(len(x))
                return self._pairs(x)
        elif isinstance(x, (list, tuple)):
            if self._new_or_ref(x, C.TYPE_TABLE):
                e.int(len(x))
                return _list_pairs(list(x))
        elif isinstance(x, T7Function):
            tag = C.TYPE_LEGACY_RECUR_FUNCTION if x.legacy else C.TYPE_RECUR_FUNCTION
            if self._new_or_ref(x, tag):
                code = bytes(x.bytecode)
                e.int(len(code))
                e.raw(code)
                return iter((x.upvalues if x.upvalues is not None else [],))
        elif hasattr(x, "__array__"):
            self._tensor(np.asarray(x))
        else:
            raise T7ConvertError(f"cannot write a {type(x).__name__} to a .t7 file")
        return None

    @staticmethod
    def _pairs(table: dict) -> Iterator[Any]:
        """Keys and values in turn; Lua tables cannot hold a nil or NaN key, so Torch7 could not read one."""
        for k, v in list(table.items()):
            if k is None or (isinstance(k, (float, np.floating)) and k != k):
                raise T7ConvertError(f"a table key is {k!r}, which a Lua table cannot hold")
            yield k
            yield v

    def _object_header(self, obj: T7Object) -> None:
        name, version = obj.class_name, obj.version
        if not isinstance(name, str) or not name or not name.isprintable():
            raise T7ConvertError(f"{name!r} is not a Torch7 class name")
        if name in C.TENSOR_DTYPES or name in C.STORAGE_DTYPES or name in _TDS_NAMES:
            raise T7ConvertError(f"a T7Object cannot be a {name}: write a numpy array, T7Storage, TdsHash or TdsVec")
        if version is None:
            if re.match(r"V ", name) and re.fullmatch(r"\s*[-+]?[0-9.xXa-fA-FeE+-]+\s*", name[2:]):
                raise T7ConvertError(f"without a version, the class name {name!r} would read as a version")
        elif isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
            raise T7ConvertError(f"the version of {name} must be an int or None, not {version!r}")
        self._class_header(name, None if version is None else int(version))

    def _class_header(self, name: str, version: int | None) -> None:
        if version is not None:
            v = f"V {version}".encode()
            self.e.int(len(v))
            self.e.raw(v)
        n = name.encode()
        self.e.int(len(n))
        self.e.raw(n)

    def _storage(self, flat: np.ndarray) -> None:
        try:
            name = C.storage_class(flat.dtype)
        except KeyError:
            raise T7ConvertError(f"Torch7 has no storage type for numpy dtype {flat.dtype}") from None
        if self._new_or_ref(flat, C.TYPE_TORCH, "storage"):
            self._class_header(name, 1)
            self.e.long(flat.size)
            self.e.array(flat.view(np.ndarray) if isinstance(flat, T7Storage) else flat)

    def _tensor(self, a: np.ndarray) -> None:
        if a.dtype == np.bool_:
            a = a.astype(np.uint8)
        try:
            name = C.tensor_class(a.dtype)
        except KeyError:
            raise T7ConvertError(f"Torch7 has no tensor type for numpy dtype {a.dtype}") from None
        if not self._new_or_ref(a, C.TYPE_TORCH):
            return
        self._class_header(name, 1)
        if a.size == 0:
            self.e.int(0)
            self.e.longs([])
            self.e.longs([])
            self.e.long(1)
            self.e.int(C.TYPE_NIL)
            return
        if a.ndim == 0:
            a = a.reshape(1)
        flat, offset, strides = self._view_of_storage(a)
        self.e.int(a.ndim)
        self.e.longs(list(a.shape))
        self.e.longs(list(strides))
        self.e.long(offset + 1)
        self._storage(flat)

    def _flat(self, root: np.ndarray) -> np.ndarray:
        """One flat view per base array, so that all views of it share one storage index."""
        if root.ndim == 1:
            return root
        flat = self.flats.get(id(root))
        if flat is None:
            flat = self.flats[id(root)] = root.reshape(-1)
            self.keep.append(root)
        return flat

    def _view_of_storage(self, a: np.ndarray) -> tuple[np.ndarray, int, tuple[int, ...]]:
        """(storage array, element offset, element strides) for a tensor: its base array when the tensor
        is a view of it that Torch7 can express, else a compact copy of its own."""
        item = a.dtype.itemsize
        root = _root(a)
        if (root.dtype == a.dtype and root.flags.c_contiguous
                and root.dtype.byteorder in "<=|" and all(s >= 0 and s % item == 0 for s in a.strides)):
            delta = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
            extent = sum((n - 1) * s for n, s in zip(a.shape, a.strides)) + item
            if delta >= 0 and delta % item == 0 and delta + extent <= root.nbytes:
                return self._flat(root), delta // item, tuple(s // item for s in a.strides)
        if isinstance(a, T7Storage):
            return a, 0, (1,)
        compact = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False)
        self.keep.append(compact)
        return compact.reshape(-1), 0, tuple(s // item for s in compact.strides)


def _list_pairs(values: list) -> Iterator[Any]:
    for i, v in enumerate(values, 1):
        yield i
        yield v


def _root(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory: followed through views, and through the helper objects that
    ``np.lib.stride_tricks.as_strided`` and ``broadcast_to`` put between a view and its base."""
    while True:
        base = a.base
        if isinstance(base, np.ndarray):
            a = base
        elif base is not None and hasattr(base, "__array_interface__") and isinstance(
                getattr(base, "base", None), np.ndarray):
            a = base.base
        else:
            return a


def dumps(obj: Any, *, encoding: str = "binary", long_size: int = 8) -> bytes:
    """Serialize ``obj`` to bytes, as :func:`write` would write them."""
    buf = io.BytesIO()
    _write_to(buf, obj, encoding, long_size)
    return buf.getvalue()


def dumps_stream(objects: list[Any], *, encoding: str = "binary", long_size: int = 8) -> bytes:
    """Serialize several top-level objects one after another, as successive ``writeObject`` calls on one
    Torch7 file do (one reference-index space): ``read(..., all=True)`` returns them, ``read`` the first."""
    if not objects:
        raise ValueError("a stream holds at least one object")
    if encoding not in ("binary", "ascii") or long_size not in (4, 8):
        raise ValueError("encoding must be 'binary' or 'ascii', long_size 4 or 8")
    buf = io.BytesIO()
    writer = _Writer(_Encoder(buf, encoding, long_size))
    for obj in objects:
        writer.obj(obj)
    return buf.getvalue()


def _write_to(f: BinaryIO, obj: Any, encoding: str, long_size: int) -> None:
    if encoding not in ("binary", "ascii"):
        raise ValueError("encoding must be 'binary' or 'ascii'")
    if long_size not in (4, 8):
        raise ValueError("long_size must be 4 or 8")
    _Writer(_Encoder(f, encoding, long_size)).obj(obj)


def write(path: str | os.PathLike, obj: Any, *, encoding: str = "binary", long_size: int = 8) -> None:
    """Write ``obj`` as ``torch.save(path, obj[, 'ascii'])`` would; atomically (temp file + rename).

    ``long_size=4`` writes what a Torch7 build with 4-byte ``long`` writes (read it in Torch7 with
    ``torch.load(path, 'b32')``).

    >>> t7convert.write("mean.t7", {"mean": np.zeros(3, np.float32)})   # doctest: +SKIP
    """
    with atomic_output(path) as tmp, open(tmp, "wb", buffering=1 << 20) as f:
        _write_to(f, obj, encoding, long_size)


__all__ = ["write", "dumps", "dumps_stream"]
