"""Containers and table layers: Sequential, ConcatTable, Concat, JoinTable, CAddTable, DataParallel(Table).

Torch7's dimensions are 1-based. ``nn.Concat(d)`` joins its children's outputs along dimension d of
the *tensor* (no batch adjustment: fb.resnet.torch's shortcut A uses Concat(2) on (N, C, H, W)).
``nn.JoinTable(d, nInputDims)`` adds one to d when the inputs have ``nInputDims + 1`` dimensions (a
batch), and counts a negative d from the end. CAddTable in place adds into its first input's tensor,
as Torch7 does.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import WRAPPERS, Call
from t7convert.interpreter.fields import flag, integer
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


@layer("nn.Sequential")
def sequential(m: T7Object, x, call: Call):
    for i in range(len(call.children)):
        x = call.child(i, x)
    return x


@layer("nn.ConcatTable")
def concat_table(m: T7Object, x, call: Call) -> list:
    """Every child on the same input (the same tensor: an in-place child changes it for the next)."""
    return [call.child(i, x) for i in range(len(call.children))]


@layer(*WRAPPERS)
def data_parallel_table(m: T7Object, x, call: Call):
    """The first replica, as ``model:get(1)``: the replicas hold the same weights."""
    if not call.children:
        raise call.fail("holds no module")
    return call.child(0, x)


def _tensors(x, call: Call, what: str) -> list[np.ndarray]:
    if not isinstance(x, list) or not x or not all(isinstance(t, np.ndarray) for t in x):
        raise call.fail(f"expects a non-empty table of tensors to {what}")
    return x


def _join(parts: list[np.ndarray], dim1: int, call: Call) -> np.ndarray:
    """Concatenate along 1-based ``dim1`` after checking the shapes agree elsewhere."""
    first = parts[0]
    if not 1 <= dim1 <= first.ndim:
        raise call.fail(f"dimension {dim1} is out of range for {first.ndim}-D tensors")
    for p in parts[1:]:
        if p.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(p.shape, first.shape))
                                       if i != dim1 - 1):
            raise call.fail(f"cannot join {'x'.join(map(str, first.shape))} and "
                            f"{'x'.join(map(str, p.shape))} along dimension {dim1}")
    return np.concatenate(parts, axis=dim1 - 1)


@layer("nn.Concat")
def concat(m: T7Object, x, call: Call) -> np.ndarray:
    outs = [call.child(i, x) for i in range(len(call.children))]
    return _join(_tensors(outs, call, "concatenate"), integer(m, call.where, "dimension"), call)


@layer("nn.JoinTable")
def join_table(m: T7Object, x, call: Call) -> np.ndarray:
    parts = _tensors(x, call, "join")
    dim = integer(m, call.where, "dimension")
    n_input_dims = integer(m, call.where, "nInputDims", default=None)
    if dim < 0:
        dim = parts[0].ndim + dim + 1
    elif n_input_dims is not None and parts[0].ndim == n_input_dims + 1:
        dim += 1
    return _join(parts, dim, call)


@layer("nn.CAddTable")
def cadd_table(m: T7Object, x, call: Call) -> np.ndarray:
    parts = _tensors(x, call, "add")
    out = parts[0] if flag(m, "inplace") else parts[0].copy()
    for p in parts[1:]:
        if p.size != out.size:
            raise call.fail(f"cannot add {'x'.join(map(str, p.shape))} to {'x'.join(map(str, out.shape))}")
        out += p.reshape(out.shape)
    return out
