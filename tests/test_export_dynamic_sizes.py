"""Exported .onnx and .pt2 files accept every size the model accepts, and compute Torch7's numbers there:
the pooling size rules (ceil mode, dilation, adaptive bins) are traced for every size; a graph that would
be wrong at another size is caught at conversion time and written with fixed dimensions instead."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch7_models as tm

import t7convert
from t7convert.api import convert
from t7convert.interpreter import run
from t7convert.parity.compare import model_in

HAS_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="onnx, onnxscript or onnxruntime is not installed "
                                "(pip install 't7convert[onnx]'): the .onnx tests did not run")


def reference(src: Path, x: np.ndarray) -> np.ndarray:
    """The reference execution (the Torch7 graph, float64) on ``x``."""
    return np.asarray(run(model_in(t7convert.read(str(src))), x, record=False).output)


def pooling_chain(tmp_path: Path) -> Path:
    """Fully convolutional, with Torch7's size rules: ceil-mode max pooling whose last window starts in the
    padding, a dilated max pooling, a ceil-mode average pooling without padding (THNN's divisors)."""
    tm.seed(11)
    return tm.save(tmp_path, "chain", tm.sequential(
        tm.conv(3, 4, 3, 3, 1, 1, 1, 1), tm.maxpool(3, 3, 2, 2, 1, 1, ceil=True),
        tm.module("nn.SpatialDilatedMaxPooling", kW=2, kH=2, dW=1, dH=1, padW=1, padH=0, dilationW=2,
                  dilationH=1, ceil_mode=False),
        tm.avgpool(2, 2, 2, 2, ceil=True)))


def adaptive(tmp_path: Path, kind: str) -> Path:
    """Adaptive pooling: THNN's float32 bin edges, which depend on the input's size."""
    tm.seed(12)
    return tm.save(tmp_path, f"adaptive_{kind}", tm.sequential(
        tm.conv(3, 4, 3, 3, 1, 1, 1, 1), tm.module(f"nn.SpatialAdaptive{kind}Pooling", W=3, H=2)))


#: (batch, height, width) the exported files are run at besides the verification input
SIZES = [(1, 9, 11), (3, 13, 10)]


def rng_input(seed: int, n: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, h, w), dtype=np.float32)


def close(got, want: np.ndarray) -> bool:
    got = np.asarray(got, np.float64)
    return got.shape == want.shape and float(np.abs(got - want).max()) <= 1e-4 * max(float(np.abs(want).max()), 1e-12)


@pytest.mark.parametrize("make", [pooling_chain, lambda p: adaptive(p, "Max"), lambda p: adaptive(p, "Average")],
                         ids=["ceil-dilated-pooling", "adaptive-max", "adaptive-average"])
def test_pt2_runs_at_other_sizes_and_batches_equal_to_the_reference(tmp_path, make):
    src = make(tmp_path)
    out = tmp_path / "m.pt2"
    convert(str(src), str(out), input="3x8x8")
    program = torch.export.load(str(out)).module()
    for i, (n, h, w) in enumerate(SIZES):
        x = rng_input(20 + i, n, h, w)
        with torch.no_grad():
            got = program(torch.from_numpy(x))
        assert close(got, reference(src, x)), (n, h, w)


@needs_onnx
@pytest.mark.parametrize("make", [pooling_chain, lambda p: adaptive(p, "Max"), lambda p: adaptive(p, "Average")],
                         ids=["ceil-dilated-pooling", "adaptive-max", "adaptive-average"])
def test_onnx_runs_at_other_sizes_and_batches_equal_to_the_reference(tmp_path, make):
    import onnxruntime as ort
    src = make(tmp_path)
    out = tmp_path / "m.onnx"
    convert(str(src), str(out), input="3x8x8")
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [d if isinstance(d, int) else "free" for d in s.get_inputs()[0].shape] == ["free", 3, "free", "free"]
    for i, (n, h, w) in enumerate(SIZES):
        x = rng_input(30 + i, n, h, w)
        (got,) = s.run(None, {s.get_inputs()[0].name: x})
        assert close(got, reference(src, x)), (n, h, w)


@needs_onnx
@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_a_graph_wrong_at_another_size_is_written_with_that_size_fixed(tmp_path, fmt):
    """The writer is told the reference differs at every other size than the verification input's (as a
    size rule traced at one size would): what it writes must refuse other sizes, not compute them."""
    from t7convert.export import write
    src = pooling_chain(tmp_path)
    module = t7convert.load(str(src))
    x = rng_input(40, 2, 8, 8)
    out = tmp_path / f"m.{fmt}"
    size, err, notes = write(fmt, module, x, reference(src, x), str(out), provenance={"source": "chain.t7"},
                             reference_at=lambda x2: reference(src, x2) + 1.0)
    assert err <= 1e-4
    other = rng_input(41, 3, 10, 9)
    if fmt == "pt2":
        program = torch.export.load(str(out)).module()
        with torch.no_grad():
            assert close(program(torch.from_numpy(x)), reference(src, x))
            with pytest.raises(Exception, match="Guard failed|shape|size"):
                program(torch.from_numpy(other))
    else:
        import onnxruntime as ort
        s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        assert s.get_inputs()[0].shape == [2, 3, 8, 8]
        with pytest.raises(Exception, match="Got: 3 Expected: 2|Expected"):
            s.run(None, {s.get_inputs()[0].name: other})


@pytest.mark.parametrize("fmt", [pytest.param("onnx", marks=needs_onnx), "pt2"])
def test_sparse_linear_exports_take_real_valued_rows_as_torch7_does(tmp_path, fmt):
    """SparseLinear's (index, value) rows are a FloatTensor in Torch7: the exported file declares a float
    input, so real values reach the program as they are (an integer input once truncated 0.5 to 0)."""
    tm.seed(13)
    src = tm.save(tmp_path, "sparse", tm.module("nn.SparseLinear", weight=tm.f32(3, 10), bias=tm.f32(3),
                                                weightDecay=0, doGradInput=False))
    out = tmp_path / f"m.{fmt}"
    convert(str(src), str(out))
    x = np.array([[[1, 0.5], [4, -1.25], [10, 2.75], [7, -0.125]]], np.float32)  # real values, as Torch7 takes
    if fmt == "pt2":
        with torch.no_grad():
            got = torch.export.load(str(out)).module()(torch.from_numpy(x))
    else:
        import onnxruntime as ort
        s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        assert s.get_inputs()[0].type == "tensor(float)"
        (got,) = s.run(None, {s.get_inputs()[0].name: x})
    assert close(got, reference(src, x))


@needs_onnx
@pytest.mark.parametrize("layer", ["nn.Log", "nn.Sqrt"])
def test_a_model_finite_only_on_positive_values_keeps_its_dynamic_sizes(tmp_path, layer):
    """The second-size check draws standard-normal values; where the reference is not finite there (the log
    or square root of negative values) it draws positive ones, instead of writing every size fixed."""
    import onnxruntime as ort
    src = tm.save(tmp_path, "positive", tm.sequential(tm.module(layer)))
    out = tmp_path / "m.onnx"
    convert(str(src), str(out), input="5")
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert all(not isinstance(d, int) for d in s.get_inputs()[0].shape), s.get_inputs()[0].shape
    x = np.abs(np.random.default_rng(3).standard_normal((3, 7), dtype=np.float32)) + 0.1
    (got,) = s.run(None, {s.get_inputs()[0].name: x})
    assert close(got, reference(src, x))
