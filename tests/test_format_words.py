"""How the reader names what a file is and where things are, in Torch7's words.

Files that are not Torch7 (an image, a zip, an ONNX model renamed ``.t7``) are named as what they are;
a file that holds something other than a model says what, as Torch7 would (a Lua table with keys...,
a FloatTensor 3x224x224); files written on a GPU (torch.CudaTensor) read as CPU tensors and the
conversion says so; a truncated file's message is short; and Torch7's 1-based paths, which every
message uses, resolve with ``T7Object.at`` although ``read`` gives 0-based Python lists.
"""
from __future__ import annotations

import csv
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch7_models as tm

import t7convert
from t7convert import T7ConvertError, T7FormatError
from t7convert.conversion.model import convert_file
from t7convert.torch7.format import T7Function, TdsHash, TdsVec, describe_value, dumps, read_document, write


def _lua_string(text: bytes) -> bytes:
    return struct.pack("<i", len(text)) + text


def _as_cuda(data: bytes) -> bytes:
    """What cutorch writes for the same model on the GPU: the same bytes under the Cuda class names."""
    for cpu, cuda in ((b"torch.FloatTensor", b"torch.CudaTensor"), (b"torch.FloatStorage", b"torch.CudaStorage")):
        data = data.replace(_lua_string(cpu), _lua_string(cuda))
    return data


def _format_error(path: Path) -> T7FormatError:
    with pytest.raises(T7FormatError) as info:
        t7convert.read(path)
    return info.value


# --- files that are not Torch7 -------------------------------------------------------------------------

def _zip(path: Path, name: str, payload: bytes = b"x") -> bytes:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, payload)
    return path.read_bytes()


@pytest.mark.parametrize("head, named", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 40, "a PNG image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40, "a JPEG image"),
    (b"\x89HDF\r\n\x1a\n" + b"\x00" * 40, "an HDF5 file"),
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "a NumPy .npy file"),
    (b"\x08\x07\x12\x07pytorch\x1a\x052.1.0:\x9a\x01\n" + b"\x00" * 30, "an ONNX model"),
    (b"\x08\x08\x3a\x80\x02\n\x0bConv_0" + b"\x00" * 30, "an ONNX model"),
])
def test_a_foreign_file_renamed_t7_is_named_as_what_it_is(tmp_path, head, named):
    path = tmp_path / "model.t7"
    path.write_bytes(head)
    e = _format_error(path)
    assert f"this is {named}" in str(e) and "not a Torch7" in str(e)


def test_zips_are_told_apart_by_their_first_entry(tmp_path):
    (tmp_path / "a.t7").write_bytes(_zip(tmp_path / "a.zip", "archive/data.pkl"))
    assert "a PyTorch checkpoint" in str(_format_error(tmp_path / "a.t7"))
    (tmp_path / "b.t7").write_bytes(_zip(tmp_path / "b.zip", "weights.npy"))
    assert "a NumPy .npz archive" in str(_format_error(tmp_path / "b.t7"))
    (tmp_path / "c.t7").write_bytes(_zip(tmp_path / "c.zip", "readme.txt"))
    e = str(_format_error(tmp_path / "c.t7"))
    assert "a zip archive" in e and "PyTorch" not in e


def test_a_real_torch7_file_is_never_taken_for_a_foreign_one(tmp_path):
    for value in ({"a": 1}, np.arange(8, dtype=np.int64), 7.0, "text", tm.sequential(tm.linear(3, 2))):
        path = tmp_path / "v.t7"
        write(path, value)
        t7convert.read(path)


# --- what a file holds, when it is not a model -----------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    ({"a": 1, "b": 2, "c": 3, "d": 4}, "a Lua table with keys a, b, c, ..."),
    ({"mean": [1.0], "std": [2.0]}, "a Lua table with keys mean, std"),
    (np.zeros((3, 224, 224), np.float32), "a FloatTensor 3x224x224"),
    (np.zeros((2, 5), np.int64), "a LongTensor 2x5"),
    (["x", "y"], "a Lua list of 2 values"),
    (2.5, "the number 2.5"),
])
def test_a_file_that_is_not_a_model_says_what_it_holds_in_torch7_words(tmp_path, value, words):
    path = tmp_path / "data.t7"
    write(path, value)
    with pytest.raises(T7ConvertError) as info:
        convert_file(str(path))
    assert f"the file holds {words}, not a Torch7 nn model" in str(info.value)
    for python_name in ("T7Table", "ndarray", "T7List", "float"):
        assert python_name not in str(info.value)


def test_functions_and_tds_containers_are_named_as_lua_does():
    assert describe_value(T7Function(bytecode=b"\x1bLJ", upvalues=[])) == "a Lua function"
    assert describe_value(TdsHash({1: 2, 10: 11})) == "a tds.Hash with keys 1, 10"
    assert describe_value(TdsVec([1, 2])) == "a tds.Vec of 2 values"
    assert describe_value(np.zeros(0, np.float32)) == "an empty FloatTensor"
    assert describe_value(tm.module("Blah")) == "a Blah object"


# --- CUDA tensors ------------------------------------------------------------------------------------------

def test_a_model_saved_from_the_gpu_converts_and_says_cuda_tensors_read_as_cpu(tmp_path):
    model = tm.sequential(tm.linear(4, 3), tm.module("nn.ReLU"), tm.linear(3, 2))
    cpu, gpu = tmp_path / "cpu.t7", tmp_path / "gpu.t7"
    write(cpu, model)
    data = _as_cuda(cpu.read_bytes())
    assert b"torch.CudaTensor" in data and b"torch.FloatTensor" not in data
    gpu.write_bytes(data)
    doc = read_document(gpu)
    assert {r.class_name for r in doc.tensors} == {"torch.CudaTensor"}
    converted, reference = convert_file(str(gpu)), convert_file(str(cpu))
    assert "CUDA tensors read as CPU tensors" in converted.notes
    assert "CUDA tensors read as CPU tensors" not in reference.notes
    for key, value in reference.state.items():
        np.testing.assert_array_equal(converted.state[key], value)
        assert converted.state[key].dtype == np.float32


def _wild(torch7_fixtures: Path) -> Path:
    """The public files collected for the project live next to the fixtures (../shared/wild)."""
    wild = torch7_fixtures.parent / "wild"
    if not (wild / "MANIFEST.tsv").is_file():
        pytest.skip(f"no wild files next to the fixtures ({wild}/MANIFEST.tsv missing)")
    return wild


def test_public_files_holding_cuda_tensors_read_as_cpu_tensors(torch7_fixtures):
    wild = _wild(torch7_fixtures)
    with open(wild / "MANIFEST.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if "torch.Cuda" in r["what"]]
    assert rows, "the wild MANIFEST lists no file with CUDA tensors"
    read = 0
    for row in rows:
        path = wild / row["file"]
        if row["expect"] != "read":
            with pytest.raises(T7FormatError) as info:  # the truncated deepmask model
                read_document(path)
            assert "truncated" in str(info.value) and "-byte longs" not in str(info.value)
            continue
        doc = read_document(path)
        cuda = [r for r in doc.tensors if r.class_name == "torch.CudaTensor"]
        assert cuda, row["file"]
        read += 1
        try:
            converted = convert_file(str(path))
        except T7ConvertError:
            continue  # a class without a converter: reading is what this test is about
        assert "CUDA tensors read as CPU tensors" in converted.notes
        assert all(v.dtype == np.float32 for v in converted.state.values())
    assert read >= 5


# --- truncated files ---------------------------------------------------------------------------------------

def test_a_truncated_file_gets_a_short_message_without_a_long_size_diagnosis(tmp_path):
    path = tmp_path / "m.t7"
    write(path, tm.sequential(tm.linear(64, 32), tm.module("nn.ReLU")))
    data = path.read_bytes()
    cut = tmp_path / "cut.t7"
    cut.write_bytes(data[: len(data) // 2])
    e = _format_error(cut)
    assert "truncated" in e.reason
    assert "byte longs" not in str(e) and "long_size" not in str(e)
    assert len(str(e)) - len(str(cut)) < 160, str(e)


def test_the_long_size_is_mentioned_when_the_other_one_would_have_parsed(tmp_path):
    path = tmp_path / "l4.t7"
    write(path, {"w": np.arange(5, dtype=np.int64), "n": 3}, long_size=4)
    with pytest.raises(T7FormatError) as info:
        t7convert.read(path, long_size=8)
    assert "it reads with long_size=4" in str(info.value)
    t7convert.read(path)  # detected without help
    cut = tmp_path / "cut.t7"
    cut.write_bytes(path.read_bytes()[:-3])  # damaged: neither reads, the 4-byte reading gets further
    e = _format_error(cut)
    assert "(read with 4-byte longs)" in str(e) and "fails at byte" not in str(e)


# --- Torch7 paths --------------------------------------------------------------------------------------------

def _nested(tmp_path) -> object:
    inner = tm.sequential(tm.linear(3, 4), tm.module("nn.Tanh"))
    path = tmp_path / "nested.t7"
    write(path, {"model": tm.sequential(tm.module("nn.Identity"), inner)})
    return t7convert.read(path)


def test_read_gives_0_based_lists_and_at_follows_torch7s_1_based_paths(tmp_path):
    model = _nested(tmp_path)["model"]
    assert model.modules[1].modules[0].class_name == "nn.Linear"   # Python: 0-based
    assert model.at("modules[2].modules[1]").class_name == "nn.Linear"  # Torch7: 1-based
    assert model.at("modules[2].modules[1].weight").shape == (4, 3)
    assert model.at(".modules[2]['modules'][2]").class_name == "nn.Tanh"
    assert model.at("") is model


def test_a_path_from_an_error_message_resolves(tmp_path):
    path = tmp_path / "bad.t7"
    write(path, tm.sequential(tm.module("nn.Identity"), tm.sequential(tm.module("nn.Linear", weight=tm.f32(2)))))
    with pytest.raises(T7ConvertError) as info:
        convert_file(str(path))
    assert "modules[2].modules[1]" in str(info.value)
    assert t7convert.read(path).at("modules[2].modules[1]").class_name == "nn.Linear"


@pytest.mark.parametrize("bad, said", [
    ("modules[3]", "modules has 2 entries (1 to 2); there is no [3]"),
    ("modules[0]", "there is no [0]"),
    ("modules[2].bias", "modules[2] (a nn.Sequential) has no bias"),
    ("modules[2].modules[1].weight.storage", "(a tensor) has no storage"),
    ("modules[[1]]", "is not a Torch7 path"),
])
def test_a_path_that_does_not_resolve_says_how_far_it_got(tmp_path, bad, said):
    model = _nested(tmp_path)["model"]
    with pytest.raises(KeyError) as info:
        model.at(bad)
    assert said in str(info.value)


def test_dumps_of_a_read_value_round_trips_through_at(tmp_path):
    model = _nested(tmp_path)["model"]
    again = tmp_path / "again.t7"
    again.write_bytes(dumps(model))
    np.testing.assert_array_equal(t7convert.read(again).at("modules[2].modules[1].weight"),
                                  model.at("modules[2].modules[1].weight"))


# --- cunn's DataParallelTable ---------------------------------------------------------------------------

def _data_parallel(version: int, header: tuple) -> object:
    inner = tm.sequential(tm.linear(4, 3), tm.module("nn.ReLU"))
    dpt = tm.module("nn.DataParallelTable", version=version, modules=[inner], dimension=1, gpuAssignments=[1, 2])
    dpt.header = header
    return dpt


def test_a_data_parallel_table_as_cunn_writes_it_reads_and_converts(tmp_path):
    """cunn's DataParallelTable:__write (version 3) writes gpuAssignments, then the fields table."""
    path = tmp_path / "dpt.t7"
    write(path, _data_parallel(3, ([1, 2],)))
    data = path.read_bytes()
    after_name = data.index(_lua_string(b"nn.DataParallelTable")) + len(_lua_string(b"nn.DataParallelTable"))
    assert struct.unpack_from("<ii", data, after_name) == (3, 2)  # a table (object #2): gpuAssignments
    model = t7convert.read(path)
    assert model.header == ([1, 2],) and model.at("modules[1].modules[1]").class_name == "nn.Linear"
    converted = convert_file(str(path))
    assert any("DataParallelTable" in n for n in converted.notes) and converted.parameters == 4 * 3 + 3


def test_a_data_parallel_table_before_version_2_has_only_its_fields(tmp_path):
    path = tmp_path / "dpt1.t7"
    write(path, _data_parallel(1, ()))
    assert t7convert.read(path).header == ()
    with pytest.raises(T7ConvertError):
        write(tmp_path / "bad.t7", _data_parallel(3, ()))  # cunn's version 3 always writes the header
