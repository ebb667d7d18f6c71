"""nn/cudnn.SpatialFullConvolution and nn/cudnn.VolumetricFullConvolution: the reference against a
scatter loop written from THNN's col2im, adj and the table input {x, target}, groups, the legacy
volumetric layout, refusals, and the files written by real Torch7."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import assert_catalog_file_reproduces_torch7, assert_refused_naming, with_fields
from layer_cases import full_conv as cases

import t7convert
from t7convert import api
from t7convert.interpreter import run as reference_run

M = tm.module


def scatter(x: np.ndarray, w: np.ndarray, b, stride, pad, adj) -> np.ndarray:
    """One image (C, *S), weight (C, O, *K): x[c, i] * w[c, o, k] lands at i*stride - pad + k."""
    sizes, kernel = x.shape[1:], w.shape[2:]
    out_sizes = [(s - 1) * d - 2 * p + k + a for s, d, p, k, a in zip(sizes, stride, pad, kernel, adj)]
    out = np.zeros((w.shape[1], *out_sizes)) + (0 if b is None else np.reshape(b, (-1,) + (1,) * len(sizes)))
    for c in range(x.shape[0]):
        for i in np.ndindex(*sizes):
            for k in np.ndindex(*kernel):
                pos = [ii * d - p + kk for ii, d, p, kk in zip(i, stride, pad, k)]
                if all(0 <= q < n for q, n in zip(pos, out_sizes)):
                    out[(slice(None), *pos)] += x[(c, *i)] * w[(c, slice(None), *k)]
    return out


def converted(tmp_path, model, x: np.ndarray):
    src = tm.save(tmp_path, "m", model)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0], force=True)
    return t7convert.load(str(tmp_path / "m.pth"))


def test_spatial_full_convolution_scatters_with_h_w_in_torch7s_order_and_adj_extends_the_output(tmp_path):
    rng = np.random.default_rng(11)
    m = cases.full2d(n_in=2, n_out=3, kw=3, kh=4, dw=2, dh=3, pw=1, ph=2, adjw=1, adjh=2)
    x = rng.standard_normal((1, 2, 3, 4))
    want = scatter(x[0], np.asarray(m.weight, np.float64), m.bias, (3, 2), (2, 1), (2, 1))
    assert want.shape == (3, (3 - 1) * 3 - 4 + 4 + 2, (4 - 1) * 2 - 2 + 3 + 1)
    np.testing.assert_allclose(reference_run(m, x).output[0], want, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        got = converted(tmp_path, m, x)(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


def test_volumetric_full_convolution_scatters_over_t_h_w(tmp_path):
    rng = np.random.default_rng(11)
    m = cases.full3d(n_in=2, n_out=2, k=(2, 3, 2), d=(2, 1, 2), pad=(1, 0, 1), adj=(1, 0, 1))
    x = rng.standard_normal((1, 2, 2, 3, 2))
    want = scatter(x[0], np.asarray(m.weight, np.float64), m.bias, (2, 2, 1), (1, 1, 0), (1, 1, 0))
    np.testing.assert_allclose(reference_run(m, x).output[0], want, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        got = converted(tmp_path, m, x)(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


def test_legacy_volumetric_file_holds_the_weight_output_planes_first():
    rng = np.random.default_rng(11)
    m = cases.full3d(legacy=True, n_in=2, n_out=3)
    x = rng.standard_normal((2, 2, 3, 2))
    w = np.asarray(m.weight, np.float64).swapaxes(0, 1)   # backCompatibility's transpose(1, 2)
    want = scatter(x, w, m.bias, (2, 2, 1), (1, 1, 0), (0, 0, 0))
    np.testing.assert_allclose(reference_run(m, x).output, want, rtol=1e-12, atol=1e-12)


def test_cudnn_groups_split_the_planes_in_order():
    rng = np.random.default_rng(11)
    m = cases.full2d(4, 6, groups=2, cls="cudnn.SpatialFullConvolution")
    x = rng.standard_normal((4, 3, 3))
    w = np.asarray(m.weight, np.float64)
    want = np.concatenate([scatter(x[g * 2:(g + 1) * 2], w[g * 2:(g + 1) * 2], None, (3, 2), (2, 1), (2, 1))
                           for g in range(2)]) + np.asarray(m.bias, np.float64).reshape(-1, 1, 1)
    np.testing.assert_allclose(reference_run(m, x).output, want, rtol=1e-12, atol=1e-12)


def test_a_table_input_takes_adj_from_the_target_size(tmp_path):
    """{x, target}: adj = (target + 2*pad - k) % stride on each axis, whatever adjW/adjH say. The target
    here is another full convolution's 6 x 8 output (adj 1, 1) of the same 3 x 4 input."""
    rng = np.random.default_rng(11)
    m = cases.full2d(n_in=2, n_out=3, kw=3, kh=3, dw=2, dh=2, pw=1, ph=1, adjw=0, adjh=0)
    target = cases.full2d(n_in=2, n_out=1, kw=3, kh=3, dw=2, dh=2, pw=1, ph=1, adjw=1, adjh=1)
    model = tm.sequential(M("nn.ConcatTable", modules=[M("nn.Identity"), target]), m)
    x = rng.standard_normal((1, 2, 3, 4))
    want = scatter(x[0], np.asarray(m.weight, np.float64), m.bias, (2, 2), (1, 1), (1, 1))
    assert want.shape == (3, 6, 8)
    np.testing.assert_allclose(reference_run(model, x).output[0], want, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        got = converted(tmp_path, model, x)(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)




BAD = [
    ("weight-layout", lambda: with_fields(cases.full2d(), weight=tm.f32(4, 3, 4, 3)), "nn.SpatialFullConvolution", "weight"),
    ("adj-not-below-stride", lambda: with_fields(cases.full2d(), adjW=2), "nn.SpatialFullConvolution", "adjW"),
    ("negative-pad", lambda: with_fields(cases.full2d(), padH=-1), "nn.SpatialFullConvolution", "padH"),
    ("volumetric-weight", lambda: with_fields(cases.full3d(), kT=3), "nn.VolumetricFullConvolution", "weight"),
    ("groups", lambda: with_fields(cases.full2d(cls="cudnn.SpatialFullConvolution"), groups=5),
     "cudnn.SpatialFullConvolution", "groups"),
]


@pytest.mark.parametrize("build,cls,field", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_contradicting_fields_are_refused_naming_class_field_and_path(tmp_path, build, cls, field):
    assert_refused_naming(tmp_path, build(), cls, field, (3, 4, 4))


FIXTURE_IDS = ["spatialfullconvolution_adj", "cudnn_spatialfullconvolution", "volumetricfullconvolution"]


@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_catalog_file_reproduces_torch7s_output(torch7_fixtures, tmp_path, name):
    assert_catalog_file_reproduces_torch7(torch7_fixtures, tmp_path, name)
