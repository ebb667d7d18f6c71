"""nn.TemporalConvolution, nn.TemporalSubSampling, nn.TemporalRowConvolution: the reference against
loops written from THNN's C code (frame-major weights, featFirst), refusals, and real Torch7's files."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import assert_catalog_file_reproduces_torch7, assert_refused_naming, with_fields
from layer_cases import temporal_conv as cases

import t7convert
from t7convert import api
from t7convert.interpreter import ModelError
from t7convert.interpreter import run as reference_run

M = tm.module


def converted_output(tmp_path, model, x: np.ndarray) -> np.ndarray:
    src = tm.save(tmp_path, "m", model)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0], force=True)
    with torch.no_grad():
        return t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x.astype(np.float32))).numpy()


def test_temporal_convolution_weight_is_frame_major(tmp_path):
    rng = np.random.default_rng(13)
    m = cases.temporal(n_in=3, n_out=2, kw=3, dw=2)
    x = rng.standard_normal((8, 3))                      # (T, F): one sequence
    w, b = np.asarray(m.weight, np.float64), np.asarray(m.bias, np.float64)
    count = (8 - 3) // 2 + 1
    want = np.array([[b[o] + sum(w[o, k * 3 + i] * x[t * 2 + k, i] for k in range(3) for i in range(3))
                      for o in range(2)] for t in range(count)])
    np.testing.assert_allclose(reference_run(m, x).output, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(converted_output(tmp_path, m, x), want, rtol=1e-5, atol=1e-5)
    batch = np.stack([x, x[::-1]])
    assert reference_run(m, batch).output.shape == (2, count, 2)


def test_temporal_subsampling_sums_windows_per_feature_and_takes_only_2d_input(tmp_path):
    rng = np.random.default_rng(13)
    m = M("nn.TemporalSubSampling", inputFrameSize=3, kW=3, dW=2, weight=tm.f32(3), bias=tm.f32(3))
    x = rng.standard_normal((7, 3))
    w, b = np.asarray(m.weight, np.float64), np.asarray(m.bias, np.float64)
    want = np.array([w * x[t * 2:t * 2 + 3].sum(0) + b for t in range(3)])
    np.testing.assert_allclose(reference_run(m, x).output, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(converted_output(tmp_path, m, x), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ModelError, match="2D"):
        reference_run(m, np.zeros((2, 7, 3)))


@pytest.mark.parametrize("feat_first", [False, True], ids=["time-first", "feat-first"])
def test_row_convolution_convolves_each_feature_with_its_own_kernel(tmp_path, feat_first):
    rng = np.random.default_rng(13)
    m = cases.row(n=3, kw=3, dw=2, feat_first=feat_first)
    rows = rng.standard_normal((2, 3, 9))                # N, F, T
    w, b = np.asarray(m.weight, np.float64), np.asarray(m.bias, np.float64)
    count = (9 - 3) // 2 + 1
    want = np.array([[[b[f] + (w[f, 0] * rows[n, f, t * 2:t * 2 + 3]).sum() for t in range(count)]
                      for f in range(3)] for n in range(2)])
    x = rows if feat_first else rows.swapaxes(1, 2)
    want = want if feat_first else want.swapaxes(1, 2)
    np.testing.assert_allclose(reference_run(m, x).output, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(converted_output(tmp_path, m, x), want, rtol=1e-5, atol=1e-5)




BAD = [
    ("temporal-weight", lambda: with_fields(cases.temporal(), kW=4), "nn.TemporalConvolution", "weight"),
    ("temporal-zero-stride", lambda: with_fields(cases.temporal(), dW=0), "nn.TemporalConvolution", "dW"),
    ("temporal-no-bias", lambda: M("nn.TemporalConvolution", **{k: v for k, v in cases.temporal().fields.items()
                                                                 if k != "bias"}), "nn.TemporalConvolution", "bias"),
    ("row-weight", lambda: with_fields(cases.row(), weight=tm.f32(5, 2, 3)), "nn.TemporalRowConvolution", "weight"),
    ("row-negative-kernel", lambda: with_fields(cases.row(), kW=-3), "nn.TemporalRowConvolution", "kW"),
]


@pytest.mark.parametrize("build,cls,field", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_contradicting_fields_are_refused_naming_class_field_and_path(tmp_path, build, cls, field):
    assert_refused_naming(tmp_path, build(), cls, field, (9, 5))


FIXTURE_IDS = ["temporalconvolution", "temporalsubsampling", "temporalrowconvolution"]


@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_catalog_file_reproduces_torch7s_output(torch7_fixtures, tmp_path, name):
    assert_catalog_file_reproduces_torch7(torch7_fixtures, tmp_path, name)
