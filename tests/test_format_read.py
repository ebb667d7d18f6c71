"""The reader against files written by real Torch7 (the shared fixtures; skipped without them), and a few
always-run checks of behaviour that needs no fixture (laziness, error messages, huge claims, depth).

What the fixtures hold is documented in the fixtures' README.md and torch7/formats/MANIFEST.tsv; the
expected values below come from there.
"""
from __future__ import annotations

import csv
import math
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from t7_compare import canonical, same

import t7convert
from t7convert import T7FormatError
from t7convert.torch7.format import (
    T7BooleanKey,
    T7Function,
    T7List,
    T7Object,
    T7Storage,
    T7Table,
    TdsHash,
    TdsVec,
    read_document,
    write,
)

VARIANTS = ("binary", "ascii", "long4")


def _manifest(root: Path) -> list[dict]:
    with open(root / "torch7" / "formats" / "MANIFEST.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _entry(value, key: str):
    """MANIFEST keys: top-level keys, or dotted module paths (``modules.1.weight``, Lua's 1-based indices)."""
    if key in value if isinstance(value, dict) else False:
        return value[key]
    for part in key.split("."):
        if isinstance(value, T7Object):
            value = value.fields
        if isinstance(value, list):
            value = value[int(part) - 1]
        elif isinstance(value, dict):
            value = value[int(part) if part.isdigit() and int(part) in value else part]
        else:
            raise KeyError(key)
    return value


# --- the python-torchfile fixtures ------------------------------------------------------------------

def test_torchfile_hello(torch7_fixtures):
    x = t7convert.read(torch7_fixtures / "torchfile" / "hello=123.t7")
    assert x == {"hello": 123} and isinstance(x["hello"], int)


def test_torchfile_list_and_maps(torch7_fixtures):
    tf = torch7_fixtures / "torchfile"
    lst = t7convert.read(tf / "list_table.t7")
    assert isinstance(lst, list) and lst == ["hello", "world", "third item", 123]
    m1 = t7convert.read(tf / "map_table1.t7")
    assert isinstance(m1, dict) and m1 == {0: "zero", 1: "hello", 2: "world", 3: "third item", 4: 123}
    m2 = t7convert.read(tf / "map_table2.t7")
    assert m2 == {1: "hello", 2: "world", 3: "third item", 4: 123, "a": "non number key"}


def test_torchfile_tds(torch7_fixtures):
    h = t7convert.read(torch7_fixtures / "torchfile" / "tds_hash.t7")
    assert isinstance(h, TdsHash) and len(h) == 3 and h[1] == 2 and h[10] == 11
    v = t7convert.read(torch7_fixtures / "torchfile" / "tds_vec.t7")
    assert isinstance(v, TdsVec) and v == [123, 456]


def test_torchfile_tensors(torch7_fixtures):
    d = t7convert.read(torch7_fixtures / "torchfile" / "doubletensor.t7")
    assert d.dtype == np.float64 and d.shape == (2, 3)
    np.testing.assert_array_equal(d, [[1, 2, 3], [4, 5, 6.9]])
    f = t7convert.read(torch7_fixtures / "torchfile" / "floattensor.t7")
    assert f.dtype == np.float32
    assert abs(float(f.sum(dtype=np.float64)) - 12.97241667) < 1e-5


def test_torchfile_custom_and_recursive_classes(torch7_fixtures):
    tf = torch7_fixtures / "torchfile"
    blah = t7convert.read(tf / "custom_class.t7")
    assert isinstance(blah, T7Object) and blah.class_name == "Blah" and blah.version == 1
    a = t7convert.read(tf / "recursive_class.t7")
    assert a.class_name == "A" and a.a is a and a["a"] is a  # itself, not a copy
    t = t7convert.read(tf / "recursive_kv_table.t7")
    assert isinstance(t, T7Table) and len(t) == 1
    (key, value), = t.items()
    assert key is t and value is t


def test_torchfile_functions_are_opaque(torch7_fixtures):
    tf = torch7_fixtures / "torchfile"
    f = t7convert.read(tf / "function.t7")
    assert isinstance(f, T7Function) and f.bytecode.startswith(b"\x1bLJ")  # LuaJIT bytecode, kept as bytes
    g = t7convert.read(tf / "function_upvals.t7")
    assert isinstance(g, T7Function) and isinstance(g.bytecode, bytes)
    assert [dict(u) for u in g.upvalues] == [{"name": "asdf", "value": 123}]
    assert "not executed" in repr(g)


def test_torchfile_nngraph(torch7_fixtures):
    tf = torch7_fixtures / "torchfile"
    g = t7convert.read(tf / "gmodule_with_linear_identity.t7")
    assert g.class_name == "nn.gModule"
    classes = [m.class_name for m in g.children]
    assert "nn.Linear" in classes and "nn.Identity" in classes
    lin = next(m for m in g.children if m.class_name == "nn.Linear")
    assert lin.weight.ndim == 2 and lin.weight.shape[0] == lin.bias.shape[0]
    node = t7convert.read(tf / "nngraph_node.t7")
    assert node.class_name == "nngraph.Node" and node.data["annotations"]["hello"] == 123


# --- torch7/formats: values.*.t7 and model.*.t7 --------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_values_scalars_and_strings(torch7_fixtures, variant):
    doc = read_document(torch7_fixtures / "torch7" / "formats" / f"values.{variant}.t7")
    assert doc.encoding == ("ascii" if variant == "ascii" else "binary")
    assert doc.long_size == (4 if variant == "long4" else 8)
    x = doc.root
    assert x["int_zero"] == 0 and x["int_neg"] == -1
    assert x["int_2p31"] == 2**31 and x["int_2p53"] == 2**53
    assert isinstance(x["int_2p53"], int)
    assert x["neg_zero"] == 0 and math.copysign(1, x["neg_zero"]) < 0
    assert x["float_tenth"] == 0.1 and x["float_tiny"] == -1e-300 and x["float_big"] == 1e300
    assert x["pos_inf"] == math.inf and x["neg_inf"] == -math.inf and math.isnan(x["nan"])
    assert x["yes"] is True and x["no"] is False
    assert x["ascii"] == "hello, torch" and x["utf8"] == "ResNeXt·ß" and x["empty"] == ""
    assert x["bytes"] == b"a\x00b\xffc\nd"  # not UTF-8: bytes, with its NUL, 0xff and newline
    assert isinstance(x["list"], T7List) and x["list"] == [1, 2, 3, "four"]
    assert x["nested"] == {"level1": {"level2": {"level3": ["deep", 42]}}}


@pytest.mark.parametrize("variant", VARIANTS)
def test_values_tables_shared_selfref_and_mixed_keys(torch7_fixtures, variant):
    x = t7convert.read(torch7_fixtures / "torch7" / "formats" / f"values.{variant}.t7")
    assert x["shared_a"] is x["shared_b"]  # one table stored twice comes back once
    assert x["shared_a"] == {"tag": "shared"}
    s = x["selfref"]
    assert s["me"] is s and s["tag"] == "self"
    mixed = x["mixed"]
    assert len(mixed) == 5  # number, string, boolean and table keys; Lua's true and 1 are distinct keys
    assert mixed[1] == "one" and mixed["key"] == "string key" and mixed[2.5] == "two and a half"
    assert mixed[T7BooleanKey(True)] == "true key"
    (tk, tv), = [(k, v) for k, v in mixed.items() if isinstance(k, list)]
    assert tk == ["tk"] and tv == "table key"


@pytest.mark.parametrize("variant", VARIANTS)
def test_values_tensors_match_manifest(torch7_fixtures, variant):
    name = f"values.{variant}.t7"
    x = t7convert.read(torch7_fixtures / "torch7" / "formats" / name)
    rows = [r for r in _manifest(torch7_fixtures) if r["file"] == name and r["key"] != "."]
    assert len(rows) == len(x) == 37 and {r["key"] for r in rows} == set(x)
    checked = 0
    for r in rows:
        v = x[r["key"]]
        if r["type"] == "string":
            assert canonical(v) == ("s", bytes.fromhex(r["notes"].split("=", 1)[1])), r["key"]
        elif r["type"].endswith("Tensor") or r["type"].endswith("Storage"):
            assert isinstance(v, np.ndarray), r["key"]
            want_dtype = {"Byte": np.uint8, "Char": np.int8, "Short": np.int16, "Int": np.int32, "Long": np.int64,
                          "Float": np.float32, "Double": np.float64}[r["type"][6:].replace("Tensor", "").replace(
                              "Storage", "")]
            assert v.dtype == want_dtype, r["key"]
            assert isinstance(v, T7Storage) == r["type"].endswith("Storage"), r["key"]
            if r["size"] == "none":
                assert v.size == 0
            else:
                assert "x".join(map(str, v.shape)) == r["size"], r["key"]
            total = float(np.asarray(v, np.float64).sum())
            assert math.isclose(total, float(r["sum"]), rel_tol=1e-12, abs_tol=1e-12), (r["key"], total, r["sum"])
            m = dict(kv.split("=") for kv in r["notes"].split() if "=" in kv)
            if "stride" in m:
                item = v.dtype.itemsize
                assert "x".join(str(s // item) for s in v.strides) == m["stride"], r["key"]
            checked += 1
        elif r["type"] == "number":
            want = float(r["sum"])
            assert (math.isnan(v) and math.isnan(want)) or v == want, r["key"]
            checked += 1
    assert checked == 25


@pytest.mark.parametrize("variant", VARIANTS)
def test_values_view_shares_base_storage(torch7_fixtures, variant):
    doc = read_document(torch7_fixtures / "torch7" / "formats" / f"values.{variant}.t7")
    x = doc.root
    base, view = x["base"], x["view"]
    np.testing.assert_array_equal(view, base[1:3].T)  # base:narrow(1,2,2):t()
    assert np.shares_memory(view, base)
    rec = {r.path: r for r in doc.tensors}
    assert rec["view"].storage_index == rec["base"].storage_index is not None
    assert rec["view"].storage_offset == 5 and rec["view"].stride == (1, 5)
    base[1, 0] = 1234.5  # one storage: writing through the base shows through the view (a private copy)
    assert view[0, 0] == 1234.5


@pytest.mark.parametrize("variant", VARIANTS)
def test_values_empty_tensor(torch7_fixtures, variant):
    doc = read_document(torch7_fixtures / "torch7" / "formats" / f"values.{variant}.t7")
    e = doc.root["empty_float"]
    assert e.dtype == np.float32 and e.size == 0
    (rec,) = [r for r in doc.tensors if r.path == "empty_float"]
    assert rec.storage_index is None and rec.shape == ()


@pytest.mark.parametrize("variant", ("ascii", "long4"))
def test_variants_read_the_same_as_binary(torch7_fixtures, variant):
    formats = torch7_fixtures / "torch7" / "formats"
    for stem in ("values", "model"):
        binary = t7convert.read(formats / f"{stem}.binary.t7")
        other = t7convert.read(formats / f"{stem}.{variant}.t7")
        assert same(binary, other), stem


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_tensors_match_manifest(torch7_fixtures, variant):
    name = f"model.{variant}.t7"
    model = t7convert.read(torch7_fixtures / "torch7" / "formats" / name)
    assert model.class_name == "nn.Sequential"
    assert [m.class_name for m in model.children] == [
        "nn.SpatialConvolution", "nn.SpatialBatchNormalization", "nn.ReLU", "nn.SpatialMaxPooling", "nn.View",
        "nn.Linear", "nn.LogSoftMax"]
    rows = [r for r in _manifest(torch7_fixtures) if r["file"] == name and r["key"] != "."]
    assert len(rows) >= 20
    for r in rows:
        v = _entry(model, r["key"])
        assert "x".join(map(str, v.shape)) == r["size"], r["key"]
        total = float(np.asarray(v, np.float64).sum())
        assert math.isclose(total, float(r["sum"]), rel_tol=1e-9, abs_tol=1e-12), (r["key"], total, r["sum"])
    params = sum(m.weight.size + m.bias.size for m in model.children if "weight" in m and "bias" in m)
    want = int(next(r for r in _manifest(torch7_fixtures) if r["file"] == name and r["key"] == ".")["size"])
    assert params == want


def test_model_ref_files(torch7_fixtures):
    rows = {(r["file"], r["key"]): r for r in _manifest(torch7_fixtures)}
    for variant in VARIANTS:
        name = f"model.{variant}.ref.t7"
        ref = t7convert.read(torch7_fixtures / "torch7" / "formats" / name)
        for key in ("input", "output"):
            r = rows[(name, key)]
            assert "x".join(map(str, ref[key].shape)) == r["size"]
            assert math.isclose(float(ref[key].sum(dtype=np.float64)), float(r["sum"]), rel_tol=1e-9)


# --- torch7/models: the fb.resnet.torch-style checkpoints ---------------------------------------------------

def _model_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "torch7" / "models").glob("*.t7") if not p.name.endswith(".ref.t7"))


def test_models_read_with_flattened_parameters(torch7_fixtures):
    with open(torch7_fixtures / "torch7" / "models" / "MANIFEST.tsv", newline="") as f:
        params = {r["id"]: int(r["params"]) for r in csv.DictReader(f, delimiter="\t")}
    files = _model_files(torch7_fixtures)
    assert len(files) == len(params) == 5
    for path in files:
        doc = read_document(path)
        assert isinstance(doc.root, T7Object) and doc.root.class_name == "nn.Sequential"
        weights = [r for r in doc.tensors if r.path.endswith((".weight", ".bias"))]
        grads = [r for r in doc.tensors if r.path.endswith((".gradWeight", ".gradBias"))]
        # getParameters(): all weights and biases are views of ONE storage, gradients of a second one
        assert len({r.storage_index for r in weights}) == 1, path.name
        assert len({r.storage_index for r in grads}) == 1, path.name
        (w_index,) = {r.storage_index for r in weights}
        flat = doc.storages[w_index]
        assert flat.size == params[path.stem], path.name
        assert flat.class_name == "torch.FloatStorage" and flat.data_offset is not None
        # the views tile the flat storage exactly
        covered = sorted((r.storage_offset, r.storage_offset + math.prod(r.shape)) for r in weights)
        assert covered[0][0] == 0 and covered[-1][1] == flat.size
        assert all(a[1] == b[0] for a, b in zip(covered, covered[1:])), path.name
        paths = {r.path for r in doc.tensors}
        assert "modules[1].weight" in paths  # Lua's 1-based indices


def test_models_ref_outputs(torch7_fixtures):
    for path in _model_files(torch7_fixtures):
        ref = t7convert.read(path.with_name(path.stem + ".ref.t7"))
        assert set(ref) >= {"input", "output", "stages"}
        assert ref["input"].dtype == np.float32 and np.isfinite(ref["output"]).all()
        assert isinstance(ref["stages"], list) and len(ref["stages"]) >= 3


def test_preprocess_refs(torch7_fixtures):
    refs = sorted((torch7_fixtures / "torch7" / "preprocess").glob("*.ref.t7"))
    assert refs
    for path in refs:
        ref = t7convert.read(path)
        assert ref["val"].shape == (3, 224, 224) and ref["val"].dtype == np.float32
        if "tencrop" in ref:
            assert ref["tencrop"].shape == (10, 3, 224, 224)


@pytest.mark.slow
def test_every_fixture_reads(torch7_fixtures):
    files = sorted(torch7_fixtures.rglob("*.t7"))
    assert len(files) >= 40
    for path in files:
        doc = read_document(path)
        assert doc.file_size == path.stat().st_size


# --- laziness: storage data is not read until used ---------------------------------------------------

def test_storage_data_is_lazy(tmp_path):
    """A tensor is a view of the memory-mapped file: a storage's bytes are read when a tensor needs them.

    Checked by changing the file on disk after reading it: a MAP_PRIVATE mapping shows the new bytes of
    pages that were never touched, so a storage that was read eagerly would keep the old values.
    """
    n = 1 << 20  # 4 MiB of float32, page aligned or not, far more than any read-ahead
    path = tmp_path / "lazy.t7"
    write(path, {"w": np.zeros(n, np.float32), "g": np.zeros(n, np.float32)})
    doc = read_document(path)
    rec = {s.path: s for s in doc.storages.values()}
    g = rec["g.storage"]
    with open(path, "r+b") as f:  # change the middle of g's data, behind the reader's back
        f.seek(g.data_offset + 4 * (n // 2))
        f.write(np.float32(7.0).tobytes())
    assert doc.root["g"][n // 2] == 7.0  # read now, not at read_document time


def test_huge_model_reads_without_touching_data(tmp_path):
    """A ~64 MB file reads in well under a second: no storage byte is copied or parsed."""
    flat = np.zeros(16 << 20, np.float32)
    model = T7Object("nn.Sequential", 1, T7Table(modules=[
        T7Object("nn.Linear", 1, T7Table(weight=flat[i * 4096:(i + 1) * 4096].reshape(64, 64))) for i in range(1000)]))
    path = tmp_path / "big.t7"
    write(path, model)
    t = time.perf_counter()
    doc = read_document(path)
    assert time.perf_counter() - t < 2.0
    assert len(doc.tensors) == 1000 and len(doc.storages) == 1


# --- errors: file, byte offset and object path -------------------------------------------------------

def _fail(data: bytes, tmp_path, **options) -> T7FormatError:
    path = tmp_path / "bad.t7"
    path.write_bytes(data)
    with pytest.raises(T7FormatError) as info:
        t7convert.read(path, **options)
    e = info.value
    assert str(path) in str(e) and e.path == str(path) and isinstance(e.offset, int) and e.object_path
    assert f"byte {e.offset}" in str(e)
    return e


def test_error_names_object_path(tmp_path):
    model = T7Object("nn.Sequential", 1, T7Table(modules=[
        T7Object("nn.ReLU", 1, T7Table()),
        T7Object("nn.Sequential", 1, T7Table(modules=[T7Object("nn.Linear", 1, T7Table(
            weight=np.ones((3, 2), np.float32), bias=np.ones(3, np.float32)))]))]))
    data = t7convert.torch7.format.dumps(model)
    cut = data.index(b"torch.FloatStorage") + 30  # inside the weight's storage data
    e = _fail(data[:cut], tmp_path)
    assert e.object_path == "modules[2].modules[1].weight.storage", str(e)
    assert "truncated" in e.reason


def test_error_empty_and_foreign_files(tmp_path):
    assert _fail(b"", tmp_path).offset == 0
    e = _fail(b"PK\x03\x04" + b"\x00" * 60, tmp_path)
    assert "zip" in e.reason
    e = _fail(b"\x80\x02" + b"\x00" * 60, tmp_path)
    assert "pickle" in e.reason


def test_error_unknown_tag_trailing_garbage_bad_reference(tmp_path):
    assert "unknown type tag" in _fail(struct.pack("<i", 9), tmp_path).reason
    assert "trailing garbage" in _fail(t7convert.torch7.format.dumps({"a": 1}) + b"\x00", tmp_path).reason
    # a table whose only value refers to object #7, never defined
    e = _fail(struct.pack("<iiiid", 3, 1, 1, 1, 1.0) + struct.pack("<ii", 3, 7), tmp_path)
    assert "never defined" in e.reason and e.object_path == "[1]"


def test_error_view_outside_storage(tmp_path):
    data = bytearray(t7convert.torch7.format.dumps(np.arange(6, dtype=np.float32)))
    # the size 6 (8-byte long) right after the class name and nDimension
    at = data.index(b"torch.FloatTensor") + len(b"torch.FloatTensor") + 4
    assert data[at:at + 8] == struct.pack("<q", 6)
    data[at:at + 8] = struct.pack("<q", 7)
    e = _fail(bytes(data), tmp_path)
    assert "reaches element 7 of a storage of 6" in e.reason


@pytest.mark.parametrize("claim", ["storage", "table", "string", "tds", "ndim", "tensor_size"])
def test_huge_claims_fail_fast_without_allocating(tmp_path, claim):
    """A file claiming 2^40 storage elements, 2^31-1 table entries or a 10^9-byte string is refused
    before anything of that size exists (this runs far below the memory such an allocation needs)."""
    def s(text: bytes) -> bytes:
        return struct.pack("<i", len(text)) + text
    head = struct.pack("<ii", 4, 1) + s(b"V 1")
    data = {
        "storage": head + s(b"torch.FloatStorage") + struct.pack("<q", 2**40),
        "table": struct.pack("<iii", 3, 1, 2**31 - 1),
        "string": struct.pack("<ii", 2, 10**9) + b"x" * 100,
        "tds": struct.pack("<ii", 4, 1) + s(b"V 0") + s(b"tds.Vec") + struct.pack("<q", 2**62),
        "ndim": head + s(b"torch.FloatTensor") + struct.pack("<i", 2**30),
        "tensor_size": head + s(b"torch.FloatTensor") + struct.pack("<iqq", 1, 2**62, 1) + struct.pack("<q", 1)
                       + struct.pack("<ii", 4, 2) + s(b"V 1") + s(b"torch.FloatStorage") + struct.pack("<q", 1)
                       + b"\x00" * 4,
    }[claim]
    t = time.perf_counter()
    e = _fail(data, tmp_path)
    assert time.perf_counter() - t < 1.0
    assert e.offset <= len(data)


@pytest.mark.slow
def test_deep_nesting_is_iterative(tmp_path):
    """200,000 nested tables: a clean error past max_depth, quickly; a value below it."""
    def nested(n: int) -> bytes:
        level = [struct.pack("<iiiid", 3, i, 1, 1, 1.0) for i in range(1, n + 1)]
        return b"".join(level) + struct.pack("<i", 0)
    path = tmp_path / "deep.t7"
    path.write_bytes(nested(200_000))
    t = time.perf_counter()
    with pytest.raises(T7FormatError) as info:
        t7convert.read(path)
    assert "nested deeper" in str(info.value) and len(str(info.value)) < 1000
    assert time.perf_counter() - t < 10
    x = t7convert.read(path, max_depth=250_000)
    depth = 0
    while x is not None:
        x, depth = x[0], depth + 1
    assert depth == 200_000


def test_long_size_option_and_error(tmp_path):
    x = {"w": np.arange(5, dtype=np.int64), "n": 3}
    path = tmp_path / "l4.t7"
    write(path, x, long_size=4)
    assert read_document(path).long_size == 4
    assert same(t7convert.read(path, long_size=4), x)
    with pytest.raises(T7FormatError):
        t7convert.read(path, long_size=8)
    # damaged so that neither long size fits: the error says both were tried
    data = path.read_bytes()
    e = _fail(data[:-3], tmp_path)
    assert "-byte longs" in str(e)


# --- classes and type ids Torch7 writes that t7convert's writer does not -------------------------------

def _lua_string(text: bytes) -> bytes:
    return struct.pack("<i", len(text)) + text


def _rename(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace a class name (with its length prefix) in a binary file."""
    return data.replace(_lua_string(old), _lua_string(new))


@pytest.mark.parametrize("cuda, cpu", [("Cuda", "Float"), ("CudaDouble", "Double"), ("CudaHalf", "Half"),
                                       ("CudaLong", "Long"), ("CudaByte", "Byte"), ("CudaInt", "Int"),
                                       ("CudaShort", "Short"), ("CudaChar", "Char")])
def test_cuda_classes_read_as_cpu_dtypes(tmp_path, cuda, cpu):
    dtype = {"Float": "f4", "Double": "f8", "Half": "f2", "Long": "i8", "Byte": "u1", "Int": "i4", "Short": "i2",
             "Char": "i1"}[cpu]
    a = np.arange(12).astype(dtype).reshape(3, 4)
    data = t7convert.torch7.format.dumps({"w": a, "v": a[:, 1:3]})
    data = _rename(data, f"torch.{cpu}Tensor".encode(), f"torch.{cuda}Tensor".encode())
    data = _rename(data, f"torch.{cpu}Storage".encode(), f"torch.{cuda}Storage".encode())
    path = tmp_path / "cuda.t7"
    path.write_bytes(data)
    doc = read_document(path)
    assert {r.class_name for r in doc.tensors} == {f"torch.{cuda}Tensor"}
    x = doc.root
    assert x["w"].dtype == np.dtype(dtype) and np.shares_memory(x["w"], x["v"])
    np.testing.assert_array_equal(x["v"], a[:, 1:3])


def test_half_tensor(tmp_path):
    a = np.array([[0.5, -2.0], [65504.0, np.inf]], np.float16)
    for encoding, long_size in [("binary", 8), ("ascii", 8), ("binary", 4)]:
        path = tmp_path / f"half-{encoding}{long_size}.t7"
        write(path, a, encoding=encoding, long_size=long_size)
        doc = read_document(path)
        assert doc.tensors[0].class_name == "torch.HalfTensor"
        assert doc.root.dtype == np.float16 and (doc.root == a).all()


def test_legacy_tds_hash_name(tmp_path):
    data = _rename(t7convert.torch7.format.dumps(TdsHash({1: 2})), b"tds.Hash", b"tds_hash")
    path = tmp_path / "old.t7"
    path.write_bytes(data)
    x = t7convert.read(path)
    assert isinstance(x, TdsHash) and x == {1: 2}


def test_function_type_ids(tmp_path):
    """Type 6 (a function without an index), 7 (legacy recursive: upvalues a plain list) and 8
    (upvalues {name, id, value} records): read as opaque bytes, never loaded or run."""
    code = b"\x1bLJ\x02not really bytecode"
    upvalues_list = struct.pack("<iii", 3, 2, 1) + struct.pack("<id", 1, 1.0) + struct.pack("<id", 1, 42.0)
    plain = struct.pack("<i", 6) + _lua_string(code) + struct.pack("<iii", 3, 1, 0)
    legacy = struct.pack("<ii", 7, 1) + _lua_string(code) + upvalues_list
    path = tmp_path / "f.t7"
    for data, is_legacy, ups in [(plain, True, {}), (legacy, True, [42])]:
        path.write_bytes(data)
        f = t7convert.read(path)
        assert isinstance(f, T7Function) and f.bytecode == code and f.legacy is is_legacy and f.upvalues == ups
    # a recursive function holding itself as an upvalue comes back as itself
    rec = (struct.pack("<ii", 8, 1) + _lua_string(code) + struct.pack("<iii", 3, 2, 1) + struct.pack("<id", 1, 1.0)
           + struct.pack("<iii", 3, 3, 2) + struct.pack("<i", 2) + _lua_string(b"name") + struct.pack("<i", 2)
           + _lua_string(b"self") + struct.pack("<i", 2) + _lua_string(b"value") + struct.pack("<ii", 8, 1))
    path.write_bytes(rec)
    f = t7convert.read(path)
    assert f.legacy is False and f.upvalues[0]["value"] is f and f.upvalues[0]["name"] == "self"


def test_class_without_version_prefix(tmp_path):
    """Files from before Torch7's versioning have the class name where ``V n`` would be."""
    data = struct.pack("<ii", 4, 1) + _lua_string(b"nn.Linear") + struct.pack("<iii", 3, 2, 1) \
        + struct.pack("<i", 2) + _lua_string(b"w") + struct.pack("<id", 1, 3.0)
    path = tmp_path / "old.t7"
    path.write_bytes(data)
    m = t7convert.read(path)
    assert m.class_name == "nn.Linear" and m.version is None and m.effective_version == 0 and m.w == 3


def test_expanded_tensor_limits(tmp_path):
    """Zero strides (an expanded tensor) are legal; a huge one over a tiny file is refused."""
    data = bytearray(t7convert.torch7.format.dumps(np.ones(1, np.float32)))
    at = data.index(b"torch.FloatTensor") + len(b"torch.FloatTensor") + 4
    data[at:at + 16] = struct.pack("<qq", 1000, 0)  # size 1000, stride 0
    path = tmp_path / "expand.t7"
    path.write_bytes(bytes(data))
    x = t7convert.read(path)
    assert x.shape == (1000,) and x.strides == (0,) and x.sum() == 1000
    data[at:at + 16] = struct.pack("<qq", 2**40, 0)
    e = _fail(bytes(data), tmp_path)
    assert "repeats a storage" in e.reason


def test_list_of_tensors_and_table_keys(tmp_path):
    """A list of tensors (torchfile 0.1.0 fails on it) and tables used as keys (list- and map-like)."""
    a, b = np.ones(3, np.float32), np.arange(4, dtype=np.int64).reshape(2, 2)
    key_list, key_map = [1, 2], {"k": "v"}
    path = tmp_path / "lists.t7"
    write(path, {"tensors": [a, b, a]})
    x = t7convert.read(path)
    assert isinstance(x["tensors"], list) and len(x["tensors"]) == 3
    assert x["tensors"][0] is x["tensors"][2]  # one tensor stored twice is one array
    np.testing.assert_array_equal(x["tensors"][1], b)
    lk, mk = T7List(key_list), T7Table(key_map)
    write(path, T7Table({lk: "list key", mk: "map key", "both": [lk, mk]}))
    y = t7convert.read(path)
    keys = [k for k in y if not isinstance(k, str)]
    assert sorted(type(k).__name__ for k in keys) == ["T7List", "T7Table"]
    for k in keys:
        assert any(k is v for v in y["both"])  # the key objects are the values stored later, shared
        assert y[k] == ("list key" if isinstance(k, list) else "map key")
