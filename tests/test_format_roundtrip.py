"""Round trips: read(write(x)) is x, as Torch7 sees it, in all three encodings; write(read(f)) reads back
the same for every fixture; storages shared by many views stay one storage.

Equality is :func:`t7_compare.canonical` (tests/t7_compare.py): Lua numbers are doubles (1 == 1.0, NaN == NaN,
-0.0 != 0), Lua strings are bytes ("abc" == b"abc"), a list is the table with keys 1..n, and sharing and
cycles are part of the value.
"""
from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from t7_compare import canonical

import t7convert
from t7convert import T7ConvertError
from t7convert.torch7.format import (
    T7BooleanKey,
    T7Function,
    T7Object,
    T7Storage,
    T7Table,
    TdsHash,
    TdsVec,
    as_storage,
    dumps,
    read_document,
    write,
)

ENCODINGS = [("binary", 8), ("ascii", 8), ("binary", 4)]
# T7CONVERT_HYPOTHESIS_SCALE=20 runs twenty times as many generated examples (a longer, deeper search).
_SCALE = max(1, int(os.environ.get("T7CONVERT_HYPOTHESIS_SCALE", "1")))
_TMP = Path(tempfile.mkdtemp(prefix="t7convert-roundtrip-"))
atexit.register(shutil.rmtree, _TMP, True)


def _roundtrip(x, encoding="binary", long_size=8, name="rt.t7"):
    path = _TMP / f"{os.getpid()}-{encoding}{long_size}-{name}"
    write(path, x, encoding=encoding, long_size=long_size)
    try:
        doc = read_document(path)
        assert doc.encoding == encoding
        if encoding == "binary":
            assert doc.long_size == long_size or not (doc.tensors or doc.storages)
        return doc
    finally:
        path.unlink()


def _assert_roundtrip(x):
    want = canonical(x)
    for encoding, long_size in ENCODINGS:
        got = _roundtrip(x, encoding, long_size).root
        assert canonical(got) == want, (encoding, long_size)


# --- strategies ---------------------------------------------------------------------------------------

DTYPES = ["u1", "i1", "i2", "i4", "i8", "f2", "f4", "f8", "bool"]

numbers = st.one_of(
    st.integers(-2**53, 2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 2.0**31, 2.0**53, 0.1, -1e-300, 1e300, 5e-324]),
)
strings = st.one_of(
    st.text(max_size=12),
    st.binary(max_size=12),
    st.sampled_from([b"a\x00b\xffc\nd", b"\xff", "ResNeXt·ß", "", "\n", "V 1", b"\x00"]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
keys = st.one_of(st.text(max_size=6), st.integers(-3, 8), st.floats(allow_nan=False, allow_infinity=True),
                 st.booleans())


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    elements = None
    if dtype == np.int64:
        elements = st.integers(-2**31, 2**31 - 1)  # so that the 4-byte-long encoding can hold them
    a = draw(hnp.arrays(dtype, shape, elements=elements))
    if a.ndim >= 2 and draw(st.booleans()):
        a = a.T  # a transposed view: strides not in C order
    if a.ndim >= 1 and a.shape[0] > 1 and draw(st.booleans()):
        a = a[::2]  # a strided view
    return a


@st.composite
def shared_views(draw):
    """One flat storage and several views of it with offsets, sizes and strides, as getParameters makes."""
    dtype = np.dtype(draw(st.sampled_from(["f4", "f8", "i4", "u1", "f2"])))
    n = draw(st.integers(1, 40))
    flat = np.arange(n).astype(dtype)
    views = []
    for _ in range(draw(st.integers(1, 5))):
        offset = draw(st.integers(0, n - 1))
        rest = n - offset
        rows = draw(st.integers(1, rest))
        cols = draw(st.integers(1, max(1, rest // rows)))
        v = flat[offset:offset + rows * cols].reshape(rows, cols)
        choice = draw(st.sampled_from(["plain", "t", "step", "flat"]))
        v = {"plain": v, "t": v.T, "step": v[::2], "flat": v.reshape(-1)}[choice]
        views.append(v)
    holder = {"views": views}
    if draw(st.booleans()):
        holder["storage"] = as_storage(flat)
    if draw(st.booleans()):
        holder["flat"] = flat
    return holder


leaves = st.one_of(scalars, arrays(), st.builds(as_storage, arrays().map(lambda a: a.reshape(-1))))


def _extend(children):
    return st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=5).map(T7Table),
        st.builds(T7Object, st.sampled_from(["nn.Linear", "nn.Sequential", "Blah", "cudnn.SpatialConvolution"]),
                  st.one_of(st.none(), st.integers(0, 5)),
                  st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4).map(T7Table)),
        st.dictionaries(keys, children, max_size=4).map(TdsHash),
        st.lists(children, max_size=4).map(TdsVec),
        st.builds(T7Function, st.binary(max_size=30), st.lists(children, max_size=2), st.booleans()),
    )


values = st.recursive(leaves, _extend, max_leaves=20)


@st.composite
def with_sharing(draw):
    """A value where some containers appear twice and some hold themselves."""
    x = draw(values)
    containers = []
    stack = [x]
    while stack:
        v = stack.pop()
        if isinstance(v, T7Object):
            containers.append(v.fields)
            stack.extend(v.fields.values())
        elif isinstance(v, dict) and not isinstance(v, TdsHash):
            containers.append(v)
            stack.extend(v.values())
        elif isinstance(v, list) and not isinstance(v, TdsVec):
            stack.extend(v)
        elif isinstance(v, T7Function):
            stack.append(v.upvalues)
    top = T7Table(value=x)
    containers.append(top)
    for target in draw(st.lists(st.sampled_from(containers), max_size=3)):
        what = draw(st.sampled_from(containers + [x]))
        target[draw(st.sampled_from(["self", "again", 99]))] = what
    return top


# --- properties ---------------------------------------------------------------------------------------

@pytest.mark.slow
@settings(max_examples=150 * _SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_roundtrip_values(x):
    _assert_roundtrip(x)


@pytest.mark.slow
@settings(max_examples=80 * _SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(with_sharing())
def test_roundtrip_shared_and_self_referential(x):
    _assert_roundtrip(x)
    for encoding, long_size in ENCODINGS:
        y = _roundtrip(x, encoding, long_size).root
        for key in ("self", "again", 99):
            if key in x and x[key] is x:
                assert y[key] is y


@pytest.mark.slow
@settings(max_examples=80 * _SCALE, deadline=None)
@given(shared_views())
def test_roundtrip_shared_storage(holder):
    _assert_roundtrip(holder)
    for encoding, long_size in ENCODINGS:
        doc = _roundtrip(holder, encoding, long_size)
        # every view, the storage and the flat tensor: ONE storage in the file
        assert len(doc.storages) == 1, (encoding, long_size)
        assert len({r.storage_index for r in doc.tensors}) == 1
        views = doc.root["views"]
        assert len({id(_owner(v)) for v in views}) == 1
        if "storage" in holder:
            assert _owner(doc.root["storage"]) is _owner(views[0])


def _owner(a):
    """The array that owns a view's memory (the storage, as the reader made it)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


@pytest.mark.slow
@settings(max_examples=60 * _SCALE, deadline=None)
@given(scalars)
def test_roundtrip_scalars(x):
    _assert_roundtrip(x)
    got = _roundtrip(x).root
    if isinstance(x, float) and not math.isnan(x):
        assert got == x and math.copysign(1, got) == math.copysign(1, x)
    if isinstance(x, str):
        assert got == x
    if isinstance(x, bytes):
        assert got == x or got == x.decode("utf-8")  # valid UTF-8 reads as str


# --- examples -----------------------------------------------------------------------------------------

def test_every_dtype_maps_to_its_torch_class():
    classes = {}
    for dt, name in [("u1", "Byte"), ("i1", "Char"), ("i2", "Short"), ("i4", "Int"), ("i8", "Long"), ("f2", "Half"),
                     ("f4", "Float"), ("f8", "Double"), ("bool", "Byte"), (">f4", "Float"), (">i8", "Long")]:
        a = np.arange(6).astype(dt).reshape(2, 3)
        for encoding, long_size in ENCODINGS:
            doc = _roundtrip({"t": a, "s": as_storage(a.reshape(-1).copy())}, encoding, long_size)
            classes[dt] = {r.class_name for r in doc.tensors} | {s.class_name for s in doc.storages.values()}
            got = doc.root["t"]
            assert got.dtype == (np.uint8 if dt == "bool" else np.dtype(dt).newbyteorder("<"))
            np.testing.assert_array_equal(got, a)
            assert isinstance(doc.root["s"], T7Storage)
        assert classes[dt] == {f"torch.{name}Tensor", f"torch.{name}Storage"}


def test_float32_arrays_become_float_tensors():
    data = dumps(np.ones((2, 2), np.float32))
    assert b"torch.FloatTensor" in data and b"torch.FloatStorage" in data


def test_versions_kept_and_absent():
    x = [T7Object("nn.Linear", 2, T7Table(a=1)), T7Object("Old", None, T7Table(b=2))]
    for encoding, long_size in ENCODINGS:
        y = _roundtrip(x, encoding, long_size).root
        assert (y[0].class_name, y[0].version, y[0].a) == ("nn.Linear", 2, 1)
        assert (y[1].class_name, y[1].version, y[1].b) == ("Old", None, 2)
    assert b"V 2" in dumps(x[0]) and b"V " not in dumps(x[1])


def test_boolean_and_number_keys_both_kept():
    x = T7Table({1: "one", T7BooleanKey(True): "yes", 0: "zero", T7BooleanKey(False): "no", "k": True})
    for encoding, long_size in ENCODINGS:
        y = _roundtrip(x, encoding, long_size).root
        assert len(y) == 5 and y[1] == "one" and y[T7BooleanKey(True)] == "yes" and y[0] == "zero"
        assert y[T7BooleanKey(False)] == "no"
    assert _roundtrip({True: 1}).root == {True: 1}  # alone, a boolean key reads as a plain bool


def test_empty_and_zero_dim_arrays_as_torch7_has_them():
    # Torch7 has no 0-d tensor and no sizes of 0: an empty tensor has no dimension and no storage.
    y = _roundtrip({"e": np.zeros((0, 3), np.float32), "z": np.array(2.5)}).root
    assert y["e"].shape == (0,) and y["e"].dtype == np.float32
    assert y["z"].shape == (1,) and y["z"][0] == 2.5


@pytest.mark.slow
def test_one_flat_storage_many_views():
    """getParameters(): one flattened storage, ~1000 weight views with offsets; they stay one storage,
    through read, write and read again, with their offsets."""
    flat = np.arange(1000 * 12, dtype=np.float32)
    layers = [T7Object("nn.Linear", 1, T7Table(weight=flat[i * 12:i * 12 + 8].reshape(2, 4),
                                               bias=flat[i * 12 + 8:i * 12 + 12])) for i in range(1000)]
    model = T7Object("nn.Sequential", 1, T7Table(modules=layers))
    data = dumps(model)
    assert data.count(b"torch.FloatStorage") == 1
    assert len(data) < flat.nbytes + 2000 * 200  # the data once, not per view
    doc = _roundtrip(model)
    assert len(doc.storages) == 1 and len(doc.tensors) == 2000
    offsets = sorted(r.storage_offset for r in doc.tensors)
    assert offsets[:3] == [0, 8, 12]
    doc2 = _roundtrip(doc.root)
    assert len(doc2.storages) == 1
    assert [(r.path, r.storage_offset, r.shape, r.stride) for r in doc2.tensors] == \
        [(r.path, r.storage_offset, r.shape, r.stride) for r in doc.tensors]
    np.testing.assert_array_equal(doc2.root.modules[999].weight, flat[999 * 12:999 * 12 + 8].reshape(2, 4))


@pytest.mark.slow
def test_deep_nesting_writes_iteratively():
    x = None
    for _ in range(50_000):
        x = [x] if x is not None else []
    doc = _roundtrip(x)
    y, depth = doc.root, 0
    while isinstance(y, list) and y:
        y, depth = y[0], depth + 1
    assert depth == 49_999


def test_writer_refuses_what_torch7_cannot_hold():
    for bad in [{None: 1}, {math.nan: 1}, {"a": object()}, np.zeros(3, np.uint16), np.zeros(2, np.complex64),
                T7Object("", 1), T7Object("nn.X", 1.5), T7Object("torch.FloatTensor", 1), 10**400,
                as_storage(np.zeros(3, np.uint32))]:
        with pytest.raises(T7ConvertError):
            dumps(bad)
    with pytest.raises(T7ConvertError):
        dumps(np.array([2**40], np.int64), long_size=4)
    with pytest.raises(ValueError):
        dumps(1, encoding="text")


def test_write_is_atomic(tmp_path):
    path = tmp_path / "x.t7"
    write(path, {"a": 1})
    with pytest.raises(T7ConvertError):
        write(path, {"a": object()})
    assert t7convert.read(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.t7"]


def test_functions_and_tds_roundtrip():
    f = T7Function(b"\x1bLJ\x01fake bytecode\x00\xff", [T7Table(name="x", value=3)])
    x = {"f": f, "again": f, "h": TdsHash({1: 2, 10: 11, "k": [1, 2]}), "v": TdsVec([123, 456])}
    for encoding, long_size in ENCODINGS:
        y = _roundtrip(x, encoding, long_size).root
        assert y["f"] is y["again"] and y["f"].bytecode == f.bytecode
        assert isinstance(y["h"], TdsHash) and y["h"][10] == 11 and isinstance(y["v"], TdsVec)


# --- fixtures: write(read(f)) reads back the same ------------------------------------------------------

@pytest.mark.slow
def test_fixtures_rewrite_equal(torch7_fixtures):
    files = sorted(p for p in torch7_fixtures.rglob("*.t7") if p.stat().st_size < 3_000_000)
    assert len(files) >= 25
    for path in files:
        doc = read_document(path)
        want = canonical(doc.root)
        partition = _storage_partition(doc)
        for encoding, long_size in ENCODINGS:
            if encoding == "ascii" and path.stat().st_size > 1_000_000:
                continue
            try:
                doc2 = _roundtrip(doc.root, encoding, long_size, name=path.name)
            except T7ConvertError as e:
                # buffers saved as a forward left them (pooling indices) may hold longs beyond 32 bits
                if long_size == 4 and "does not fit in 4-byte longs" in str(e):
                    continue
                raise
            assert canonical(doc2.root) == want, (path.name, encoding, long_size)
            assert _storage_partition(doc2) == partition, (path.name, encoding, long_size)
            if encoding == "binary" and long_size == doc.long_size and doc.encoding == "binary":
                # Torch7's own layout comes back byte for byte, apart from table order
                assert doc2.file_size == doc.file_size, path.name


@pytest.mark.slow
def test_big_fixtures_rewrite_binary(torch7_fixtures):
    files = sorted(p for p in torch7_fixtures.rglob("*.t7") if p.stat().st_size >= 3_000_000)
    for path in files:
        doc = read_document(path)
        doc2 = _roundtrip(doc.root, name=path.name)
        assert doc2.file_size == doc.file_size, path.name
        assert canonical(doc2.root) == canonical(doc.root), path.name
        assert _storage_partition(doc2) == _storage_partition(doc)


def _storage_partition(doc):
    """Which tensors share a storage, by path: the sharing, independent of the indices."""
    groups = {}
    for r in doc.tensors:
        groups.setdefault(r.storage_index, []).append((r.path, r.storage_offset, r.shape, r.stride))
    return sorted(sorted(g) for k, g in groups.items() if k is not None)
