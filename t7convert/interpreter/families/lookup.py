"""nn.LookupTable (with maxNorm's renorm), nn.SparseLinear, nn.IndexLinear, nn.Kmeans, from their Lua
and THNN code. Index tensors are copied to LongTensors first, which truncates floats toward zero."""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer, number, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _long(x: np.ndarray, call: Call) -> np.ndarray:
    """``LongTensor:copy(x)``: C's conversion, toward zero."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise call.fail("index is not a finite number")
    return np.trunc(x).astype(np.int64)


@layer("nn.LookupTable")
def lookup_table(m: T7Object, x, call: Call) -> np.ndarray:
    """renorm (only the rows the input names), then ``output:index(weight, 1, input)``."""
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    weight = tensor(m, call.where, "weight")
    index = _long(x, call).reshape(-1)
    if index.size and (index.min() < 1 or index.max() > weight.shape[0]):
        raise call.fail(f"index out of range: not between 1 and {weight.shape[0]}")
    max_norm = number(m, call.where, "maxNorm", default=None)
    if max_norm is not None:
        p = float(number(m, call.where, "normType", default=2))
        for row in np.unique(index) - 1:  # THNN sorts the indices and renormalises each row once
            norm = float(np.sum(np.abs(weight[row]) ** p) ** (1.0 / p))
            if norm > max_norm:
                weight[row] *= max_norm / (norm + 1e-7)
    out = weight[index - 1]
    return out if x.ndim == 1 else out.reshape(x.shape[0], x.shape[1], weight.shape[1])


@layer("nn.LookupTableMaskZero")
def lookup_table_mask_zero(m: T7Object, x, call: Call) -> np.ndarray:
    """rnn's LookupTableMaskZero:updateOutput: ``self.weight[1]:zero()``, then LookupTable's forward on
    ``input + 1`` (added in the input's type, before LookupTable copies it into a LongTensor)."""
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    weight = m.get("weight")
    if not isinstance(weight, np.ndarray) or weight.ndim != 2:
        raise call.fail("field 'weight' should be a matrix")
    shifted = x + 1
    view = T7Object(m.class_name, m.version, {**m.fields, "weight": weight.copy()})
    view.fields["weight"][0] = 0
    return lookup_table(view, shifted, call)


def _sparse_sample(pairs: np.ndarray, weight: np.ndarray, bias: np.ndarray, call: Call) -> np.ndarray:
    out = bias.copy()
    for index, value in pairs:
        if value == 0:
            continue
        column = int(_long(index, call)) - 1
        if not 0 <= column < weight.shape[1]:
            raise call.fail(f"index out of bound: {column + 1} not between 1 and {weight.shape[1]}")
        out += value * weight[:, column]
    return out


@layer("nn.SparseLinear")
def sparse_linear(m: T7Object, x, call: Call) -> np.ndarray:
    weight = tensor(m, call.where, "weight")
    bias = tensor(m, call.where, "bias").reshape(-1)
    samples = x if isinstance(x, list) else None
    if samples is None:
        x = array_input(x, m, where=call.where, ndims=(2, 3))
        samples = [x] if x.ndim == 2 else list(x)
    for s in samples:
        if not isinstance(s, np.ndarray) or s.ndim != 2 or s.shape[1] != 2:
            raise call.fail("input must be in coo format, nnz x 2")
    out = np.stack([_sparse_sample(s, weight, bias, call) for s in samples]) if samples else bias[None]
    return out[0] if isinstance(x, np.ndarray) and x.ndim == 2 else out


@layer("nn.IndexLinear")
def index_linear(m: T7Object, x, call: Call) -> np.ndarray:
    if integer(m, call.where, "normalize", default=0):
        raise call.fail("normalize mode is not executed")
    if not isinstance(x, list) or len(x) not in (2, 3):
        raise call.fail("expects a table {keys, values} or {keys, values, sizes}")
    weight = tensor(m, call.where, "weight")
    bias = tensor(m, call.where, "bias").reshape(-1)
    offset = integer(m, call.where, "offset", default=-1)
    if len(x) == 3:
        ends = np.cumsum(_long(x[2], call).reshape(-1))
        keys, values = np.split(np.asarray(x[0]), ends[:-1]), np.split(np.asarray(x[1]), ends[:-1])
    elif isinstance(x[0], list):
        keys, values = x[0], x[1]
    else:
        keys, values = [x[0]], [x[1]]
    rows = []
    for k, v in zip(keys, values):
        k = _long(k, call).reshape(-1) + offset
        if k.size and (k.min() < 0 or k.max() >= weight.shape[0]):
            raise call.fail(f"key out of range for {weight.shape[0]} rows")
        rows.append(bias + np.asarray(v, np.float64).reshape(-1) @ weight[k])
    out = np.stack(rows)
    return out[0] if len(x) == 2 and not isinstance(x[0], list) else out


@layer("nn.Kmeans")
def kmeans(m: T7Object, x, call: Call) -> np.ndarray:
    """``norm(x - c, 2)^2`` to each centroid, then ``min`` over the centroids: its (1-based) index."""
    x = array_input(x, m, where=call.where, ndims=(2,))
    weight = tensor(m, call.where, "weight")
    if x.shape[1] != weight.shape[1]:
        raise call.fail("Dimensionality of input and weight don't match.")
    distances = np.sqrt(((x[None] - weight[:, None]) ** 2).sum(axis=2)) ** 2
    return (np.argmin(distances, axis=0) + 1).astype(np.float64)
