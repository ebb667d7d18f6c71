"""PReLU, RReLU, CReLU, GatedLinearUnit, Mul/CMul/Add/CAdd, Constant, spatial softmaxes, Maxout: the
reference agrees with the formula written out here, bad fields are refused by name, and the converted
model reproduces what real Torch7 computed on the shared fixtures."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import rel
from click.testing import CliRunner

import t7convert
from t7convert import T7ConvertError, api
from t7convert.cli import cli
from t7convert.interpreter import run as reference_run

M = tm.module



def _both(tmp_path, model, x, input_shape=None):
    """(reference output, converted output) of ``model`` on ``x``, converted with verification."""
    src = tm.save(tmp_path, "m", model)
    out = tmp_path / "m.pth"
    report = api.convert(str(src), str(out), input_shape=input_shape or x.shape[1:], batch=x.shape[0], force=True)
    assert report.verification.ok, report.verification.summary()
    with torch.no_grad():
        converted = t7convert.load(str(out))(torch.from_numpy(x)).numpy()
    return reference_run(t7convert.read(src), x).output, converted


def test_prelu_slopes_follow_the_second_dimension_even_of_3d_input(tmp_path):
    """THNN PReLU.c reads the planes at size[1] for every input of 2+ dimensions (not only a batch)."""
    w = np.array([0.1, 0.5, 2.0, -1.0], np.float32)
    x = tm.f32(3, 4, 5)
    want = np.where(x > 0, x, x * w.reshape(1, 4, 1))
    for got in _both(tmp_path, M("nn.PReLU", nOutputPlane=4, weight=w), x):
        assert rel(got, want) <= 1e-6


def test_rrelu_evaluates_with_the_mean_slope(tmp_path):
    x = tm.f32(2, 7)
    want = np.where(x <= 0, x * (0.2 + 0.4) / 2, x)
    for got in _both(tmp_path, M("nn.RReLU", lower=0.2, upper=0.4), x):
        assert rel(got, want) <= 1e-6


def test_crelu_doubles_the_planes_of_an_unbatched_image(tmp_path):
    from layer_cases.activations_more import _crelu
    x = tm.f32(1, 2, 3, 3)  # a batch of one for the conversion; nInputDims 3 makes 3-D input unbatched
    want = np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], 1)
    for got in _both(tmp_path, _crelu(3), x):
        assert rel(got, want) <= 1e-6
    unbatched = reference_run(_crelu(3), x[0]).output
    assert unbatched.shape == (4, 3, 3) and rel(unbatched, want[0]) <= 1e-12


def test_cmul_and_cadd_broadcast_as_expand_as(tmp_path):
    w = tm.f32(1, 3, 1, 1)
    x = tm.f32(2, 3, 4, 4)
    for got in _both(tmp_path, M("nn.CMul", weight=w, size=np.array([1, 3, 1, 1])), x):
        assert rel(got, x * w) <= 1e-6
    for got in _both(tmp_path, M("nn.CAdd", bias=w), x):
        assert rel(got, x + w) <= 1e-6


def test_constant_repeats_its_value_over_the_batch(tmp_path):
    v = tm.f32(3)
    for got in _both(tmp_path, M("nn.Constant", value=v, nInputDim=1), tm.f32(4, 5)):
        assert rel(got, np.tile(v, (4, 1))) <= 0
    assert rel(reference_run(M("nn.Constant", value=v, nInputDim=1), tm.f32(5)).output, v) == 0


def test_glu_halves_the_chosen_dimension(tmp_path):
    x = tm.f32(2, 4, 3)
    want = x[:, :2] / (1 + np.exp(-x[:, 2:]))
    for got in _both(tmp_path, M("nn.GatedLinearUnit", dim=2), x):
        assert rel(got, want) <= 1e-6


def test_cudnn_spatial_softmax_modes(tmp_path):
    x = tm.f32(2, 3, 2, 2)
    e = np.exp(x - x.max())
    channel, instance = e / e.sum(1, keepdims=True), e / e.sum((1, 2, 3), keepdims=True)
    for got in _both(tmp_path, M("cudnn.SpatialSoftMax"), x):
        assert rel(got, channel) <= 1e-5
    for got in _both(tmp_path, M("cudnn.SpatialSoftMax", mode="CUDNN_SOFTMAX_MODE_INSTANCE"), x):
        assert rel(got, instance) <= 1e-5
    for got in _both(tmp_path, M("cudnn.SpatialLogSoftMax"), x):
        assert rel(got, np.log(channel)) <= 1e-5


@pytest.mark.parametrize("layer,field", tm.drawn(1, lambda: [
    (M("nn.PReLU", nOutputPlane=3, weight=tm.f32(4)), "weight"),
    (M("nn.PReLU", nOutputPlane=-1, weight=tm.f32(1)), "nOutputPlane"),
    (M("nn.CMul", weight=tm.f32(3), size=np.array([4])), "weight"),
    (M("nn.CReLU", nInputDims=-2), "nInputDims"),
    (M("nn.RReLU", lower=0.5, upper=0.1), "lower"),
    (M("cudnn.SpatialSoftMax", mode="CUDNN_SOFTMAX_MODE_BOGUS"), "mode"),
]), ids=["prelu-weight", "prelu-planes", "cmul-size", "crelu-dims", "rrelu-range", "cudnn-mode"])
def test_bad_fields_are_refused_with_class_field_and_path(tmp_path, layer, field):
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 4), layer))
    with pytest.raises(T7ConvertError, match=rf"{layer.class_name}.*{field}|{field}.*{layer.class_name}") as e:
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(4,))
    assert "modules[2]" in str(e.value)
    assert CliRunner().invoke(cli, ["convert", str(src), "-o", str(tmp_path / "c.pth")]).exit_code == 2
    assert not (tmp_path / "c.pth").exists()


# --- files written by real Torch7 ----------------------------------------------------------------
FIXTURE_IDS = ["cmul", "mul", "cadd", "add", "constant", "maxout", "prelu_shared", "prelu_channels", "crelu",
               "spatialsoftmax", "spatiallogsoftmax", "rrelu_eval", "gatedlinearunit", "cudnn_spatialsoftmax"]


@pytest.mark.parametrize("fixture_id", FIXTURE_IDS)
def test_reproduces_real_torch7(torch7_fixtures, tmp_path, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x, want = np.array(ref["input"], np.float32), np.array(ref["output"])
    api.convert(str(folder / f"{fixture_id}.t7"), str(tmp_path / "m.pth"))
    with torch.no_grad():
        got = t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x)).numpy()
    assert rel(got, want) <= 1e-5
    assert rel(reference_run(t7convert.read(folder / f"{fixture_id}.t7"), x).output, want) <= 1e-5
