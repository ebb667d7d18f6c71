"""PReLU, RReLU (evaluate mode), CReLU, GatedLinearUnit, Mul, CMul, Add, CAdd, Constant, Maxout and the
spatial softmaxes of nn and cudnn, from nn's Lua files and THNN's C (PReLU.c, RReLU.c, GatedLinearUnit.c,
SoftMax.c) and cudnn.torch's SpatialSoftMax.lua.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, flag, integer, number, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object

_ANY = tuple(range(1, 33))


def _x(m: T7Object, x, call: Call, ndims: tuple[int, ...] = _ANY) -> np.ndarray:
    return array_input(x, m, where=call.where, ndims=ndims)


@layer("nn.PReLU")
def prelu(m: T7Object, x, call: Call) -> np.ndarray:
    """PReLU.c: nOutputPlane 0 -> ``w[0]`` everywhere; else the input is (bs, nOutputPlane, ks...) for
    2+ dimensions (size[1] checked) and (nOutputPlane) for a vector."""
    x = _x(m, x, call)
    n = integer(m, call.where, "nOutputPlane", default=0)
    w = tensor(m, call.where, "weight").reshape(-1)
    if n == 0:
        return np.where(x > 0, x, w[0] * x)
    axis = 1 if x.ndim > 1 else 0
    if x.shape[axis] != n or w.size < n:
        raise call.fail(f"wrong number of input planes: expected {n}, got {x.shape[axis]}")
    shape = [1] * x.ndim
    shape[axis] = n
    return np.where(x > 0, x, w[:n].reshape(shape) * x)


@layer("nn.RReLU")
def rrelu(m: T7Object, x, call: Call) -> np.ndarray:
    """RReLU.c with train false: r = (lower + upper) / 2 where x <= 0, else 1; in place writes x."""
    x = _x(m, x, call)
    slope = (number(m, call.where, "lower", default=1 / 8) + number(m, call.where, "upper", default=1 / 3)) / 2
    y = x * np.where(x <= 0, slope, 1.0)
    if flag(m, "inplace"):
        x[...] = y
        return x
    return y


@layer("nn.CReLU")
def crelu(m: T7Object, x, call: Call) -> np.ndarray:
    """CReLU.lua: view as (batch or 1, -1), run its Sequential (ConcatTable(Identity, MulConstant(-1)),
    JoinTable(2), ReLU), resize to the input's size with dimension 1 (batched: 2) doubled."""
    x = _x(m, x, call)
    n = integer(m, call.where, "nInputDims")
    batched = x.ndim == n + 1
    y = x.reshape(x.shape[0] if batched else 1, -1)
    for i in range(len(call.children)):
        y = call.child(i, y)
    size = list(x.shape)
    size[1 if batched else 0] *= 2
    if not isinstance(y, np.ndarray) or y.size != int(np.prod(size)):
        raise call.fail("its modules did not give twice the input's values")
    return y.reshape(size)


@layer("nn.GatedLinearUnit")
def gated_linear_unit(m: T7Object, x, call: Call) -> np.ndarray:
    x = _x(m, x, call)
    dim = integer(m, call.where, "dim", default=None)
    axis = (x.ndim if dim is None else dim) - 1
    if not 0 <= axis < x.ndim or x.shape[axis] % 2:
        raise call.fail(f"halving dimension {axis + 1} must exist and be even")
    half = x.shape[axis] // 2
    first = np.take(x, np.arange(half), axis=axis)
    second = np.take(x, np.arange(half, 2 * half), axis=axis)
    return first * (1.0 / (1.0 + np.exp(-second)))


@layer("nn.Mul")
def mul(m: T7Object, x, call: Call) -> np.ndarray:
    return _x(m, x, call) * tensor(m, call.where, "weight").reshape(-1)[0]


def _broadcast(m: T7Object, x: np.ndarray, w: np.ndarray, call: Call) -> np.ndarray:
    """CMul.lua/CAdd.lua: same element count -> element by element; same rank -> expandAs; else the
    output viewed (batch, -1) and the weight (1, -1), expanded."""
    if x.size == w.size:
        return w.reshape(x.shape)
    if w.ndim == x.ndim:
        if any(a != b and a != 1 for a, b in zip(w.shape, x.shape)):
            raise call.fail(f"cannot expand {'x'.join(map(str, w.shape))} to {'x'.join(map(str, x.shape))}")
        return np.broadcast_to(w, x.shape)
    per = x.size // x.shape[0] if x.ndim else 0
    if per != w.size:
        raise call.fail(f"a sample of {per} values does not fit {w.size} weights")
    return np.broadcast_to(w.reshape(1, -1), (x.shape[0], per)).reshape(x.shape)


@layer("nn.CMul")
def cmul(m: T7Object, x, call: Call) -> np.ndarray:
    x = _x(m, x, call)
    return x * _broadcast(m, x, tensor(m, call.where, "weight"), call)


@layer("nn.CAdd")
def cadd(m: T7Object, x, call: Call) -> np.ndarray:
    x = _x(m, x, call)
    return x + _broadcast(m, x, tensor(m, call.where, "bias"), call)


@layer("nn.Add")
def add(m: T7Object, x, call: Call) -> np.ndarray:
    x = _x(m, x, call)
    b = tensor(m, call.where, "bias")
    if flag(m, "scalar"):
        return x + b.reshape(-1)[0]
    if x.shape == b.shape:
        return x + b
    rows = x.reshape(x.shape[0], -1)
    if rows.shape[1] != b.size:
        raise call.fail(f"rows of {rows.shape[1]} values do not fit a bias of {b.size}")
    return (rows + b.reshape(-1)).reshape(x.shape)


@layer("nn.Constant")
def constant(m: T7Object, x, call: Call) -> np.ndarray:
    x = _x(m, x, call)
    v = tensor(m, call.where, "value")
    n = integer(m, call.where, "nInputDim", default=None)
    if n is not None and x.ndim > n:
        return np.repeat(v[None], x.shape[0], axis=0)
    return v


def _softmax(x: np.ndarray, axes: tuple[int, ...], log: bool) -> np.ndarray:
    z = x - x.max(axis=axes, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=axes, keepdims=True))
    return z - lse if log else np.exp(z - lse)


@layer("nn.SpatialSoftMax", "nn.SpatialLogSoftMax")
def spatial_softmax(m: T7Object, x, call: Call) -> np.ndarray:
    """THNN SoftMax.c: 1-D the vector, 2-D each row, 3-D over dim 0 per pixel, 4-D over dim 1."""
    x = _x(m, x, call, (1, 2, 3, 4))
    return _softmax(x, (0,) if x.ndim in (1, 3) else (1,), m.class_name == "nn.SpatialLogSoftMax")


@layer("cudnn.SpatialSoftMax", "cudnn.SpatialLogSoftMax")
def cudnn_spatial_softmax(m: T7Object, x, call: Call) -> np.ndarray:
    """The input as 4-D (C -> 1xCx1x1, NxC -> NxCx1x1, CxHxW -> 1xCxHxW); CHANNEL mode over C at each
    (n, h, w), INSTANCE over C, H, W; the LOG algorithm gives the log."""
    x = _x(m, x, call, (1, 2, 3, 4))
    log_default = m.class_name == "cudnn.SpatialLogSoftMax"
    algorithm = m.get("algorithm") or ("CUDNN_SOFTMAX_LOG" if log_default else "CUDNN_SOFTMAX_ACCURATE")
    mode = m.get("mode") or "CUDNN_SOFTMAX_MODE_CHANNEL"
    four = {1: lambda t: t.reshape(1, -1, 1, 1), 2: lambda t: t.reshape(t.shape[0], t.shape[1], 1, 1),
            3: lambda t: t[None], 4: lambda t: t}[x.ndim](x)
    axes = (1,) if mode == "CUDNN_SOFTMAX_MODE_CHANNEL" else (1, 2, 3)
    if mode not in ("CUDNN_SOFTMAX_MODE_CHANNEL", "CUDNN_SOFTMAX_MODE_INSTANCE"):
        raise call.fail(f"unknown mode {mode!r}")
    return _softmax(four, axes, algorithm == "CUDNN_SOFTMAX_LOG").reshape(x.shape)


@layer("nn.Maxout")
def maxout(m: T7Object, x, call: Call):
    """A Sequential subclass (Linear, View, [preprocess], Max): its children in order."""
    for i in range(len(call.children)):
        x = call.child(i, x)
    return x
