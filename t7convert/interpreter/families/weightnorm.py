"""nn.WeightNorm, nn.LinearWeightNorm, nn.PartialLinear in evaluate mode, from their Lua code."""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call, child_path
from t7convert.interpreter.fields import array_input, integer, number, sizes, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _in_evaluate_mode(m: T7Object) -> bool:
    """``self.train == false``: evaluate() then skips recomputing the weight, and so does forward."""
    return m.get("train") is False


@layer("nn.WeightNorm")
def weight_norm(m: T7Object, x, call: Call):
    """read() rebuilds modules[1].weight from v and g when the file lacks it; evaluate() rebuilds it
    unless already evaluating. updateWeight: v's rows (output slices) scaled by g / sqrt(|row|^2 + 10e-5),
    viewed as ``viewOut`` (the output dimension first) and transposed back (permuteOut)."""
    kids = call.children
    if len(kids) != 1 or not isinstance(kids[0], T7Object):
        raise call.fail("should decorate one module")
    inner = kids[0]
    stored = inner.get("weight")
    if not (_in_evaluate_mode(m) and isinstance(stored, np.ndarray) and stored.size):
        out_dim = integer(m, call.where, "outputDim", default=1)
        size = sizes(m, call.where, "weightSize") if m.get("weightSize") is not None else list(stored.shape)
        v = tensor(m, call.where, "v")
        rows = size[out_dim - 1]
        v = v.reshape(rows, -1)
        g = tensor(m, call.where, "g").reshape(rows)
        scaled = v * (g / np.sqrt(np.sum(v * v, axis=1) + 10e-5))[:, None]
        view_out = list(size)
        for i in range(out_dim - 1, 0, -1):  # viewOut: swap the output dimension to the front
            view_out[i - 1], view_out[i] = view_out[i], view_out[i - 1]
        weight = scaled.reshape(view_out)
        for i in range(out_dim - 1):  # permuteOut
            weight = np.swapaxes(weight, i, i + 1)
        inner = T7Object(inner.class_name, inner.version, {**inner.fields, "weight": np.ascontiguousarray(weight)})
    return call.engine.forward(inner, x, child_path(call.path, 0))


@layer("nn.LinearWeightNorm")
def linear_weight_norm(m: T7Object, x, call: Call) -> np.ndarray:
    """A Linear; its weight is v * g / clamp(|v_row|, eps) unless evaluating already with a stored weight."""
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    v = tensor(m, call.where, "v")
    weight = tensor(m, call.where, "weight", required=False)
    if not (_in_evaluate_mode(m) and weight is not None):
        g = tensor(m, call.where, "g").reshape(-1, 1)
        norm = np.sqrt((v ** 2).sum(axis=1, keepdims=True))
        weight = v * (g / np.clip(norm, float(number(m, call.where, "eps", default=1e-16)), np.inf))
    weight = weight.reshape(v.shape)
    if x.shape[-1] != weight.shape[1]:
        raise call.fail(f"input has {x.shape[-1]} features, weight expects {weight.shape[1]}")
    out = x @ weight.T
    bias = tensor(m, call.where, "bias", required=False)
    return out if bias is None else out + bias.reshape(-1)


@layer("nn.PartialLinear")
def partial_linear(m: T7Object, x, call: Call) -> np.ndarray:
    """network:forward{input, partition}: LookupTable rows of the partition, MM(false, true), then
    ``bias:index(2, partition)`` added to every row."""
    x = array_input(x, m, where=call.where, ndims=(2,))
    network = m.get("network")
    kids = network.fields.get("modules") if isinstance(network, T7Object) else None
    try:
        lookup = kids[0].fields["modules"][1]
        assert lookup.class_name == "nn.LookupTable"
    except (TypeError, KeyError, IndexError, AttributeError, AssertionError):
        raise call.fail("network is not Sequential(ParallelTable(Identity, LookupTable), MM)") from None
    table = tensor(lookup, call.where, "weight")
    partition = m.get("partition")
    if partition is None:
        partition = np.arange(1, table.shape[0] + 1)
    index = np.asarray(partition).reshape(-1).astype(np.int64)
    if index.size and (index.min() < 1 or index.max() > table.shape[0]):
        raise call.fail("partition index out of range")
    rows = table[index - 1]
    if x.shape[1] != rows.shape[1]:
        raise call.fail(f"matrix sizes do not match: {x.shape} and {rows.shape[::-1]}")
    out = x @ rows.T
    bias = tensor(m, call.where, "bias", required=False)
    return out if bias is None else out + bias.reshape(1, -1)[:, index - 1]
