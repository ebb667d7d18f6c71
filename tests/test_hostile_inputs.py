"""Files built to mislead: containers whose ``modules`` table Torch7 only partly runs, wrappers that wrap
themselves, nesting past the conversion's limit, float values a FloatStorage cannot hold.

Each is written with t7convert's own writer; what Torch7 would do is stated from its Lua sources
(``for i = 1, #self.modules`` in every nn container, ``model:get(1)`` for a DataParallelTable).
"""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch7_models as tm

import t7convert
from t7convert import T7ConvertError, api
from t7convert.conversion.context import MAX_DEPTH, convert_graph
from t7convert.conversion.inspection import format_summary, inspect_file
from t7convert.interpreter import run as reference_run
from t7convert.interpreter.engine import modules_run
from t7convert.torch7.format import T7Object, T7Table


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "t7convert", *args], capture_output=True, text=True,
                          timeout=timeout)


def assert_input_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for w in words:
        assert w in lines[0], lines[0]


def converted(path, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return t7convert.load(str(path))(torch.from_numpy(x)).numpy()


# --- 1. modules tables with key 0, negative keys, holes -----------------------------------------------
def key0_model() -> T7Object:
    """{[0] = MulConstant(100), [1] = ReLU}: Torch7 runs only modules[1], so the output is relu(x)."""
    return tm.module("nn.Sequential", modules=T7Table({0: tm.module("nn.MulConstant", constant_scalar=100.0),
                                                       1: tm.relu()}))


@pytest.mark.slow
def test_key_zero_is_not_run_and_the_model_converts_to_relu_of_x(tmp_path):
    src = tm.save(tmp_path, "key0", key0_model())
    out = tmp_path / "key0.pth"
    report = api.convert(str(src), str(out), input_shape=(3, 2, 2))
    assert report.verification.ok
    x = tm.f32(2, 3, 2, 2)
    np.testing.assert_allclose(converted(out, x), np.maximum(x, 0), rtol=0, atol=0)
    np.testing.assert_allclose(reference_run(t7convert.read(src), x).output, np.maximum(x, 0))


def test_children_follow_the_lua_border_negative_keys_and_holes():
    a, b, c, d, e = (tm.module("nn.Identity") for _ in range(5))
    m = tm.module("nn.Sequential", modules=T7Table({-1: a, 1: b, 2: c, 4: d, "x": e}))
    assert m.children == [b, c]
    assert modules_run(m) == [b, c]
    assert tm.module("nn.Sequential", modules=T7Table({2: a, 3: b})).children == []
    assert modules_run(tm.module("nn.Sequential", modules=T7Table({2: a, 3: b}))) == []
    # Lua's true is not the key 1 (Python's True is)
    assert tm.module("nn.Sequential", modules=T7Table({True: a})).children == []
    assert modules_run(tm.module("nn.Sequential", modules=T7Table({True: a}))) == []


def test_a_hole_stops_the_sequence_in_conversion_and_reference(tmp_path):
    model = tm.module("nn.Sequential", modules=T7Table({1: tm.relu(), 3: tm.module("nn.MulConstant",
                                                                                 constant_scalar=-7.0)}))
    src = tm.save(tmp_path, "hole", model)
    out = tmp_path / "hole.pth"
    assert api.convert(str(src), str(out), input_shape=(5,)).verification.ok
    x = tm.f32(2, 5)
    np.testing.assert_allclose(converted(out, x), np.maximum(x, 0))


def test_concat_table_with_a_key_zero_branch_gives_two_branches(tmp_path):
    table = tm.module("nn.ConcatTable", modules=T7Table({0: tm.module("nn.MulConstant", constant_scalar=3.0),
                                                         1: tm.module("nn.Identity"), 2: tm.relu()}))
    model = tm.sequential(table, tm.module("nn.JoinTable", dimension=1, nInputDims=1))
    src = tm.save(tmp_path, "ct", model)
    node, _ = convert_graph(t7convert.read(src))
    assert len(node.children[0].children) == 2
    out = tmp_path / "ct.pth"
    assert api.convert(str(src), str(out), input_shape=(4,)).verification.ok
    x = tm.f32(3, 4)
    got = converted(out, x)
    assert got.shape == (3, 8)
    np.testing.assert_allclose(got, np.concatenate([x, np.maximum(x, 0)], 1))
    np.testing.assert_allclose(reference_run(t7convert.read(src), x).output, got, rtol=1e-6)


@pytest.mark.slow
def test_inspect_names_the_modules_torch7_does_not_run(tmp_path):
    src = tm.save(tmp_path, "key0", key0_model())
    summary = format_summary(inspect_file(str(src)))
    assert "modules[0] (nn.MulConstant) is not run by Torch7" in summary
    result = cli("inspect", str(src))
    assert result.returncode == 0, result.stderr
    assert "modules[0] (nn.MulConstant) is not run by Torch7" in result.stdout


# --- 2. DataParallelTable wrappers that wrap themselves -----------------------------------------------
def self_wrapping() -> T7Object:
    dpt = tm.module("nn.DataParallelTable", dimension=1)
    dpt.fields["modules"] = [dpt]
    return dpt


def mutual_wrapping() -> T7Object:
    a = tm.module("nn.DataParallelTable", dimension=1)
    b = tm.module("nn.DataParallelTable", dimension=1)
    a.fields["modules"] = [b]
    b.fields["modules"] = [a]
    return a


@pytest.mark.slow
@pytest.mark.parametrize("build", [self_wrapping, mutual_wrapping])
def test_cyclic_wrappers_are_input_errors_not_endless_loops(tmp_path, build):
    src = tm.save(tmp_path, "cycle", build())
    with pytest.raises(T7ConvertError, match="cycle"):
        t7convert.load(str(src))
    with pytest.raises(T7ConvertError, match="cycle"):
        api.convert(str(src), str(tmp_path / "c.pth"), input_shape=(3,))
    with pytest.raises(T7ConvertError, match="cycle"):
        reference_run(t7convert.read(src), tm.f32(1, 3))
    assert "cycle" in format_summary(inspect_file(str(src)))
    # inspect imports no torch: well within 2 s where the loop never ended
    result = cli("inspect", str(src), timeout=2)
    assert result.returncode == 0 and "cycle" in result.stdout, result.stderr
    # parity and convert import torch first (seconds on a loaded machine), so the limit is looser; the
    # loop never ended
    assert_input_error(cli("parity", str(src), "--input-size", "3", timeout=30), "cycle")
    assert_input_error(cli(str(src), "-o", str(tmp_path / "c.pth"), timeout=30), "cycle")


# --- 3. messages: nesting limit, float overflow ------------------------------------------------------
def nested(levels: int) -> T7Object:
    m = tm.relu()
    for _ in range(levels):
        m = tm.sequential(m)
    return m


@pytest.mark.slow
def test_nesting_limit_is_the_number_the_message_states(tmp_path):
    node, _ = convert_graph(nested(MAX_DEPTH))  # exactly at the limit: converts
    assert node.op == "Sequential"
    with pytest.raises(T7ConvertError, match=f"more than {MAX_DEPTH} levels"):
        convert_graph(nested(MAX_DEPTH + 1))
    src = tm.save(tmp_path, "deep", nested(MAX_DEPTH + 1))
    assert_input_error(cli(str(src), "-o", str(tmp_path / "d.pth")), f"more than {MAX_DEPTH} levels")


def test_ascii_float_beyond_float32_reads_as_inf_without_a_warning(tmp_path):
    path = tmp_path / "big.t7"
    t7convert.write(path, np.array([1.0, 2.0], np.float32), encoding="ascii")
    text = path.read_bytes()
    assert b"2" in text
    token = text.split(b"\n")[-2].split()[-1]
    path.write_bytes(text[:text.rindex(token)] + b"1e39" + text[text.rindex(token) + len(token):])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = np.asarray(t7convert.read(path))
    assert values.dtype == np.float32
    assert values[0] == 1.0 and np.isposinf(values[1])
    result = subprocess.run([sys.executable, "-W", "error", "-m", "t7convert", "inspect", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert "RuntimeWarning" not in result.stderr and "overflow" not in result.stderr


def test_loading_a_corrupt_t7_fails_before_torch_is_imported(tmp_path):
    """A bad file is refused from the format layer alone: no second of torch import per bad file."""
    bad = tmp_path / "bad.t7"
    bad.write_bytes(b"\x04\x00\x00\x00" + b"\xff" * 12)
    code = ("import sys, t7convert\n"
            "try:\n    t7convert.load(sys.argv[1])\nexcept t7convert.T7ConvertError:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
