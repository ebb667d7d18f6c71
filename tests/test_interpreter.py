"""The reference execution of Torch7 graphs (t7convert.interpreter) computes what Torch7 computes.

Each layer family is checked on tiny hand-built modules against an expectation computed another way:
by a direct loop over output positions written from the Lua/C code, or by hand. Then every model
written by real Torch7 in the shared fixtures is run and compared with Torch7's own output and
per-stage outputs.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch7_models as tm
from hypothesis import given, settings
from hypothesis import strategies as st

import t7convert
from t7convert import T7ConvertError, T7Object, UnsupportedModuleError
from t7convert.interpreter import run, supported_classes
from t7convert.interpreter.families.pooling import cudnn_size, thnn_size
from t7convert.torch7.format import as_storage

RTOL = 1e-5

def mod(class_name: str, version: int | None = 1, **fields) -> T7Object:
    """A Torch7 module as t7convert.read returns it (float32 tensors, Lua numbers)."""
    fields = {k: (np.asarray(v, dtype=np.float32) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
              for k, v in fields.items()}
    return T7Object(class_name, version, fields)


def seq(*modules: T7Object, name: str = "nn.Sequential") -> T7Object:
    return mod(name, modules=list(modules))


def forward(m: T7Object, x: np.ndarray):
    return run(m, x).output


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def f32(*shape: int) -> np.ndarray:
    """Drawn from the test's own generator (seeded from its id by conftest)."""
    return tm.generator().standard_normal(shape).astype(np.float32)


# --- convolution --------------------------------------------------------------------------------
def conv_loop(x, w, b, kW, kH, dW, dH, padW, padH, groups=1):
    """Direct definition: out[n,o,i,j] = b[o] + sum over the group's planes and the kernel window."""
    N, C, H, W = x.shape
    O = w.shape[0]
    cg, og = C // groups, O // groups
    w = w.reshape(O, cg, kH, kW)
    Ho, Wo = (H + 2 * padH - kH) // dH + 1, (W + 2 * padW - kW) // dW + 1
    out = np.zeros((N, O, Ho, Wo))
    for n, o, i, j in itertools.product(range(N), range(O), range(Ho), range(Wo)):
        g = o // og
        s = 0.0 if b is None else float(b[o])
        for c, ki, kj in itertools.product(range(cg), range(kH), range(kW)):
            y, xx = i * dH - padH + ki, j * dW - padW + kj
            if 0 <= y < H and 0 <= xx < W:
                s += float(w[o, c, ki, kj]) * float(x[n, g * cg + c, y, xx])
        out[n, o, i, j] = s
    return out


def test_non_square_convolution_reads_kernel_stride_and_padding_as_width_then_height():
    x = f32(2, 3, 9, 8)
    w, b = f32(4, 3, 5, 2), f32(4)  # kH=5, kW=2
    m = mod("nn.SpatialConvolution", nInputPlane=3, nOutputPlane=4, kW=2, kH=5, dW=1, dH=2, padW=1, padH=2,
            weight=w, bias=b)
    expected = conv_loop(x, w, b, kW=2, kH=5, dW=1, dH=2, padW=1, padH=2)
    got = forward(m, x)
    assert got.shape == (2, 4, 5, 9)
    assert rel_error(got, expected) < 1e-12


def test_cudnn_grouped_convolution_splits_planes_in_group_order_and_has_no_bias_when_nil():
    x = f32(1, 8, 6, 6)
    w = f32(6, 4, 3, 3)  # 2 groups: (nOut, nIn/groups, kH, kW)
    m = mod("cudnn.SpatialConvolution", nInputPlane=8, nOutputPlane=6, kW=3, kH=3, dW=2, dH=2, padW=1, padH=1,
            groups=2, weight=w)
    assert rel_error(forward(m, x), conv_loop(x, w, None, 3, 3, 2, 2, 1, 1, groups=2)) < 1e-12


def test_old_mm_convolution_with_2d_weight_and_single_padding_field():
    x = f32(2, 2, 5, 7)
    w = f32(3, 2 * 3 * 1)  # (nOut, nIn*kH*kW), kH=3, kW=1
    b = f32(3)
    m = mod("nn.SpatialConvolutionMM", None, nInputPlane=2, nOutputPlane=3, kW=1, kH=3, dW=1, dH=1, padding=1,
            weight=w, bias=b)
    assert rel_error(forward(m, x), conv_loop(x, w, b, 1, 3, 1, 1, 1, 1)) < 1e-12


def test_single_sample_convolution_keeps_three_dimensions():
    x = f32(3, 6, 6)
    w = f32(2, 3, 3, 3)
    m = mod("nn.SpatialConvolution", kW=3, kH=3, dW=1, dH=1, padW=0, padH=0, weight=w)
    assert rel_error(forward(m, x), conv_loop(x[None], w, None, 3, 3, 1, 1, 0, 0)[0]) < 1e-12


@settings(max_examples=25, deadline=None)
@given(kW=st.integers(1, 3), kH=st.integers(1, 3), dW=st.integers(1, 2), dH=st.integers(1, 2),
       padW=st.integers(0, 1), padH=st.integers(0, 1), groups=st.sampled_from([1, 2]),
       H=st.integers(3, 6), W=st.integers(3, 6))
def test_convolution_geometry_matches_the_direct_loop(kW, kH, dW, dH, padW, padH, groups, H, W):
    x = f32(1, 4, H, W)
    w = f32(4, 4 // groups, kH, kW)
    m = mod("cudnn.SpatialConvolution", kW=kW, kH=kH, dW=dW, dH=dH, padW=padW, padH=padH, groups=groups,
            weight=w)
    assert rel_error(forward(m, x), conv_loop(x, w, None, kW, kH, dW, dH, padW, padH, groups)) < 1e-12


def test_convolution_with_mismatched_planes_fails_naming_the_module():
    m = seq(mod("nn.SpatialConvolution", kW=1, kH=1, weight=f32(2, 5, 1, 1)))
    with pytest.raises(T7ConvertError, match=r"modules\[1\].*SpatialConvolution.*3 planes"):
        forward(m, f32(1, 3, 4, 4))


# --- batch normalization ------------------------------------------------------------------------
def bn_params(c):
    return dict(running_mean=f32(c), running_var=tm.generator().uniform(0.5, 2, c).astype(np.float32),
                weight=f32(c), bias=f32(c))


def f64(p: dict) -> dict:
    return {k: v.astype(np.float64) for k, v in p.items()}


@pytest.mark.parametrize("cls", ["nn.SpatialBatchNormalization", "cudnn.SpatialBatchNormalization"])
def test_spatial_batch_norm_uses_running_statistics_and_eps(cls):
    p = bn_params(3)
    x = f32(2, 3, 4, 5)
    m = mod(cls, 2, eps=1e-3, affine=True, train=True, **p)  # train flag ignored: evaluate mode
    by_hand = np.empty((2, 3, 4, 5))
    x64 = x.astype(np.float64)
    for c in range(3):
        inv = 1 / math.sqrt(float(p["running_var"][c]) + 1e-3)
        by_hand[:, c] = (x64[:, c] - float(p["running_mean"][c])) * inv * float(p["weight"][c]) + float(p["bias"][c])
    assert rel_error(forward(m, x), by_hand) < 1e-12


def test_batch_norm_without_affine_and_on_a_single_sample():
    p = bn_params(4)
    m = mod("nn.BatchNormalization", 2, eps=1e-5, affine=False, running_mean=p["running_mean"],
            running_var=p["running_var"])
    x, q = f32(4), f64(p)
    expected = (x - q["running_mean"]) / np.sqrt(q["running_var"] + 1e-5)
    # nn's makeBatch adds a batch dimension to a single sample, and the output keeps it
    assert rel_error(forward(m, x), expected[None]) < 1e-12


def test_cudnn_batch_norm_refuses_a_single_sample_as_cudnn_does():
    p = bn_params(3)
    m = mod("cudnn.SpatialBatchNormalization", 2, eps=1e-5, affine=False, running_mean=p["running_mean"],
            running_var=p["running_var"])
    with pytest.raises(T7ConvertError, match="cudnn.SpatialBatchNormalization"):
        forward(m, f32(3, 2, 2))


def test_in_place_threshold_keeps_nan_as_thnn_does_and_out_of_place_maps_it():
    x = np.array([np.nan, -1.0, 2.0], np.float32)
    kept = forward(mod("nn.ReLU", threshold=0, val=0, inplace=True), x)
    mapped = forward(mod("nn.ReLU", threshold=0, val=0, inplace=False), x)
    assert np.isnan(kept[0]) and list(kept[1:]) == [0.0, 2.0]
    assert list(mapped) == [0.0, 0.0, 2.0]


@pytest.mark.parametrize("version", [None, 1])
def test_legacy_batch_norm_with_running_std_is_read_as_torch7_reads_it(version):
    """Before mid-2016 the file kept running_std = 1/sqrt(var + eps) and no running_var."""
    p = bn_params(3)
    std = (1 / np.sqrt(p["running_var"].astype(np.float64) + 1e-5)).astype(np.float32)
    legacy = mod("nn.SpatialBatchNormalization", version, eps=1e-5, affine=True, running_mean=p["running_mean"],
                 running_std=std, weight=p["weight"], bias=p["bias"])
    x = f32(1, 3, 2, 2)
    expected = ((x - p["running_mean"][:, None, None]) * std[:, None, None] * p["weight"][:, None, None]
                + p["bias"][:, None, None])
    assert rel_error(forward(legacy, x), expected) < 1e-6


def test_fbnn_batch_norm_multiplies_by_its_inverse_std_without_eps():
    p = bn_params(2)
    m = mod("fbnn.SpatialBatchNormalization", None, eps=1e-5, affine=True, running_mean=p["running_mean"],
            running_std=p["running_var"], weight=p["weight"], bias=p["bias"])
    x, q = f32(1, 2, 3, 3), f64(p)
    expected = ((x - q["running_mean"][:, None, None]) * q["running_var"][:, None, None]
                * q["weight"][:, None, None] + q["bias"][:, None, None])
    assert rel_error(forward(m, x), expected) < 1e-12


# --- activations and element-wise layers --------------------------------------------------------
def test_threshold_and_relu_values():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]], np.float32)
    assert forward(mod("nn.ReLU", threshold=0, val=0), x).tolist() == [[0, 0, 0, 0.5, 2]]
    assert forward(mod("nn.Threshold", threshold=0.5, val=-1), x).tolist() == [[-1, -1, -1, -1, 2]]
    assert forward(mod("cudnn.ReLU", inplace=True, threshold=7, val=3), x).tolist() == [[0, 0, 0, 0.5, 2]]


def test_in_place_relu_leaves_the_batch_norm_output_holding_its_result_as_in_torch7():
    p = dict(running_mean=np.zeros(2), running_var=np.ones(2), weight=np.ones(2), bias=np.zeros(2))
    model = seq(mod("nn.SpatialBatchNormalization", 2, eps=1e-5, **p), mod("cudnn.ReLU", inplace=True),
                mod("nn.MulConstant", constant_scalar=2.0))
    ex = run(model, np.linspace(-1, 1, 18, dtype=np.float32).reshape(1, 2, 3, 3))
    assert (ex.outputs["modules[1]"] < 0).sum() == 9              # as produced
    assert (ex.final["modules[1]"] >= 0).all()                    # as Torch7 leaves module.output
    assert np.array_equal(ex.final["modules[1]"], ex.outputs["modules[2]"])
    assert ex.produced_equivalent("modules[1]") == "modules[2]"
    assert ex.produced_equivalent("modules[3]") == "modules[3]"


def test_mul_constant_and_identity():
    x = f32(2, 3)
    assert rel_error(forward(mod("nn.MulConstant", constant_scalar=-0.25), x), -0.25 * x) == 0
    assert np.array_equal(forward(mod("nn.Identity"), x), x)


@pytest.mark.parametrize("fields, scale", [({"p": 0.3, "v2": True}, 1.0), ({"p": 0.3, "v2": False}, 0.7),
                                           ({"p": 0.3}, 0.7), ({"p": 0.0}, 1.0)])
def test_dropout_at_test_time_scales_only_version_1(fields, scale):
    x = f32(3, 4)
    assert rel_error(forward(mod("nn.Dropout", train=True, **fields), x), x * scale) < 1e-7


def test_stochastic_dropout_at_test_time_is_refused():
    with pytest.raises(T7ConvertError, match="random"):
        forward(mod("nn.Dropout", p=0.5, v2=True, stochastic_inference=True), f32(2, 2))


@pytest.mark.parametrize("cls, fn", [("nn.SoftMax", "soft"), ("nn.LogSoftMax", "log")])
def test_softmax_axis_follows_the_number_of_dimensions(cls, fn):
    for shape, axis in [((5,), 0), ((2, 5), 1), ((3, 2, 2), 0), ((2, 3, 2, 2), 1)]:
        x = f32(*shape).astype(np.float64)
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        soft = e / e.sum(axis=axis, keepdims=True)
        expected = soft if fn == "soft" else np.log(soft)
        assert rel_error(forward(mod(cls), x), expected) < 1e-12, shape


def test_cudnn_softmax_normalizes_each_sample_over_all_its_values():
    x = f32(2, 3, 2, 2).astype(np.float64)
    e = np.exp(x - x.max(axis=(1, 2, 3), keepdims=True))
    assert rel_error(forward(mod("cudnn.SoftMax"), x), e / e.sum(axis=(1, 2, 3), keepdims=True)) < 1e-12


# --- pooling ------------------------------------------------------------------------------------
def pool_loop(x, kind, kW, kH, dW, dH, padW, padH, Ho, Wo, include_pad=True):
    """THNN's loops: windows clipped to the image; average divisor per count_include_pad; the max starts
    from ``-THInf`` (``-FLT_MAX`` for float, THGenerateFloatType.h) and takes a value when ``val > max``."""
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo))
    for n, c, i, j in itertools.product(range(N), range(C), range(Ho), range(Wo)):
        hs, ws = i * dH - padH, j * dW - padW
        if kind == "max":
            he, we = min(hs + kH, H), min(ws + kW, W)
            best = -float(np.finfo(np.float32).max)
            for y in range(max(hs, 0), he):
                for xx in range(max(ws, 0), we):
                    if x[n, c, y, xx] > best:
                        best = x[n, c, y, xx]
            out[n, c, i, j] = best
        else:
            he, we = min(hs + kH, H + padH), min(ws + kW, W + padW)
            size = (he - hs) * (we - ws)
            h0, w0, h1, w1 = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
            s = sum(float(x[n, c, y, xx]) for y in range(h0, h1) for xx in range(w0, w1))
            out[n, c, i, j] = s / (size if include_pad else (h1 - h0) * (w1 - w0))
    return out


@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("pad", [(0, 0), (1, 0)])
def test_max_pooling_with_ceil_mode_and_padding(ceil, pad):
    x = f32(1, 2, 7, 8)
    padW, padH = pad
    m = mod("nn.SpatialMaxPooling", kW=3, kH=2, dW=2, dH=2, padW=padW, padH=padH, ceil_mode=ceil)
    Ho, Wo = thnn_size(7, 2, 2, padH, ceil, bool(padW or padH)), thnn_size(8, 3, 2, padW, ceil, bool(padW or padH))
    got = forward(m, x)
    assert got.shape == (1, 2, Ho, Wo)
    assert rel_error(got, pool_loop(x, "max", 3, 2, 2, 2, padW, padH, Ho, Wo)) == 0


@pytest.mark.parametrize("cls", ["nn.SpatialMaxPooling", "nn.SpatialDilatedMaxPooling"])
def test_max_pooling_window_past_the_input_gives_minus_flt_max_not_minus_inf(cls):
    """Ceil mode without padding: W 7, kW 2, dW 4 gives ceil(5 / 4) + 1 = 3 windows starting at 0, 4, 8
    (no padding, so THNN keeps the last); the one at 8 holds nothing and THNN leaves ``-THInf`` there,
    which for a FloatTensor is -FLT_MAX. A window of -inf only gives -FLT_MAX too (-inf > -FLT_MAX fails)."""
    x = f32(1, 1, 3, 7)
    x[0, 0, :, 4:6] = -np.inf
    m = mod(cls, kW=2, kH=1, dW=4, dH=1, padW=0, padH=0, ceil_mode=True, dilationW=1, dilationH=1)
    got = forward(m, x)
    flt_max = float(np.finfo(np.float32).max)
    assert got.shape == (1, 1, 3, 3)
    assert (got[0, 0, :, 2] == -flt_max).all() and (got[0, 0, :, 1] == -flt_max).all()
    assert (got[0, 0, :, 0] == np.maximum(x[0, 0, :, 0], x[0, 0, :, 1])).all()
    assert rel_error(got, pool_loop(x, "max", 2, 1, 4, 1, 0, 0, 3, 3)) == 0


@pytest.mark.parametrize("width, last", [(8, "nan"), (7, "-0")])
def test_average_pooling_window_past_the_input_divides_by_thnns_count(width, last):
    """SpatialAveragePooling.c, ceil mode, no padding, kW 2, dW 4: the window at 8 has
    ``hend = min(8 + 2, W)``, so ``pool_size = W - 8``: 0 for W 8 (0/0, NaN), -1 for W 7 (0/-1, -0).
    (The converted module is held to this by tests/test_inplace_and_pooling_properties.py.)"""
    x = f32(1, 1, 2, width)
    m = mod("nn.SpatialAveragePooling", kW=2, kH=1, dW=4, dH=1, padW=0, padH=0, ceil_mode=True,
            count_include_pad=True, divide=True)
    got = forward(m, x)
    assert got.shape == (1, 1, 2, 3)
    np.testing.assert_allclose(got[..., :2], (x[..., [0, 4]] + x[..., [1, 5]]) / 2, rtol=1e-6)
    if last == "nan":
        assert np.isnan(got[..., 2]).all()
    else:
        assert (got[..., 2] == 0).all() and np.signbit(got[..., 2]).all()


@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("ceil", [False, True])
def test_average_pooling_divisor_with_and_without_padding(include_pad, ceil):
    x = f32(2, 1, 6, 7)
    m = mod("nn.SpatialAveragePooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1, ceil_mode=ceil,
            count_include_pad=include_pad, divide=True)
    Ho, Wo = thnn_size(6, 3, 2, 1, ceil, True), thnn_size(7, 3, 2, 1, ceil, True)
    assert rel_error(forward(m, x), pool_loop(x, "avg", 3, 3, 2, 2, 1, 1, Ho, Wo, include_pad)) < 1e-12


def test_thnn_drops_a_ceil_window_starting_in_the_padding_and_cudnn_does_not():
    # H=5, k=2, d=2, pad=1: ceil((5-2+2)/2)+1 = 4 windows, the last starting at 5 = H + pad - 1 + 1
    assert thnn_size(5, 2, 2, 1, True, True) == 3
    assert cudnn_size(5, 2, 2, 1, True) == 4
    x = f32(1, 1, 5, 5)
    assert forward(mod("nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, padW=1, padH=1, ceil_mode=True),
                   x).shape == (1, 1, 3, 3)
    assert forward(mod("cudnn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, padW=1, padH=1, ceil_mode=True),
                   x).shape == (1, 1, 4, 4)


def test_old_average_pooling_without_divide_field_returns_window_sums():
    x = f32(1, 1, 4, 4)
    m = mod("nn.SpatialAveragePooling", None, kW=2, kH=2, dW=2, dH=2)  # no ceil_mode, no divide
    sums = x.reshape(1, 1, 2, 2, 2, 2).sum(axis=(3, 5))
    assert rel_error(forward(m, x), sums) < 1e-6


def test_cudnn_average_pooling_always_counts_the_padding():
    x = f32(1, 2, 5, 5)
    m = mod("cudnn.SpatialAveragePooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1, ceil_mode=False,
            count_include_pad=False, divide=True, mode="CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING")
    assert rel_error(forward(m, x), pool_loop(x, "avg", 3, 3, 2, 2, 1, 1, 3, 3, include_pad=True)) < 1e-12


# --- linear and shapes --------------------------------------------------------------------------
def test_linear_on_a_vector_and_on_a_batch():
    w, b = f32(3, 4), f32(3)
    m = mod("nn.Linear", weight=w, bias=b)
    x = f32(2, 4)
    expected = np.array([[sum(float(w[o, i]) * float(x[n, i]) for i in range(4)) + float(b[o]) for o in range(3)]
                         for n in range(2)])
    assert rel_error(forward(m, x), expected) < 1e-12
    assert rel_error(forward(m, x[0]), expected[0]) < 1e-12


@pytest.mark.parametrize("shape, size, num_input_dims, expected", [
    ((4, 8, 1, 1), [8], 3, (4, 8)),         # the ResNet head, a batch of 4
    ((1, 8, 1, 1), [8], 3, (1, 8)),         # a batch of one stays a batch (input has more dims than 3)
    ((8, 1, 1), [8], 3, (8,)),              # a single sample
    ((2, 3, 4), [-1], None, (24,)),         # -1 absorbs everything
    ((2, 3, 4), [-1], 2, (2, 12)),          # ... per sample with setNumInputDims
    ((6, 4), [2, 2], None, (6, 2, 2)),      # the remainder is the batch
])
def test_view_batch_rule(shape, size, num_input_dims, expected):
    m = mod("nn.View", size=np.array(size, dtype=np.int64), numInputDims=num_input_dims)
    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    got = forward(m, x)
    assert got.shape == expected
    assert np.array_equal(got.reshape(-1), x.reshape(-1))


def test_view_that_does_not_fit_fails():
    with pytest.raises(T7ConvertError, match="do not match"):
        forward(mod("nn.View", size=np.array([5])), f32(2, 3))


def test_reshape_guesses_batch_mode_like_torch7():
    m = mod("nn.Reshape", size=np.array([3, 2]), nelement=6)
    assert forward(m, f32(6)).shape == (3, 2)
    assert forward(m, f32(4, 6)).shape == (4, 3, 2)
    assert forward(m, f32(1, 6)).shape == (1, 3, 2)  # first size 1: treated as a batch
    assert forward(mod("nn.Reshape", size=np.array([3, 2]), batchMode=False), f32(6)).shape == (3, 2)


# --- containers ---------------------------------------------------------------------------------
def test_concat_joins_along_its_absolute_dimension_shortcut_a():
    """fb.resnet.torch's shortcut A: Concat(2) of the input and zeros (MulConstant(0))."""
    x = f32(2, 3, 4, 4)
    m = mod("nn.Concat", dimension=2, modules=[mod("nn.Identity"), mod("nn.MulConstant", constant_scalar=0.0)])
    got = forward(m, x)
    assert got.shape == (2, 6, 4, 4)
    assert np.array_equal(got[:, :3], x) and not got[:, 3:].any()


@pytest.mark.parametrize("dimension, n_input_dims, shape", [(2, None, (2, 6, 3)), (1, 2, (2, 6, 3)),
                                                            (-1, None, (2, 3, 6))])
def test_join_table_dimension_with_batch_offset_and_negative(dimension, n_input_dims, shape):
    x = f32(2, 3, 3)
    m = seq(mod("nn.ConcatTable", modules=[mod("nn.Identity"), mod("nn.MulConstant", constant_scalar=2.0)]),
            mod("nn.JoinTable", dimension=dimension, nInputDims=n_input_dims))
    got = forward(m, x)
    assert got.shape == shape
    axis = {(2, None): 1, (1, 2): 1, (-1, None): 2}[(dimension, n_input_dims)]
    assert np.array_equal(got, np.concatenate([x, 2 * x], axis=axis))


def test_residual_block_adds_branch_and_shortcut_and_is_recorded():
    x = f32(1, 2, 3, 3)
    block = seq(mod("nn.ConcatTable", modules=[seq(mod("nn.MulConstant", constant_scalar=3.0)), mod("nn.Identity")]),
                mod("nn.CAddTable", inplace=True), mod("nn.ReLU", threshold=0, val=0, inplace=True))
    model = seq(mod("nn.Identity"), seq(block, block))
    ex = run(model, x)
    once = np.maximum(4 * x.astype(np.float64), 0)
    assert rel_error(ex.outputs["modules[2].modules[1]"], once) < 1e-12
    assert rel_error(ex.output, np.maximum(4 * once, 0)) < 1e-12
    assert ex.order == ["modules[1]", "modules[2].modules[1]", "modules[2].modules[2]", "modules[2]"]
    assert ex.blocks == {"modules[2].modules[1]", "modules[2].modules[2]"}
    assert np.array_equal(ex.final["modules[1]"], x)  # the shortcut was not written into


def test_data_parallel_table_runs_its_first_replica():
    inner = seq(mod("nn.MulConstant", constant_scalar=2.0))
    wrapped = mod("nn.DataParallelTable", modules=[inner, seq(mod("nn.MulConstant", constant_scalar=5.0))])
    x = f32(2, 2)
    ex = run(wrapped, x)
    assert rel_error(ex.output, 2 * x) < 1e-12
    assert "modules[1]" in ex.outputs and ex.classes["modules[1]"] == "nn.MulConstant"  # paths inside the wrapper


def test_unsupported_class_names_class_path_and_what_is_supported():
    model = seq(mod("nn.Identity"), seq(mod("nn.NoSuchLayer")))
    with pytest.raises(UnsupportedModuleError) as info:
        run(model, f32(2, 2))
    message = str(info.value)
    assert "nn.NoSuchLayer" in message and "modules[2].modules[1]" in message
    assert "cudnn.SpatialConvolution" in message and "nn.View" in message
    assert isinstance(info.value, T7ConvertError)


def test_the_interpreter_covers_every_class_the_converters_cover():
    from t7convert.conversion.registry import supported_classes as converted
    assert set(converted()) <= set(supported_classes())


def test_a_model_written_to_a_t7_file_runs_after_reading_it_back(tmp_path):
    """Fields as the reader returns them: Lua numbers, LongStorage sizes, memory-mapped float32 tensors."""
    w = f32(4, 3, 3, 3)
    p = bn_params(4)
    model = seq(mod("nn.SpatialConvolution", nInputPlane=3, nOutputPlane=4, kW=3, kH=3, dW=1, dH=1, padW=1, padH=1,
                    weight=w, bias=f32(4)),
                mod("nn.SpatialBatchNormalization", 2, eps=1e-5, affine=True, **p),
                mod("nn.ReLU", threshold=0, val=0, inplace=True),
                mod("nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, padW=0, padH=0, ceil_mode=True),
                mod("nn.View", size=as_storage(np.array([-1], dtype=np.int64)), numInputDims=3),
                mod("nn.Linear", weight=f32(5, 4 * 3 * 3), bias=f32(5)), mod("nn.LogSoftMax"))
    path = tmp_path / "small.t7"
    t7convert.write(path, model)
    x = f32(2, 3, 5, 6)
    before, after = run(model, x).output, run(t7convert.read(path), x).output
    assert after.shape == (2, 5)
    assert np.array_equal(before, after)


# --- against real Torch7 ------------------------------------------------------------------------
def fixture_models(root):
    """Every model file written by Torch7 (not the .ref.t7 outputs): ResNets, ResNeXts, the formats model."""
    found = list((root / "torch7" / "models").glob("*.t7")) + list((root / "torch7" / "formats").glob("model.*.t7"))
    return sorted(p for p in found if not p.name.endswith(".ref.t7"))


@pytest.mark.slow
def test_every_fixture_model_matches_torch7_output_and_stages(torch7_fixtures):
    paths = fixture_models(torch7_fixtures)
    assert len(paths) >= 8
    for path in paths:
        ref = t7convert.read(str(path)[:-3] + ".ref.t7")
        ex = run(t7convert.read(path), ref["input"])
        assert rel_error(ex.output, ref["output"]) < RTOL, path.name
        for i, stage in enumerate(ref.get("stages") or [], 1):
            err = rel_error(ex.final[f"modules[{i}]"][0], stage)
            assert err < RTOL, (path.name, i, err)
