"""Linear layers whose weight is stored another way: nn.WeightNorm (around any module with a weight),
nn.LinearWeightNorm, nn.PartialLinear. Each folds into the plain weight its test-time forward uses.
"""
from __future__ import annotations

import numpy as np

from t7convert.conversion.families.linear import LinearRecord
from t7convert.conversion.fields import flag, integer, long_list, number, tensor
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


def _weight_norm_weight(m: T7Object, ctx, size: list[int], out_dim: int) -> np.ndarray:
    """WeightNorm:updateWeight: each row i of v (the weight viewed as (size[outputDim], rest)) times
    ``g[i] / sqrt(|v_i|^2 + 1e-4)`` (``10e-5`` in the Lua), viewed back and the output dimension
    moved back to its place."""
    rows = size[out_dim - 1]
    v = tensor(m, ctx, "v").astype(np.float64)
    if v.size != int(np.prod(size)) or v.size % max(rows, 1):
        raise ctx.fail(m, f"v has {v.size} values for a weight of size {size}")
    v = v.reshape(rows, -1)
    g = tensor(m, ctx, "g", shape=(rows,)).astype(np.float64)
    w = v * (g / np.sqrt((v ** 2).sum(axis=1) + 1e-4))[:, None]
    front = [size[out_dim - 1]] + size[:out_dim - 1] + size[out_dim:]
    return np.moveaxis(w.reshape(front), 0, out_dim - 1).astype(np.float32)


@converts("nn.WeightNorm")
def weight_norm(m: T7Object, ctx) -> Node:
    """A Decorator: ``modules[1]`` runs with the weight w = g * v / |v| (per output slice). WeightNorm:write
    drops the weight and read() recomputes it; a weight still in the file is what an evaluate-mode
    forward uses (``train == false`` skips updateWeight), else evaluate() recomputes it."""
    kids = m.children
    if len(kids) != 1:
        raise ctx.fail(m, f"holds {len(kids)} modules, not one")
    inner = kids[0]
    out_dim = integer(m, ctx, "outputDim", default=1)
    stored = inner.get("weight")
    if isinstance(stored, np.ndarray) and stored.size and flag(m, "train", default=True) is False:
        return ctx.child(inner, 1)
    size = long_list(m, ctx, "weightSize") if m.get("weightSize") is not None else None
    if size is None:
        if not isinstance(stored, np.ndarray):
            raise ctx.fail(m, "has neither weightSize nor a weight in modules[1]")
        size = list(stored.shape)
    if not 1 <= out_dim <= len(size):
        raise ctx.fail(m, f"field outputDim is {out_dim} for a weight of size {size}")
    weight = _weight_norm_weight(m, ctx, size, out_dim)
    ctx.note("WeightNorm folded into its module's weight (g * v / sqrt(|v|^2 + 1e-4))")
    return ctx.child(T7Object(inner.class_name, inner.version, {**inner.fields, "weight": weight}), 1)


def _linear(weight: np.ndarray, bias: np.ndarray | None) -> Node:
    out_f, in_f = weight.shape
    tensors = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    return Node("Linear", LinearRecord(in_features=in_f, out_features=out_f, bias=bias is not None), tensors)


@converts("nn.LinearWeightNorm")
def linear_weight_norm(m: T7Object, ctx) -> Node:
    """LinearWeightNorm.lua: a Linear whose weight is ``v * g / max(|v_row|, eps)``; evaluate() computes
    it unless the module is already in evaluate mode, whose forward uses the stored weight."""
    v = tensor(m, ctx, "v")
    if v.ndim != 2:
        raise ctx.fail(m, f"v has shape {tuple(v.shape)}, expected (out, in)")
    stored = tensor(m, ctx, "weight", required=False, shape=v.shape)
    if stored is not None and flag(m, "train", default=True) is False:
        weight = stored
    else:
        g = tensor(m, ctx, "g", shape=(v.shape[0], 1)).astype(np.float64)
        eps = float(number(m, ctx, "eps", default=1e-16))
        norm = np.maximum(np.sqrt((v.astype(np.float64) ** 2).sum(axis=1, keepdims=True)), eps)
        weight = (v * (g / norm)).astype(np.float32)
    return _linear(weight, tensor(m, ctx, "bias", required=False, shape=(v.shape[0],)))


@converts("nn.PartialLinear")
def partial_linear(m: T7Object, ctx) -> Node:
    """PartialLinear.lua: ``network`` = Sequential(ParallelTable(Identity, LookupTable(out, in)),
    MM(false, true)) fed {input, partition}: the output columns are the partition's rows of the
    LookupTable's weight, plus ``bias:index(2, partition)``. The default partition is every column."""
    network = m.get("network")
    kids = list(network.children) if isinstance(network, T7Object) else []
    if [k.class_name for k in kids] != ["nn.ParallelTable", "nn.MM"] or \
            [k.class_name for k in kids[0].children] != ["nn.Identity", "nn.LookupTable"]:
        raise ctx.fail(m, "network is not Sequential(ParallelTable(Identity, LookupTable), MM)")
    if flag(kids[1], "transA") or not flag(kids[1], "transB"):
        raise ctx.fail(m, "network's MM is not MM(false, true)")
    table = tensor(kids[0].children[1], ctx, "weight")
    if table.ndim != 2:
        raise ctx.fail(m, f"the LookupTable weight has shape {tuple(table.shape)}, expected (out, in)")
    partition = m.get("partition")
    rows = np.arange(1, table.shape[0] + 1) if partition is None else np.asarray(partition).reshape(-1)
    if not (np.all(rows == np.trunc(rows)) and np.all((rows >= 1) & (rows <= table.shape[0]))):
        raise ctx.fail(m, f"partition holds indices outside 1..{table.shape[0]}")
    rows = rows.astype(np.int64) - 1
    bias = tensor(m, ctx, "bias", required=False, shape=(1, table.shape[0]))
    return _linear(np.ascontiguousarray(table[rows]),
                   None if bias is None else np.ascontiguousarray(bias[0, rows]))


@describes("nn.LinearWeightNorm")
def _describe_lwn(m: T7Object) -> str:
    return f"{m.class_name}({m.get('inputSize')} -> {m.get('outputSize')})"


@describes("nn.PartialLinear")
def _describe_partial(m: T7Object) -> str:
    return f"{m.class_name}({m.get('inputsize')} -> {m.get('outputsize')})"
