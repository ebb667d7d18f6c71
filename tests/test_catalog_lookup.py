"""LookupTable, SparseLinear, IndexLinear, Kmeans: index semantics (1-based, floats truncated, out of range
refused), maxNorm's renorm, zero values skipped, nearest centroids; and the catalog files written by
real Torch7 (their inputs: a LongTensor, (index, value) rows, a {keys, values} table)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from layer_cases import lookup as cases

import t7convert
from t7convert import api
from t7convert.common.errors import T7ConvertError
from t7convert.interpreter import ModelError
from t7convert.interpreter.engine import Engine

M = tm.module


def reference(model, x):
    return Engine(record=False, record_depth=0, paths=()).forward(model, x, "")


def converted(tmp_path, model):
    return t7convert.load(str(tm.save(tmp_path, "m", model)))


def close(a, b, tol=1e-5) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) <= tol


def test_lookup_truncates_float_indices_and_takes_long_ones(tmp_path):
    model = cases.lookup(5, 3)
    w = model.get("weight").astype(np.float64)
    floats = np.array([[1.9, 5.0], [3.2, 1.0]])
    want = w[[[0, 4], [2, 0]]]
    module = converted(tmp_path, model)
    assert close(reference(model, floats), want, 0)
    with torch.no_grad():
        assert close(module(torch.tensor(floats, dtype=torch.float32)), want)
        assert close(module(torch.tensor([2, 5])), w[[1, 4]])
    for bad in (np.array([0.0]), np.array([6.0])):
        with pytest.raises(ModelError, match="out of range"):
            reference(model, bad)
        with pytest.raises(IndexError, match="out of range"):
            module(torch.from_numpy(bad))


def test_max_norm_scales_rows_above_it_by_max_norm_over_norm_plus_1e_7(tmp_path):
    model = cases.lookup(4, 3, max_norm=0.5, norm_type=3)
    w = model.get("weight").astype(np.float64)
    norm = (np.abs(w) ** 3).sum(1) ** (1 / 3)
    renormed = np.where((norm > 0.5)[:, None], w * (0.5 / (norm + 1e-7))[:, None], w)
    index = np.array([4.0, 1.0, 4.0])
    assert close(reference(model, index), renormed[[3, 0, 3]], 1e-12)
    with torch.no_grad():
        assert close(converted(tmp_path, model)(torch.from_numpy(index)), renormed[[3, 0, 3]])


def test_sparse_linear_sums_value_times_column_and_skips_zero_values(tmp_path):
    model = cases.sparse_linear(6, 2)
    w, b = model.get("weight").astype(np.float64), model.get("bias").astype(np.float64)
    pairs = np.array([[2, 0.5], [6, -1.0], [2, 2.0], [99, 0.0]])  # index 99 with value 0: never read
    want = b + 2.5 * w[:, 1] - w[:, 5]
    module = converted(tmp_path, model)
    assert close(reference(model, pairs), want, 1e-12)
    with torch.no_grad():
        assert close(module(torch.from_numpy(pairs)), want)
        assert close(module([torch.from_numpy(pairs), torch.from_numpy(pairs[:1])]), [want, b + 0.5 * w[:, 1]])


def test_index_linear_takes_a_sample_a_batch_and_a_flat_batch(tmp_path):
    model = cases.index_linear(5, 2)
    w, b = model.get("weight").astype(np.float64), model.get("bias").astype(np.float64)
    keys, values = np.array([1, 5, 2]), np.array([0.5, -1.0, 2.0])
    want = b + values @ w[keys - 1]
    module = converted(tmp_path, model)
    t = torch.from_numpy
    assert close(reference(model, [keys, values]), want, 1e-12)
    with torch.no_grad():
        assert close(module([t(keys), t(values)]), want)
        assert close(module([[t(keys), t(keys[:1])], [t(values), t(values[:1])]]), [want, b + 0.5 * w[0]])
        assert close(module([t(keys), t(values), t(np.array([2, 1]))]),
                     [b + values[:2] @ w[keys[:2] - 1], b + 2.0 * w[1]])


def test_kmeans_gives_the_one_based_index_of_the_nearest_centroid(tmp_path):
    rng = np.random.default_rng(8)
    model = M("nn.Kmeans", weight=tm.f32(3, 4), k=3, dim=4)
    c = model.get("weight").astype(np.float64)
    x = rng.standard_normal((5, 4))
    want = np.argmin(((x[:, None] - c[None]) ** 2).sum(2), axis=1) + 1.0
    assert close(reference(model, x), want, 0)
    with torch.no_grad():
        assert close(converted(tmp_path, model)(torch.from_numpy(x.astype(np.float32))), want)


@pytest.mark.parametrize("model, field", tm.drawn(1, lambda: [
    (M("nn.IndexLinear", weight=tm.f32(5, 2), bias=tm.f32(2), normalize=4, offset=-1), "normalize"),
    (M("nn.LookupTable", weight=tm.f32(5), paddingValue=0), "weight"),
    (M("nn.LookupTable", weight=tm.f32(5, 2), maxNorm=1.0, normType=0), "normType"),
    (M("nn.SparseLinear", weight=tm.f32(3, 5), bias=tm.f32(2)), "bias"),
]))
def test_bad_fields_are_refused_naming_class_field_and_place(tmp_path, model, field):
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 4), model))
    with pytest.raises(T7ConvertError, match=rf"{model.class_name.split('.')[1]} at modules\[2\].*{field}"):
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(4,))
    assert not (tmp_path / "m.pth").exists()


@pytest.mark.parametrize("fixture_id", ["lookuptable", "sparselinear", "indexlinear", "kmeans"])
def test_reproduces_real_torch7(torch7_fixtures, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x = ref["input"]
    x = [np.asarray(v) for v in x] if isinstance(x, list) else np.asarray(x)
    module = t7convert.load(str(folder / f"{fixture_id}.t7"))
    as_float = (lambda v: torch.from_numpy(v.astype(np.float32)))  # noqa: E731 - what the acceptance check feeds
    with torch.no_grad():
        assert close(module([as_float(v) for v in x] if isinstance(x, list) else as_float(x)).numpy(), ref["output"])
    assert close(reference(t7convert.read(folder / f"{fixture_id}.t7"), x), ref["output"])
