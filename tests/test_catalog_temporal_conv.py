"""nn.TemporalConvolution, nn.TemporalSubSampling, nn.TemporalRowConvolution: the reference against
loops written from THNN's C code (frame-major weights, featFirst), refusals, and real Torch7's files."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from click.testing import CliRunner
from layer_cases import temporal_conv as cases

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.interpreter import ModelError
from t7convert.interpreter import run as reference_run

M = tm.module
rng = np.random.default_rng(13)


def converted_output(tmp_path, model, x: np.ndarray) -> np.ndarray:
    src = tm.save(tmp_path, "m", model)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0], force=True)
    with torch.no_grad():
        return t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x.astype(np.float32))).numpy()


def test_temporal_convolution_weight_is_frame_major(tmp_path):
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


def _with(m, **fields):
    return M(m.class_name, **{**m.fields, **fields})


BAD = [
    ("temporal-weight", lambda: _with(cases.temporal(), kW=4), "nn.TemporalConvolution", "weight"),
    ("temporal-zero-stride", lambda: _with(cases.temporal(), dW=0), "nn.TemporalConvolution", "dW"),
    ("temporal-no-bias", lambda: M("nn.TemporalConvolution", **{k: v for k, v in cases.temporal().fields.items()
                                                                 if k != "bias"}), "nn.TemporalConvolution", "bias"),
    ("row-weight", lambda: _with(cases.row(), weight=tm.f32(5, 2, 3)), "nn.TemporalRowConvolution", "weight"),
    ("row-negative-kernel", lambda: _with(cases.row(), kW=-3), "nn.TemporalRowConvolution", "kW"),
]


@pytest.mark.parametrize("build,cls,field", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_contradicting_fields_are_refused_naming_class_field_and_path(tmp_path, build, cls, field):
    src = tm.save(tmp_path, "bad", tm.sequential(build()))
    with pytest.raises(t7convert.T7ConvertError) as e:
        api.convert(str(src), str(tmp_path / "bad.pth"), input_shape=(9, 5))
    assert cls in str(e.value) and field in str(e.value) and "modules[1]" in str(e.value)
    result = CliRunner().invoke(cli, ["convert", str(src), "-o", str(tmp_path / "cli.pth")])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "cli.pth").exists() and not (tmp_path / "bad.pth").exists()


FIXTURE_IDS = ["temporalconvolution", "temporalsubsampling", "temporalrowconvolution"]


@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_catalog_file_reproduces_torch7s_output(torch7_fixtures, tmp_path, name):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{name}.ref.t7")
    x, want = np.asarray(ref["input"]), np.asarray(ref["output"], np.float64)
    out = tmp_path / f"{name}.pth"
    api.convert(str(folder / f"{name}.t7"), str(out), input_shape=x.shape[1:], batch=x.shape[0])
    with torch.no_grad():
        got = t7convert.load(str(out))(torch.from_numpy(x)).numpy()
    scale = np.abs(want).max()
    assert got.shape == want.shape
    assert np.abs(got - want).max() / scale <= 1e-5
    reference = reference_run(t7convert.read(folder / f"{name}.t7"), x.astype(np.float64)).output
    assert np.abs(reference - want).max() / scale <= 1e-5
