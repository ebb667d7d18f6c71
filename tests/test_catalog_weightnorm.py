"""WeightNorm, LinearWeightNorm, PartialLinear: the folded weights against the Lua formulas, refusals,
and the catalog files written by real Torch7."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from layer_cases import weightnorm as cases

import t7convert
from t7convert import api
from t7convert.common.errors import T7ConvertError
from t7convert.interpreter import run as reference_run


def close(a, b, tol=1e-5) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) <= tol


def both(tmp_path, model, x):
    src = tm.save(tmp_path, "m", model)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0], force=True)
    with torch.no_grad():
        got = t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x.astype(np.float32))).numpy()
    return got, reference_run(t7convert.read(src), x).output


@pytest.mark.parametrize("out_dim", [1, 2])
def test_weight_norm_scales_each_output_slice_by_g_over_its_norm(tmp_path, out_dim):
    rng = np.random.default_rng(3)
    model = cases.weight_norm(tm.linear(5, 4), out_dim)
    v, g = model.get("v").astype(np.float64), model.get("g").astype(np.float64).reshape(-1)
    w = v * (g / np.sqrt((v ** 2).sum(1) + 1e-4))[:, None]
    w = w if out_dim == 1 else w.T  # (out, in) either way
    x = rng.standard_normal((3, 5))
    want = x @ w.T + model.get("bias")
    got, ref = both(tmp_path, model, x)
    assert close(ref, want, 1e-12) and close(got, want)


def test_linear_weight_norm_recomputes_the_weight_unless_already_evaluating(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5))
    for train in (False, True):
        model = cases.linear_weight_norm(5, 3, train=train)
        v, g = model.get("v").astype(np.float64), model.get("g").astype(np.float64)
        w = model.get("weight") if not train else v * g / np.linalg.norm(v, axis=1, keepdims=True)
        got, ref = both(tmp_path, model, x)
        assert close(ref, x @ np.asarray(w, np.float64).T + model.get("bias"), 1e-6) and close(got, ref)


def test_partial_linear_keeps_its_partitions_columns(tmp_path):
    rng = np.random.default_rng(3)
    model = cases.partial_linear(5, 4, [4, 2])
    table = model.get("network").children[0].children[1].get("weight")
    x = rng.standard_normal((3, 5))
    got, ref = both(tmp_path, model, x)
    want = x @ table[[3, 1]].T.astype(np.float64) + model.get("bias")[0, [3, 1]]
    assert close(ref, want, 1e-12) and close(got, want)


@pytest.mark.parametrize("make, match", [
    (lambda: tm.module("nn.WeightNorm", **{**cases.weight_norm(tm.linear(4, 3)).fields, "v": tm.f32(3, 5)}), "v"),
    (lambda: cases.partial_linear(4, 3, [0, 2]), "partition"),
    (lambda: tm.module("nn.LinearWeightNorm", v=tm.f32(3, 4), g=tm.f32(2, 1), bias=tm.f32(3), train=True), "g"),
])
def test_bad_fields_are_refused_naming_class_field_and_place(tmp_path, make, match):
    model = make()
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 4), model))
    with pytest.raises(T7ConvertError, match=rf"{model.class_name.split('.')[1]} at modules\[2\].*{match}"):
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(4,))
    assert not (tmp_path / "m.pth").exists()


@pytest.mark.parametrize("fixture_id", ["weightnorm_linear", "linearweightnorm", "partiallinear"])
def test_reproduces_real_torch7(torch7_fixtures, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x = np.array(ref["input"], np.float32)
    with torch.no_grad():
        assert close(t7convert.load(str(folder / f"{fixture_id}.t7"))(torch.from_numpy(x)).numpy(), ref["output"])
    assert close(reference_run(t7convert.read(folder / f"{fixture_id}.t7"), x).output, ref["output"])
