"""nn.SpatialDilatedConvolution, nn.SpatialDepthWiseConvolution, nn.SpatialConvolutionLocal,
nn.SpatialConvolutionMap, nn.SpatialFullConvolutionMap, nn.SpatialSubSampling.

The reference execution checked against loops written here from THNN's C code (one output value at a
time), the converter's refusals of fields that contradict each other, and, with the shared fixtures,
each class's file written by real Torch7.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import assert_catalog_file_reproduces_torch7, assert_refused_naming, with_fields
from layer_cases import spatial_conv_more as cases

import t7convert
from t7convert import api
from t7convert.interpreter import ModelError
from t7convert.interpreter import run as reference_run

M = tm.module


def converted_output(tmp_path, model, x: np.ndarray) -> np.ndarray:
    """Convert with verification (shape: x without its first dimension), then run the loaded module."""
    src = tm.save(tmp_path, "m", model)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0], force=True)
    with torch.no_grad():
        return t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x.astype(np.float32))).numpy()


def f64(a) -> np.ndarray:
    return np.asarray(a, np.float64)


def test_dilated_convolution_is_the_thnn_sum_with_w_h_fields_in_their_place(tmp_path):
    rng = np.random.default_rng(5)
    m = cases.dilated(n_in=2, n_out=3, kw=3, kh=2, dw=1, dh=2, pw=2, ph=1, dilw=2, dilh=3)
    x = rng.standard_normal((1, 2, 8, 7))
    w, b = f64(m.weight), f64(m.bias)
    xp = np.pad(x[0], ((0, 0), (1, 1), (2, 2)))
    oh, ow = (8 + 2 - 3 * 1 - 1) // 2 + 1, (7 + 4 - 2 * 2 - 1) // 1 + 1
    want = np.zeros((3, oh, ow))
    for o, y, z in np.ndindex(3, oh, ow):
        want[o, y, z] = b[o] + sum(w[o, c, i, j] * xp[c, y * 2 + i * 3, z + j * 2]
                                   for c in range(2) for i in range(2) for j in range(3))
    np.testing.assert_allclose(reference_run(m, x).output[0], want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(converted_output(tmp_path, m, x)[0], want, rtol=1e-5, atol=1e-5)


def _depthwise_loop(m, plane_rows: np.ndarray) -> np.ndarray:
    """Output plane i*mult + j from input plane i (as THNN unfolds it) through weight[j, i], bias[j, i]."""
    w, b = f64(m.weight), f64(m.bias)
    mult, n_in, kh, kw = w.shape
    ph, pw, dh, dw = m.padH, m.padW, m.dH, m.dW
    xp = np.pad(plane_rows, ((0, 0), (ph, ph), (pw, pw)))
    oh, ow = (xp.shape[1] - kh) // dh + 1, (xp.shape[2] - kw) // dw + 1
    out = np.zeros((n_in * mult, oh, ow))
    for i, j, y, z in np.ndindex(n_in, mult, oh, ow):
        out[i * mult + j, y, z] = b[j, i] + (w[j, i] * xp[i, y * dh:y * dh + kh, z * dw:z * dw + kw]).sum()
    return out


def test_depthwise_output_plane_i_times_m_plus_j_comes_from_input_plane_i(tmp_path):
    rng = np.random.default_rng(5)
    m = cases.depthwise(n_in=3, mult=2, kw=3, kh=2, dw=2, dh=1, pw=1, ph=0)
    x = rng.standard_normal((1, 3, 6, 6))
    want = _depthwise_loop(m, x[0])
    np.testing.assert_allclose(reference_run(m, x).output[0], want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(converted_output(tmp_path, m, x)[0], want, rtol=1e-5, atol=1e-5)


def test_depthwise_reads_a_non_square_plane_as_w_rows_of_h_values_as_thnn_does(tmp_path):
    """THNN takes inputHeight from size[3] and inputWidth from size[2]: a 5 x 7 plane is unfolded as
    7 rows of 5 values (the same memory), so the output is 2*7-ish rows by 5-ish columns."""
    rng = np.random.default_rng(5)
    m = cases.depthwise(n_in=2, mult=2, kw=3, kh=2, dw=1, dh=1, pw=0, ph=1)
    x = rng.standard_normal((1, 2, 5, 7))
    want = _depthwise_loop(m, x[0].reshape(2, 7, 5))
    got = reference_run(m, x).output[0]
    assert got.shape == want.shape == (4, 8, 3)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(converted_output(tmp_path, m, x)[0], want, rtol=1e-5, atol=1e-5)


def test_locally_connected_weights_differ_at_every_output_position(tmp_path):
    rng = np.random.default_rng(5)
    m = cases.local(n_in=2, n_out=3, iw=5, ih=4, kw=3, kh=2, dw=2, dh=1, pw=1, ph=0)
    x = rng.standard_normal((2, 2, 4, 5))
    w, b = f64(m.weight), f64(m.bias)
    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1)))
    oh, ow = w.shape[:2]
    want = np.zeros((2, 3, oh, ow))
    for n, o, y, z in np.ndindex(2, 3, oh, ow):
        want[n, o, y, z] = b[o, y, z] + (w[y, z, o] * xp[n, :, y:y + 2, z * 2:z * 2 + 3]).sum()
    np.testing.assert_allclose(reference_run(m, x).output, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(converted_output(tmp_path, m, x), want, rtol=1e-5, atol=1e-5)


def test_local_convolution_refuses_another_input_size_as_its_check_input_size_does(tmp_path):
    m = cases.local(iw=5, ih=4)
    with pytest.raises(ModelError, match="inconsistent"):
        reference_run(m, np.zeros((1, 2, 4, 6)))
    src = tm.save(tmp_path, "m", m)
    with pytest.raises(t7convert.T7ConvertError, match="does not match"), torch.no_grad():
        t7convert.load(str(src))(torch.zeros(1, 2, 4, 6))


@pytest.mark.parametrize("full", [False, True], ids=["map", "full-map"])
def test_connection_table_rows_add_one_kernel_from_their_input_into_their_output(tmp_path, full):
    rng = np.random.default_rng(5)
    table = cases.RANDOM_TABLE
    m = cases.conv_map(table, kw=3, kh=2, dw=2, dh=1, full=full)
    x = rng.standard_normal((3, 5, 6))
    w, b = f64(m.weight), f64(m.bias)
    if full:   # fullConv2Dptr: out[y*dH + ky, x*dW + kx] += in[y, x] * k[ky, kx]
        want = np.zeros((3, (5 - 1) * 1 + 2, (6 - 1) * 2 + 3)) + b[:, None, None]
        for (i, o), k in zip(table.astype(int) - 1, w):
            for y, z, ky, kx in np.ndindex(5, 6, 2, 3):
                want[o, y + ky, z * 2 + kx] += x[i, y, z] * k[ky, kx]
    else:      # validXCorr2Dptr
        oh, ow = (5 - 2) // 1 + 1, (6 - 3) // 2 + 1
        want = np.zeros((3, oh, ow)) + b[:, None, None]
        for (i, o), k in zip(table.astype(int) - 1, w):
            for y, z in np.ndindex(oh, ow):
                want[o, y, z] += (x[i, y:y + 2, z * 2:z * 2 + 3] * k).sum()
    np.testing.assert_allclose(reference_run(m, x).output, want, rtol=1e-12, atol=1e-12)
    src = tm.save(tmp_path, "m", m)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0], force=True)
    with torch.no_grad():
        got = t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_full_convolution_map_takes_only_one_image_as_thnn_does():
    with pytest.raises(ModelError, match="3D"):
        reference_run(cases.conv_map(cases.table_full(2, 3), full=True), np.zeros((1, 2, 4, 4)))


def test_subsampling_is_a_weighted_window_sum_per_plane(tmp_path):
    rng = np.random.default_rng(5)
    m = cases.subsampling(n=2, kw=3, kh=2, dw=2, dh=1)
    x = rng.standard_normal((1, 2, 5, 7))
    w, b = f64(m.weight), f64(m.bias)
    want = np.zeros((2, 4, 3))
    for c, y, z in np.ndindex(2, 4, 3):
        want[c, y, z] = w[c] * x[0, c, y:y + 2, z * 2:z * 2 + 3].sum() + b[c]
    np.testing.assert_allclose(reference_run(m, x).output[0], want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(converted_output(tmp_path, m, x)[0], want, rtol=1e-5, atol=1e-5)


# --- fields that contradict each other ------------------------------------------------------------


BAD = [
    ("dilated-weight", lambda: with_fields(cases.dilated(), kH=3), "nn.SpatialDilatedConvolution", "weight"),
    ("dilated-negative-pad", lambda: with_fields(cases.dilated(), padW=-1), "nn.SpatialDilatedConvolution", "padW"),
    ("dilated-zero-dilation", lambda: with_fields(cases.dilated(), dilationH=0), "nn.SpatialDilatedConvolution",
     "dilationH"),
    ("depthwise-bias", lambda: with_fields(cases.depthwise(), bias=tm.f32(3)), "nn.SpatialDepthWiseConvolution", "bias"),
    ("local-oH", lambda: with_fields(cases.local(), oH=9), "nn.SpatialConvolutionLocal", "oH"),
    ("local-weight", lambda: with_fields(cases.local(), nOutputPlane=4), "nn.SpatialConvolutionLocal", "weight"),
    ("map-table-beyond-planes", lambda: with_fields(cases.conv_map(cases.table_full(3, 4)), nInputPlane=2),
     "nn.SpatialConvolutionMap", "connTable"),
    ("map-weight", lambda: with_fields(cases.conv_map(cases.table_full(3, 4)), weight=tm.f32(11, 2, 3)),
     "nn.SpatialConvolutionMap", "weight"),
    ("subsampling-zero-stride", lambda: with_fields(cases.subsampling(), dW=0), "nn.SpatialSubSampling", "dW"),
]


@pytest.mark.parametrize("build,cls,field", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_contradicting_fields_are_refused_naming_class_field_and_path(tmp_path, build, cls, field):
    assert_refused_naming(tmp_path, build(), cls, field, (3, 8, 8))


# --- files written by real Torch7 ----------------------------------------------------------------
FIXTURE_IDS = ["spatialdilatedconvolution", "spatialdepthwiseconvolution", "spatialconvolutionlocal",
               "spatialconvolutionmap", "spatialfullconvolutionmap", "spatialsubsampling"]


@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_catalog_file_reproduces_torch7s_output(torch7_fixtures, tmp_path, name):
    assert_catalog_file_reproduces_torch7(torch7_fixtures, tmp_path, name)
