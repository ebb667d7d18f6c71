"""Reading ``.t7`` files: Torch7's ``torch.save`` format, binary or ascii, 8- or 4-byte longs.

The reader follows torch7's File.lua ``readObject`` and the ``read`` methods of tensors, storages and
tds containers, with three differences that make it safe on files from anywhere:

* every length, size, stride and offset is checked against what the file can hold before anything is
  allocated, and a tensor view must lie inside its storage;
* it is iterative (an explicit stack, bounded by ``max_depth``), so deep nesting cannot exhaust Python's
  recursion;
* nothing read is executed: Lua functions stay opaque bytecode.

Storage data is not read: a binary file is memory-mapped (copy-on-write, so callers may modify arrays
without touching the file) and tensors are views into it, paged in when used. A ResNeXt checkpoint's
gradWeights, half of its bytes, are therefore never read unless asked for.
"""
from __future__ import annotations

import gc
import math
import mmap
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from types import GeneratorType
from typing import Any, Generator

import numpy as np

from t7convert.common.errors import T7FormatError
from t7convert.common.inputs import open_regular
from t7convert.torch7.format import classes as C
from t7convert.torch7.format.streams import AsciiStream, BinaryStream, StreamError
from t7convert.torch7.format.values import T7BooleanKey, T7Function, T7List, T7Object, T7ObjectKey, T7Storage, T7Table

DEFAULT_MAX_DEPTH = 100_000
_PENDING = object()
_MAX_DIMS = 64  # numpy's limit; Torch7 files never come near it
_MAX_LABEL = 40  # characters of a string key shown in an object path
_PATH_ENDS = 16  # an object path deeper than twice this shows its first and last levels
_MAX_REASON = 600  # characters of an error's reason (a 64-dimension shape would be longer)
_MAX_EXTENT = 2**48  # no size, stride or element count of a real tensor comes near it
# Expanded views (zero strides) may describe more elements than their storages hold, but all of them
# together at most this many bytes, or _REPEAT_FACTOR times the file's size when that is more: one
# 256 MiB view over one stored value is allowed, sixteen of them (4 GiB from a 5 KB file) are not.
_MAX_REPEAT_BYTES = 1 << 28
_REPEAT_FACTOR = 16
_VERSION = re.compile(r"^V (.*)$", re.S)


class TdsHash(T7Table):
    """A ``tds.Hash`` read as a dict (written back as a tds.Hash)."""


class TdsVec(T7List):
    """A ``tds.Vec`` read as a list (written back as a tds.Vec)."""


@dataclass
class TensorRecord:
    """Where a tensor came from: for ``inspect`` and for reading only what is needed."""

    path: str
    class_name: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    storage_offset: int          # 0-based, in elements
    storage_index: int | None    # the storage's object index in the file; None without storage
    header_offset: int           # byte offset of the tensor's object in the file


@dataclass
class StorageRecord:
    index: int
    class_name: str
    size: int
    data_offset: int | None      # byte offset of the raw data (binary files), None for ascii
    path: str


@dataclass
class T7Document:
    """A parsed file: its root value and the facts ``inspect`` reports."""

    path: str
    root: Any
    encoding: str                # "binary" or "ascii"
    long_size: int               # 8, or 4 for files written with 4-byte longs
    file_size: int
    tensors: list[TensorRecord] = field(default_factory=list)
    storages: dict[int, StorageRecord] = field(default_factory=dict)
    classes: Counter = field(default_factory=Counter)   # (class name, version or None) -> count
    functions: int = 0
    #: every top-level object of the file, in order: one, or several for a stream written by successive
    #: ``writeObject`` calls on one file (sharing one reference-index space). ``root`` is the first: what
    #: Torch7's ``torch.load`` returns.
    objects: list[Any] = field(default_factory=list)
    #: a stream's last object that does not read (cut short): what went wrong, with its byte offset
    stream_tail_error: str | None = None


def sniff_foreign(head: bytes) -> str | None:
    """Name the format of a file that is not Torch7 serialization, from its first bytes."""
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(head)
    # before the pickle test: a safetensors header of 0x380 bytes starts with 80 03, pickle's protocol 3
    if len(head) >= 10 and head[8:10] == b'{"' and 2 <= int.from_bytes(head[:8], "little") < 2**32:
        return "a safetensors file, not a Torch7 file: load it with safetensors.torch.load_file"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return ("a Python pickle (the legacy PyTorch checkpoint format), not a Torch7 file: "
                "load it with torch.load(path, weights_only=True)")
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed; decompress it first (gunzip) and read the result"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (Keras or torch-hdf5), not a Torch7 serialization"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file, not a Torch7 serialization"
    if head.startswith(b"\x1bLJ") or head.startswith(b"\x1bLua"):
        return "a compiled Lua chunk, not a Torch7 serialization (and t7convert never runs Lua code)"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "a PNG image, not a Torch7 file"
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image, not a Torch7 file"
    if _looks_like_onnx(head):
        return "an ONNX model (protobuf), not a Torch7 file: open it with onnx.load or onnxruntime"
    return None


def _zip_kind(head: bytes) -> str:
    """A zip's first entry (its name starts at byte 30 of the local header) tells torch.save's archives
    (``archive/data.pkl``, ``NAME/version``...) from NumPy's .npz and other zips."""
    n = int.from_bytes(head[26:28], "little")
    name = head[30:30 + n]
    if name.endswith(b".npy"):
        return "a NumPy .npz archive, not a Torch7 file: load it with numpy.load"
    if len(name) == n and b"/" not in name:
        return "a zip archive, not a Torch7 file (torch.save's archives hold a folder; this one does not)"
    return ("a PyTorch checkpoint (a zip archive as torch.save writes), not a Torch7 file: "
            "load it with torch.load(path, weights_only=True)")


def _looks_like_onnx(head: bytes) -> bool:
    """An ONNX ModelProto starts with field 1 (ir_version, a small varint: 08 0N), then another field
    of the model (producer_name 0x12, producer_version 0x1a, domain 0x22, model_version 0x28,
    doc_string 0x32, graph 0x3a, opset_import 0x42)."""
    return (len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 20
            and head[2] in (0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42))


def _looks_like_torch7(head: bytes) -> bool:
    """A Torch7 file starts with a type tag, 0 to 8: as a 4-byte int, or as text in an ascii file."""
    if len(head) >= 4 and 0 <= int.from_bytes(head[:4], "little") <= 8:
        return True
    return _is_ascii(head)


def _is_ascii(head: bytes) -> bool:
    """Ascii files start with a small type tag on its own line ("4\\n", "3\\n"); binary ones with 0x0N 0 0 0."""
    return re.match(rb"\s*-?\d{1,10}\s", head) is not None


def _label(key: Any) -> str:
    """How a table key appears in an object path; long keys (damaged files have them) are shortened."""
    if isinstance(key, (bool, T7BooleanKey)):
        return f"[{str(bool(key if isinstance(key, bool) else key.value)).lower()}]"
    if isinstance(key, str) and key.isidentifier() and len(key) <= _MAX_LABEL:
        return "." + key
    if isinstance(key, (int, float)):
        return f"[{key}]"
    if isinstance(key, T7ObjectKey):
        return f"[<{type(key.value).__name__}>]"
    if isinstance(key, (str, bytes)):
        text = repr(key[:_MAX_LABEL])
        return f"[{text}...]" if len(key) > _MAX_LABEL else f"[{text}]"
    return f"[<{type(key).__name__}>]"


def _number(x: float) -> int | float:
    """Lua numbers are doubles; integral ones (up to 2**53, not -0) read as Python ints."""
    if x.is_integer() and abs(x) <= 2**53 and not (x == 0 and math.copysign(1.0, x) < 0):
        return int(x)
    return x


def _string(b: bytes) -> str | bytes:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b


class _Reader:
    """One pass over one stream. Objects that hold others are generators that yield a path label for
    each child they need and receive the child; ``run`` drives them with an explicit stack."""

    def __init__(self, stream, path: str, file_size: int, max_depth: int, *, streams: bool = True) -> None:
        self.s = stream
        self.streams = streams  # whether objects after the first may be read (not on a guessed long size)
        self.file = path
        self.file_size = file_size
        self.max_depth = max_depth
        self.memo: dict[int, Any] = {}
        self.last_index = 0
        self.open_tables: set[int] = set()
        self.reentered: set[int] = set()
        self.storage_ids: dict[int, int] = {}
        self.repeated_bytes = 0  # of the expanded views read so far (each read once: memo)
        self.labels: list[str] = []
        self.doc = T7Document(path=path, root=None, encoding=stream.encoding, long_size=stream.long_size,
                              file_size=file_size)

    # --- errors ------------------------------------------------------------------------------
    def object_path(self) -> str:
        labels = self.labels
        if len(labels) > 2 * _PATH_ENDS + 1:  # a deep path: its start and end say where it is
            skipped = len(labels) - 2 * _PATH_ENDS
            labels = labels[:_PATH_ENDS] + [f"...({skipped} levels)..."] + labels[-_PATH_ENDS:]
        return "".join(labels).lstrip(".") or "<root>"

    def fail(self, message: str, offset: int | None = None) -> T7FormatError:
        if len(message) > _MAX_REASON:
            message = message[:_MAX_REASON] + "..."
        return T7FormatError(message, path=self.file, offset=self.s.pos if offset is None else offset,
                             object_path=self.object_path())

    # --- driver ------------------------------------------------------------------------------
    def run(self) -> T7Document:
        # The parse builds tens of thousands of objects and frees none of them: the cyclic garbage
        # collector's passes over everything alive (all of torch, when it is imported) would only cost.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run()
        finally:
            if collecting:
                gc.enable()

    def _run(self) -> T7Document:
        try:
            stack: list[Generator] = [self._root()]
            value: Any = None
            while stack:
                try:
                    label = stack[-1].send(value)
                except StopIteration as done:
                    stack.pop()
                    if stack:
                        self.labels.pop()
                    value = done.value
                    continue
                self.labels.append(label)
                if len(stack) > self.max_depth:
                    raise self.fail(f"objects nested deeper than {self.max_depth} levels")
                result = self._object()
                if isinstance(result, GeneratorType):
                    stack.append(result)
                    value = None
                else:
                    self.labels.pop()
                    value = result
        except StreamError as e:
            error = self.fail(str(e), e.offset)
        except T7FormatError as e:
            error = e
        else:
            return self.doc
        if len(self.doc.objects) >= 2:  # a stream whose last object is cut short: the others stand
            self.doc.stream_tail_error = (f"object {len(self.doc.objects) + 1}, from byte {self.object_start:,}, "
                                          f"does not read: {error.reason[:200]} (byte {error.offset})")
            return self.doc
        raise self._after_first(error) from None

    def _after_first(self, e: T7FormatError) -> T7FormatError:
        """Bytes after the first object that do not read as a second object are what they always were:
        trailing garbage, said at the end of the first object (the inner error is kept in brackets)."""
        if not self.doc.objects:
            return e
        end = self.first_end
        rest = self.file_size - end
        return T7FormatError(f"{rest} bytes of trailing garbage after the end of the object (they do not read "
                             f"as further objects: {e.reason[:200]})", path=self.file, offset=end,
                             object_path="<root>")

    def _rest(self) -> int:
        rest = self.s.remaining()
        if self.s.encoding == "ascii":
            rest = len(self.s.data[self.s.pos:].strip())
        return rest

    def _root(self) -> Generator:
        """The first object, then any that follow it (a stream of ``writeObject`` calls); ``torch.load``
        returns the first, and so does :func:`read` unless asked for all."""
        root = yield ""
        self.doc.root = root
        self.doc.objects.append(root)
        self.first_end = self.s.pos
        while self.streams and self._rest():
            self.object_start = self.s.pos
            value = yield f"[object {len(self.doc.objects) + 1}]"
            self.doc.objects.append(value)
        if self._rest():
            raise self.fail(f"{self._rest()} bytes of trailing garbage after the end of the object")
        return root

    # --- one object --------------------------------------------------------------------------
    def _object(self) -> Any:
        """Read one object: a value, or a generator that still needs children."""
        s = self.s
        start = s.pos
        tag = s.int("a type tag")
        if tag == C.TYPE_NIL:
            return None
        if tag == C.TYPE_NUMBER:
            return _number(s.double())
        if tag == C.TYPE_BOOLEAN:
            value = s.int("a boolean")
            return value == 1
        if tag == C.TYPE_STRING:
            return _string(s.raw(s.int("a string length"), "a string"))
        if tag == C.TYPE_FUNCTION:
            return self._function(None, legacy=True)
        if tag in (C.TYPE_TABLE, C.TYPE_TORCH, C.TYPE_RECUR_FUNCTION, C.TYPE_LEGACY_RECUR_FUNCTION):
            index = s.int("an object index")
            if index in self.memo:
                obj = self.memo[index]
                if obj is _PENDING:
                    raise self.fail(f"object #{index} refers to itself before it is complete", start)
                if index in self.open_tables:
                    self.reentered.add(index)
                return obj
            if index != self.last_index + 1:  # Torch7 numbers new objects 1, 2, 3... in order
                raise self.fail(f"reference to object #{index}, which was never defined "
                                f"(objects so far: {self.last_index})", start)
            self.last_index = index
            if tag == C.TYPE_TABLE:
                return self._table(index)
            if tag == C.TYPE_TORCH:
                return self._torch(index, start)
            return self._function(index, legacy=tag == C.TYPE_LEGACY_RECUR_FUNCTION)
        raise self.fail(f"unknown type tag {tag} (Torch7 writes 0 to 8)", start)

    def _check_count(self, n: int, per_item: int, what: str) -> None:
        if n < 0:
            raise self.fail(f"negative {what} {n}")
        if n * per_item > self.s.remaining():
            raise self.fail(f"{what} {n} cannot fit in the {self.s.remaining()} bytes left in the file")

    def _table(self, index: int) -> Generator:
        n = self.s.int("a table size")
        self._check_count(n, 2 * self.s.min_object_bytes, "table size")
        table = T7Table()
        self.memo[index] = table
        self.open_tables.add(index)
        return self._table_entries(index, table, n)

    def _table_entries(self, index: int | None, table: dict, n: int) -> Generator:
        kinds: dict[int, bool] = {}  # for keys equal to 0 or 1: is the one in ``table`` a boolean?
        for i in range(n):
            key = yield f"[<key {i + 1}>]"
            value = yield _label(key)
            self._set(table, key, value, kinds)
        if index is not None:
            self.open_tables.discard(index)
            listed = self._as_list(table, T7List)
            if listed is not None and index not in self.reentered:
                self.memo[index] = listed
                return listed
        return table

    def _set(self, table: dict, key: Any, value: Any, kinds: dict[int, bool]) -> None:
        if key is None:
            raise self.fail("a table key is nil (Lua tables cannot have nil keys)")
        if isinstance(key, float) and math.isnan(key):
            raise self.fail("a table key is NaN (Lua tables cannot have NaN keys)")
        if type(key) is bool or (type(key) in (int, float) and (key == 0 or key == 1)):
            # Lua's true/false and 1/0 are distinct keys; Python's are one. Keep both entries.
            is_bool = type(key) is bool
            previous = kinds.get(int(key))
            if previous is None:
                kinds[int(key)] = is_bool
            elif previous != is_bool:
                if is_bool:
                    key = T7BooleanKey(key)
                else:
                    flag = bool(int(key))
                    table[T7BooleanKey(flag)] = table.pop(flag)
                    kinds[int(key)] = False
        try:
            table[key] = value
        except TypeError:  # a table, tensor or storage as the key: Lua keys it by identity
            table[T7ObjectKey(key)] = value

    @staticmethod
    def _as_list(table: dict, cls: type) -> list | None:
        n = len(table)
        if n == 0:
            return None
        for k in table:
            if type(k) is not int or not 1 <= k <= n:
                return None
        return cls(table[k] for k in range(1, n + 1))

    def _function(self, index: int | None, legacy: bool) -> Generator:
        s = self.s
        code = s.raw(s.int("a bytecode length"), "function bytecode")
        func = T7Function(bytecode=code, upvalues=None, legacy=legacy)
        if index is not None:
            self.memo[index] = func
        self.doc.functions += 1
        return self._function_upvalues(func)

    @staticmethod
    def _function_upvalues(func: T7Function) -> Generator:
        func.upvalues = yield ".<upvalues>"
        return func

    # --- torch classes -----------------------------------------------------------------------
    def _torch(self, index: int, start: int) -> Any:
        s = self.s
        head = s.raw(self._short_length("a class version"), "a class version")
        text = head.decode("latin-1")
        m = _VERSION.match(text)
        version: int | None = None
        if m and _lua_number(m.group(1)) is not None:
            version = int(_lua_number(m.group(1)))
            name_bytes = s.raw(self._short_length("a class name"), "a class name")
        else:
            name_bytes = head
        try:
            name = name_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"class name {name_bytes[:40]!r} is not text", start) from None
        if not name or not name.isprintable():
            raise self.fail(f"class name {name[:40]!r} is not a Torch7 class name", start)
        self.doc.classes[(name, version)] += 1
        if name in C.TENSOR_DTYPES:
            self.memo[index] = _PENDING
            return self._tensor(index, name, start)
        if name in C.STORAGE_DTYPES:
            return self._storage(index, name, start)
        if name in ("tds.Hash", "tds_hash"):
            n = s.long("a tds.Hash size")
            self._check_count(n, 2 * s.min_object_bytes, "tds.Hash size")
            table = TdsHash()
            self.memo[index] = table
            return self._table_entries(None, table, n)
        if name == "tds.Vec":
            n = s.long("a tds.Vec size")
            self._check_count(n, s.min_object_bytes, "tds.Vec size")
            vec = TdsVec()
            self.memo[index] = vec
            return self._vec_items(vec, n)
        if name in C.OPAQUE_CLASSES:
            raise self.fail(f"{name} holds {C.OPAQUE_CLASSES[name]}, which t7convert cannot read", start)
        obj = T7Object(class_name=name, version=version)
        self.memo[index] = obj
        return self._object_fields(obj)

    def _short_length(self, what: str) -> int:
        n = self.s.int(f"the length of {what}")
        if n < 0 or n > 4096:
            raise self.fail(f"the length of {what} is {n}; Torch7 class names are short")
        return n

    def _object_fields(self, obj: T7Object) -> Generator:
        header = []
        for _ in range(C.header_objects(obj.class_name, obj.version)):
            header.append((yield ""))
        obj.header = tuple(header)
        fields = yield ""
        if isinstance(fields, list):
            fields = T7Table((i, v) for i, v in enumerate(fields, 1))
        elif type(fields) is not T7Table and isinstance(fields, dict):
            fields = T7Table(fields)
        elif type(fields) is not T7Table:
            raise self.fail(f"the fields of {obj.class_name} are a {type(fields).__name__}, not a table")
        obj.fields = fields
        return obj

    @staticmethod
    def _vec_items(vec: list, n: int) -> Generator:
        for i in range(n):
            vec.append((yield f"[{i + 1}]"))
        return vec

    def _storage(self, index: int, name: str, start: int) -> T7Storage:
        s = self.s
        dtype = C.STORAGE_DTYPES[name]
        n = s.long("a storage size")
        if n < 0:
            raise self.fail(f"negative storage size {n}", start)
        data_offset = s.pos
        array = s.array(dtype, n, f"{name} data", long_data=dtype.kind == "i" and dtype.itemsize == 8)
        storage = array.view(T7Storage)
        self.memo[index] = storage
        self.storage_ids[id(storage)] = index
        self.doc.storages[index] = StorageRecord(index=index, class_name=name, size=n,
                                                 data_offset=data_offset if s.encoding == "binary" else None,
                                                 path=self.object_path())
        return storage

    def _tensor(self, index: int, name: str, start: int) -> Generator:
        s = self.s
        ndim = s.int("a tensor's number of dimensions")
        if ndim < 0 or ndim > _MAX_DIMS:
            raise self.fail(f"{name} has {ndim} dimensions", start)
        shape = tuple(s.longs(ndim, "tensor sizes"))
        stride = tuple(s.longs(ndim, "tensor strides"))
        offset = s.long("a storage offset") - 1  # Torch7 writes it 1-based
        return self._tensor_body(index, name, start, shape, stride, offset)

    def _tensor_body(self, index, name, start, shape, stride, offset) -> Generator:
        storage = yield ".storage"
        dtype = C.TENSOR_DTYPES[name]
        if any(n < 0 for n in shape):
            raise self.fail(f"{name} has a negative size {shape}", start)
        if any(st < 0 for st in stride):
            raise self.fail(f"{name} has a negative stride {stride}", start)
        if any(n > _MAX_EXTENT for n in shape) or any(st > _MAX_EXTENT for st in stride):
            raise self.fail(f"{name} has a size or stride beyond 2**48 (size {shape}, stride {stride})", start)
        numel = math.prod(shape) if shape else 0
        storage_index = None
        if storage is not None:
            if not isinstance(storage, T7Storage):
                raise self.fail(f"{name} refers to a {type(storage).__name__} where a storage belongs", start)
            if storage.dtype != dtype:
                raise self.fail(f"{name} refers to a storage of {storage.dtype}, not {dtype}", start)
            storage_index = self.storage_ids.get(id(storage))
        if numel == 0:
            # No element is addressed, so strides and offset do not matter; but the other sizes
            # must still describe an array numpy can make.
            if math.prod(n for n in shape if n) > _MAX_EXTENT:
                raise self.fail(f"{name} of size {shape} is too large to be real", start)
            array = np.empty(shape if shape else (0,), dtype)
        else:
            if storage is None:
                raise self.fail(f"{name} of size {shape} has no storage", start)
            if offset < 0:
                raise self.fail(f"{name} has storage offset {offset + 1} (Torch7 offsets start at 1)", start)
            last = offset + sum((n - 1) * st for n, st in zip(shape, stride))
            if last >= len(storage):
                raise self.fail(f"{name} view (size {shape}, stride {stride}, offset {offset + 1}) reaches element "
                                f"{last + 1} of a storage of {len(storage)}", start)
            if numel > len(storage):
                # Zero or overlapping strides (an expanded tensor) repeat storage elements: legal in
                # Torch7, but views this large over a file this small are damage, and anything that
                # materializes them (a copy, a conversion) would need numel * itemsize bytes each.
                self.repeated_bytes += numel * dtype.itemsize
                limit = max(_MAX_REPEAT_BYTES, _REPEAT_FACTOR * self.file_size)
                if self.repeated_bytes > limit:
                    before = self.repeated_bytes - numel * dtype.itemsize
                    others = f" (after {before:,} bytes of other expanded views)" if before else ""
                    raise self.fail(f"{name} view (size {shape}, stride {stride}) repeats a storage of "
                                    f"{len(storage)} elements into {numel}: refusing a tensor that would need "
                                    f"{numel * dtype.itemsize:,} bytes when copied{others}; expanded views may "
                                    f"add up to {limit:,} bytes in a file of {self.file_size:,}", start)
            item = dtype.itemsize
            array = np.ndarray(shape, dtype, buffer=storage, offset=offset * item,
                               strides=tuple(st * item for st in stride))
        self.memo[index] = array
        self.doc.tensors.append(TensorRecord(path=self.object_path(), class_name=name, shape=shape, stride=stride,
                                             storage_offset=offset, storage_index=storage_index, header_offset=start))
        return array


def _lua_number(text: str) -> float | None:
    """Lua's ``tonumber`` for the part after ``V ``: decimal or hex, surrounding spaces allowed."""
    t = text.strip()
    try:
        if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", t):
            return float(int(t, 16))
        value = float(t)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_document(path: str | os.PathLike, *, long_size: int | None = None, encoding: str | None = None,
                  max_depth: int = DEFAULT_MAX_DEPTH) -> T7Document:
    """Parse a ``.t7`` file. ``long_size`` (4 or 8) and ``encoding`` ("binary"/"ascii") are detected
    when not given. A binary file that reads under neither long size raises the error of the reading
    that got further into the file, and names what the other one met.

    Raises :class:`T7FormatError` (file, byte offset, object path) for anything that is not a valid
    Torch7 serialization; ``max_depth`` bounds the nesting of tables and objects."""
    path = os.fspath(path)
    if long_size not in (None, 4, 8):
        raise ValueError("long_size must be 4 or 8")
    if encoding not in (None, "binary", "ascii"):
        raise ValueError("encoding must be 'binary' or 'ascii'")
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(64)
            if not head:
                raise T7FormatError("the file is empty", path=path, offset=0, object_path="<root>")
            foreign = None if _looks_like_torch7(head) else sniff_foreign(head)
            if foreign:
                raise T7FormatError(f"this is {foreign}", path=path, offset=0, object_path="<root>")
            if encoding is None:
                encoding = "ascii" if _is_ascii(head) else "binary"
            data: Any = None
            if encoding == "binary" and size > 0:
                try:
                    data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
                except (OSError, ValueError):
                    data = None  # not mappable (a pipe, some file systems): read it instead
            if data is None:
                data = head + f.read()  # the rest of the file, after the 64 bytes already read
            size = len(data)
    except OSError as e:
        raise T7FormatError(f"cannot read: {e.strerror or e}", path=path) from None
    if encoding == "ascii":
        return _Reader(AsciiStream(data), path, size, max_depth).run()
    sizes = [long_size] if long_size else [8, 4]
    errors: dict[int, T7FormatError] = {}
    progress: dict[int, int] = {}
    for ls in sizes:
        # a guessed 4-byte long size that needs a stream of objects to explain the file is no reading
        reader = _Reader(BinaryStream(data, ls), path, size, max_depth, streams=bool(long_size) or ls == 8)
        try:
            doc = reader.run()
            if len(doc.objects) > 1 and not long_size and ls == 8:
                # several objects with 8-byte longs, or one with 4-byte longs (a Windows build's file whose
                # first object happens to parse either way)? One object that fills the file is the reading.
                try:
                    return _Reader(BinaryStream(data, 4), path, size, max_depth, streams=False).run()
                except T7FormatError:
                    pass
            return doc
        except T7FormatError as e:
            errors[ls] = e
            progress[ls] = reader.s.pos  # how far it read, not where the failing object starts
            if not reader.doc.tensors and not reader.doc.storages and not _saw_long(reader):
                break  # nothing long-sized was read: 4-byte longs cannot explain the failure
    if long_size:
        raise _with_other_long_size(errors[long_size], data, path, size, max_depth, 12 - long_size)
    if len(errors) == 1 or progress[8] >= progress[4]:
        raise errors[8]  # the other reading says nothing the user needs
    # A damaged file written with 4-byte longs fails early when read with 8-byte longs: the 4-byte
    # reading got further, so its error (offset, object path) is the one that locates the damage.
    e = errors[4]
    e.args = (f"{e.args[0]} (read with 4-byte longs)",)
    raise e


def _with_other_long_size(e: T7FormatError, data: Any, path: str, size: int, max_depth: int,
                          other: int) -> T7FormatError:
    """The error of a reading with the long size the caller chose, saying so when the other one parses."""
    try:
        _Reader(BinaryStream(data, other), path, size, max_depth).run()
    except T7FormatError:
        return e
    e.args = (f"{e.args[0]} (it reads with long_size={other})",)
    return e


def _saw_long(reader: _Reader) -> bool:
    return any(name in C.TENSOR_DTYPES or name in C.STORAGE_DTYPES or name.startswith("tds.")
               for name, _ in reader.doc.classes)


def read(path: str | os.PathLike, *, all: bool = False, long_size: int | None = None,  # noqa: A002 - the issue's name
         encoding: str | None = None, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Read a ``.t7`` file into Python values (see :mod:`t7convert.torch7.format.values`); tensors are numpy arrays.

    A file may hold several top-level objects written one after another (successive ``writeObject``
    calls on one file): like Torch7's ``torch.load``, ``read`` returns the first; ``all=True`` returns the
    list of every one (a list of one for an ordinary file).

    Lua tables keyed 1..n read as Python lists, indexed from 0: Torch7's ``model.modules[2]`` is
    ``model.modules[1]`` here. t7convert's messages write paths as Torch7 does, 1-based
    (``modules[2].modules[1]``); :meth:`T7Object.at` follows such a path:
    ``read(p).at("modules[2].modules[1]")``. The other options are :func:`read_document`'s.

    >>> model = t7convert.read("resnet-18.t7")       # doctest: +SKIP
    >>> model.at("modules[1]").weight.shape           # doctest: +SKIP
    (64, 3, 7, 7)
    """
    doc = read_document(path, long_size=long_size, encoding=encoding, max_depth=max_depth)
    return list(doc.objects) if all else doc.root
