"""Euclidean, WeightedEuclidean, Cosine, CosineDistance, PairwiseDistance, DotProduct, MM, MV, Bilinear:
each as its Lua ``updateOutput`` computes (the table-input ones receive a Python list)."""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, flag, number, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _table(x, m: T7Object, call: Call, ranks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(x, list) or len(x) != 2:
        raise call.fail("expects a table of two tensors")
    a = array_input(x[0], m, where=call.where, ndims=ranks)
    b = array_input(x[1], m, where=call.where, ndims=ranks)
    return a, b


def _rows(a: np.ndarray, b: np.ndarray, call: Call) -> tuple[np.ndarray, np.ndarray]:
    """``input1:view(1, -1)`` for vectors; both must hold the same elements."""
    if a.shape != b.shape:
        raise call.fail(f"inputs of shapes {a.shape} and {b.shape}")
    return (a[None], b[None]) if a.ndim == 1 else (a, b)


@layer("nn.Euclidean", "nn.WeightedEuclidean")
def euclidean(m: T7Object, x, call: Call) -> np.ndarray:
    """``norm(x expanded over outputs - weight, 2)`` along the input dimension, diagCov applied first."""
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    weight = tensor(m, call.where, "weight")
    if weight.ndim != 2 or weight.shape[0] != x.shape[-1]:
        raise call.fail(f"weight {weight.shape} for inputs of {x.shape[-1]} features")
    rows = x[None] if x.ndim == 1 else x
    diff = rows[:, :, None] - weight[None]  # (batch, inputSize, outputSize)
    if m.class_name == "nn.WeightedEuclidean":
        diff = diff * tensor(m, call.where, "diagCov").reshape(weight.shape)[None]
    out = np.sqrt((diff ** 2).sum(axis=1))
    return out[0] if x.ndim == 1 else out


@layer("nn.Cosine")
def cosine(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    weight = tensor(m, call.where, "weight")
    if weight.ndim != 2 or weight.shape[1] != x.shape[-1]:
        raise call.fail(f"weight {weight.shape} for inputs of {x.shape[-1]} features")
    weight_norm = np.sqrt((weight ** 2).sum(axis=1)) + 1e-12
    if x.ndim == 1:
        return weight @ x / weight_norm / (np.sqrt((x ** 2).sum()) + 1e-12)
    input_norm = np.sqrt((x ** 2).sum(axis=1, keepdims=True)) + 1e-12
    return x @ weight.T / weight_norm[None] / input_norm


@layer("nn.CosineDistance")
def cosine_distance(m: T7Object, x, call: Call) -> np.ndarray:
    a, b = _rows(*_table(x, m, call, (1, 2)), call)
    w1 = (a * b).sum(axis=1)
    w22 = 1.0 / ((a * a).sum(axis=1) + 1e-12)
    w32 = 1.0 / ((b * b).sum(axis=1) + 1e-12)
    return w1 * np.sqrt(w22 * w32)


@layer("nn.PairwiseDistance")
def pairwise_distance(m: T7Object, x, call: Call) -> np.ndarray:
    a, b = _table(x, m, call, (1, 2))
    p = float(number(m, call.where, "norm", default=2))
    if not (0 < p < np.inf):
        raise call.fail(f"norm {p}: only finite positive p")
    a, b = _rows(a, b, call)
    return (np.abs(a - b) ** p).sum(axis=1) ** (1.0 / p)


@layer("nn.DotProduct")
def dot_product(m: T7Object, x, call: Call) -> np.ndarray:
    a, b = _rows(*_table(x, m, call, (1, 2)), call)
    return (a * b).sum(axis=1)


@layer("nn.MM")
def mm(m: T7Object, x, call: Call) -> np.ndarray:
    a, b = _table(x, m, call, (2, 3))
    if a.ndim != b.ndim:
        raise call.fail("second input tensor must have the first's dimension")
    if flag(m, "transA"):
        a = np.swapaxes(a, -1, -2)
    if flag(m, "transB"):
        b = np.swapaxes(b, -1, -2)
    if a.shape[-1] != b.shape[-2] or (a.ndim == 3 and a.shape[0] != b.shape[0]):
        raise call.fail(f"matrix sizes do not match: {a.shape} and {b.shape}")
    return np.matmul(a, b)


@layer("nn.MV")
def mv(m: T7Object, x, call: Call) -> np.ndarray:
    if not isinstance(x, list) or len(x) != 2:
        raise call.fail("expects a table of a matrix and a vector")
    mat = array_input(x[0], m, where=call.where, ndims=(2, 3))
    vec = array_input(x[1], m, where=call.where, ndims=(mat.ndim - 1,))
    if flag(m, "trans"):
        mat = np.swapaxes(mat, -1, -2)
    if mat.shape[-1] != vec.shape[-1] or (mat.ndim == 3 and mat.shape[0] != vec.shape[0]):
        raise call.fail(f"matrix row count and vector length do not match: {mat.shape} and {vec.shape}")
    if mat.ndim == 2:
        return mat @ vec
    return np.einsum("nij,nj->ni", mat, vec)


@layer("nn.Bilinear")
def bilinear(m: T7Object, x, call: Call) -> np.ndarray:
    """For each output k: ``sum((a @ W_k) * b, 2)``, then the bias."""
    a, b = _table(x, m, call, (2,))
    weight = tensor(m, call.where, "weight")
    if weight.ndim != 3 or a.shape[1] != weight.shape[1] or b.shape[1] != weight.shape[2] or a.shape[0] != b.shape[0]:
        raise call.fail(f"inputs {a.shape}, {b.shape} for weight {weight.shape}")
    out = np.stack([((a @ weight[k]) * b).sum(axis=1) for k in range(weight.shape[0])], axis=1)
    bias = tensor(m, call.where, "bias", required=False)
    return out if bias is None else out + bias.reshape(1, -1)
