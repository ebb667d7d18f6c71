"""Euclidean, WeightedEuclidean, Cosine and the table-input CosineDistance, PairwiseDistance, DotProduct,
MM, MV, Bilinear: the reference execution against NumPy formulas written from the Lua code, the converted
modules on Python lists, refusals, and the catalog files written by real Torch7."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from layer_cases import distance as cases

import t7convert
from t7convert import api
from t7convert.common.errors import T7ConvertError
from t7convert.interpreter import ModelError
from t7convert.interpreter.engine import Engine

M = tm.module


def reference(model, x):
    """The reference execution of one module on a tensor or a table (a list)."""
    return Engine(record=False, record_depth=0, paths=()).forward(model, x, "")


def converted(tmp_path, model, x):
    src = tm.save(tmp_path, "m", model)
    module = t7convert.load(str(src))
    xs = [torch.from_numpy(np.asarray(v, np.float32)) for v in x] if isinstance(x, list) else \
        torch.from_numpy(np.asarray(x, np.float32))
    with torch.no_grad():
        return module(xs).double().numpy()


def close(a, b, tol=1e-5) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) <= tol


def test_euclidean_distances_use_weight_columns_and_diag_cov(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 5))
    for weighted in (False, True):
        model = cases.euclidean(5, 4, weighted)
        w = model.get("weight").astype(np.float64)
        cov = model.get("diagCov").astype(np.float64) if weighted else np.ones_like(w)
        want = np.sqrt((((x[:, :, None] - w[None]) * cov) ** 2).sum(1))
        assert close(reference(model, x), want, 1e-12) and close(converted(tmp_path, model, x), want)
        assert close(reference(model, x[0]), want[0], 1e-12) and close(converted(tmp_path, model, x[0]), want[0])


def test_cosine_adds_1e_12_to_both_norms(tmp_path):
    rng = np.random.default_rng(11)
    model = M("nn.Cosine", weight=tm.f32(3, 4))
    w = model.get("weight").astype(np.float64)
    x = rng.standard_normal((2, 4))
    want = x @ w.T / (np.linalg.norm(w, axis=1) + 1e-12) / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    assert close(reference(model, x), want, 1e-12) and close(converted(tmp_path, model, x), want)


def test_vector_pairs_give_one_element(tmp_path):
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    for model, want in [(M("nn.CosineDistance"), a @ b / np.sqrt((a @ a + 1e-12) * (b @ b + 1e-12))),
                        (M("nn.PairwiseDistance", norm=3), np.sum(np.abs(a - b) ** 3) ** (1 / 3)),
                        (M("nn.DotProduct"), a @ b)]:
        assert close(reference(model, [a, b]), [want], 1e-12)
        assert close(converted(tmp_path, model, [a, b]), [want])


def test_mm_and_mv_transpose_then_multiply(tmp_path):
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5, 4))
    model = M("nn.MM", transA=True, transB=True)
    want = np.swapaxes(a, 1, 2) @ np.swapaxes(b, 1, 2)
    assert close(reference(model, [a, b]), want, 1e-12) and close(converted(tmp_path, model, [a, b]), want)
    mat, v = rng.standard_normal((4, 3)), rng.standard_normal(4)
    model = M("nn.MV", trans=True)
    assert close(reference(model, [mat, v]), mat.T @ v, 1e-12) and close(converted(tmp_path, model, [mat, v]), mat.T @ v)
    with pytest.raises(ModelError, match="MV"):
        reference(model, [mat, rng.standard_normal(3)])


def test_bilinear_is_a_w_k_b_plus_bias(tmp_path):
    rng = np.random.default_rng(11)
    model = cases.bilinear(4, 3, 2)
    w, bias = model.get("weight").astype(np.float64), model.get("bias").astype(np.float64)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    want = np.einsum("ni,kij,nj->nk", a, w, b) + bias
    assert close(reference(model, [a, b]), want, 1e-12) and close(converted(tmp_path, model, [a, b]), want)


@pytest.mark.parametrize("model, field", tm.drawn(1, lambda: [
    (M("nn.PairwiseDistance", norm=float("inf")), "norm"),
    (M("nn.Euclidean", weight=tm.f32(4, 3, 2)), "weight"),
    (M("nn.WeightedEuclidean", weight=tm.f32(4, 3), diagCov=tm.f32(3, 3)), "diagCov"),
    (M("nn.Bilinear", weight=tm.f32(2, 4), bias=tm.f32(2)), "weight"),
]))
def test_bad_fields_are_refused_naming_class_field_and_place(tmp_path, model, field):
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 4), model))
    with pytest.raises(T7ConvertError, match=rf"{model.class_name.split('.')[1]} at modules\[2\].*{field}"):
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(4,))
    assert not (tmp_path / "m.pth").exists()


FIXTURE_IDS = ["euclidean", "weightedeuclidean", "cosine", "pairwisedistance", "cosinedistance", "dotproduct",
               "mm", "mv", "bilinear"]


@pytest.mark.parametrize("fixture_id", FIXTURE_IDS)
def test_reproduces_real_torch7(torch7_fixtures, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x = ref["input"]
    x = [np.asarray(v, np.float64) for v in x] if isinstance(x, list) else np.asarray(x, np.float64)
    module = t7convert.load(str(folder / f"{fixture_id}.t7"))
    xs = [torch.from_numpy(v.astype(np.float32)) for v in x] if isinstance(x, list) else torch.from_numpy(x.astype(np.float32))
    with torch.no_grad():
        assert close(module(xs).numpy(), ref["output"])
    assert close(reference(t7convert.read(folder / f"{fixture_id}.t7"), x), ref["output"])
