"""Reference execution of the table and index layers nngraph graphs and language models use.

From the Lua sources: ``nn/SplitTable.lua`` (``input:select(dimension, i)`` for each i, the dimension
shifted for a batch when ``nInputDims`` is set, from the end when negative), ``nn/CMulTable.lua``
(product of all inputs), ``nn/CSubTable.lua`` (``input[1] - input[2]``), char-rnn's
``util/OneHot.lua`` (``self._eye:index(1, input:long())``: rows of the identity, 1-based) and
``nn/LookupTable.lua`` (``weight:index(1, input)`` for 1-D input, then viewed as input size x nOutput).
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _table(x, call: Call, n: int) -> list[np.ndarray]:
    if not isinstance(x, list) or len(x) < n or not all(isinstance(t, np.ndarray) for t in x):
        raise call.fail(f"expects a table of at least {n} tensors")
    return x


@layer("nn.SplitTable")
def split_table(m: T7Object, x, call: Call) -> list:
    x = array_input(x, m, where=call.where, ndims=tuple(range(1, 9)))
    dim = integer(m, call.where, "dimension")
    n_input_dims = integer(m, call.where, "nInputDims", default=None)
    if dim < 0:
        dim = x.ndim + dim + 1
    elif n_input_dims is not None and x.ndim == n_input_dims + 1:
        dim += 1
    if not 1 <= dim <= x.ndim:
        raise call.fail(f"dimension {dim} is out of range for a {x.ndim}-D input")
    return [np.take(x, i, axis=dim - 1) for i in range(x.shape[dim - 1])]


@layer("nn.CMulTable")
def cmul_table(m: T7Object, x, call: Call) -> np.ndarray:
    parts = _table(x, call, 1)
    out = parts[0].copy()
    for p in parts[1:]:
        out = out * p
    return out


@layer("nn.CSubTable")
def csub_table(m: T7Object, x, call: Call) -> np.ndarray:
    a, b = _table(x, call, 2)[:2]
    return a - b


def _indices(x, call: Call, n: int) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise call.fail("expects a tensor of indices")
    idx = x.astype(np.int64)  # Torch7 copies the indices into a LongTensor (truncating)
    if idx.size and (idx.min() < 1 or idx.max() > n):
        raise call.fail(f"an index is outside 1..{n}")
    return idx - 1


@layer("OneHot")
def one_hot(m: T7Object, x, call: Call) -> np.ndarray:
    size = integer(m, call.where, "outputSize")
    idx = _indices(x, call, size).reshape(-1)
    return np.eye(size)[idx]


@layer("nn.LookupTable")
def lookup_table(m: T7Object, x, call: Call) -> np.ndarray:
    weight = tensor(m, call.where, "weight")
    if m.get("maxNorm") is not None:
        raise call.fail("maxNorm renormalises the weight in place at each forward; not run")
    idx = _indices(x, call, weight.shape[0])
    return weight[idx.reshape(-1)].reshape(*idx.shape, weight.shape[1])
