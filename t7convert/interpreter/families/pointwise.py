"""Element-wise transfer functions, as nn's Lua and THNN's C code compute them.

Sigmoid, Tanh (nn and cudnn), HardTanh, Clamp and ReLU6 (THNN HardTanh), LeakyReLU, ELU, SoftPlus,
SoftSign, LogSigmoid, TanhShrink, HardShrink, SoftShrink, Abs, Exp, Log, Power, Square, Sqrt, AddConstant
and SoftMin. Classes whose Lua code reads ``self.inplace`` (HardTanh, Clamp, ReLU6, LeakyReLU, ELU,
AddConstant, cudnn's Sigmoid and Tanh) overwrite the array they receive and return it when it is set.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, flag, number
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _tensor_in(m: T7Object, x, call: Call) -> np.ndarray:
    return array_input(x, m, where=call.where, ndims=tuple(range(1, 33)))


def _result(m: T7Object, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` as the output; written into ``x`` itself when the module is in-place."""
    if flag(m, "inplace"):
        x[...] = y
        return x
    return y


@layer("nn.Sigmoid")
def sigmoid(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor_in(m, x, call)
    return 1.0 / (1.0 + np.exp(-x))


@layer("cudnn.Sigmoid")
def cudnn_sigmoid(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor_in(m, x, call)
    return _result(m, x, 1.0 / (1.0 + np.exp(-x)))


@layer("nn.Tanh")
def tanh(m: T7Object, x, call: Call) -> np.ndarray:
    return np.tanh(_tensor_in(m, x, call))


@layer("cudnn.Tanh")
def cudnn_tanh(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor_in(m, x, call)
    return _result(m, x, np.tanh(x))


def _thnn_hardtanh(m: T7Object, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """THNN HardTanh_updateOutput. Out of place: ``x < min ? min : (x <= max ? x : max)`` (NaN -> max).
    In place, a contiguous tensor of 2+ dimensions runs ``if x < min .. else if x > max ..`` (NaN kept);
    a 1-D or non-contiguous one runs that loop and then, for want of an ``else``, the out-of-place one."""
    out_of_place = np.where(x < lo, lo, np.where(x <= hi, x, hi))
    if not flag(m, "inplace"):
        return out_of_place
    if x.ndim == 1 or not x.flags.c_contiguous:
        x[...] = out_of_place
    else:
        x[...] = np.where(x < lo, lo, np.where(x > hi, hi, x))
    return x


@layer("nn.HardTanh", "nn.Clamp")
def hardtanh(m: T7Object, x, call: Call) -> np.ndarray:
    """HardTanh:updateOutput sets ``min_val``/``max_val`` to -1/1 when nil; Clamp inherits it."""
    x = _tensor_in(m, x, call)
    lo = float(number(m, call.where, "min_val", default=-1))
    hi = float(number(m, call.where, "max_val", default=1))
    return _thnn_hardtanh(m, x, lo, hi)


@layer("nn.ReLU6")
def relu6(m: T7Object, x, call: Call) -> np.ndarray:
    """ReLU6 calls THNN HardTanh with bounds 0 and 6."""
    return _thnn_hardtanh(m, _tensor_in(m, x, call), 0.0, 6.0)


@layer("nn.LeakyReLU")
def leaky_relu(m: T7Object, x, call: Call) -> np.ndarray:
    """``x > 0 ? x : x * negval``; in place ``if x <= 0: x *= negval`` (the same values)."""
    x = _tensor_in(m, x, call)
    negval = float(number(m, call.where, "negval", default=1 / 100))
    return _result(m, x, np.where(x > 0, x, x * negval))


@layer("nn.ELU")
def elu(m: T7Object, x, call: Call) -> np.ndarray:
    """``x <= 0 ? (exp(x) - 1) * alpha : x``."""
    x = _tensor_in(m, x, call)
    alpha = float(number(m, call.where, "alpha", default=1))
    return _result(m, x, np.where(x <= 0, (np.exp(np.minimum(x, 0)) - 1) * alpha, x))


@layer("nn.SoftPlus")
def softplus(m: T7Object, x, call: Call) -> np.ndarray:
    """``x * beta > threshold ? x : log(1 + exp(beta x)) / beta`` (threshold 20 from the constructor)."""
    x = _tensor_in(m, x, call)
    beta = float(number(m, call.where, "beta", default=1))
    threshold = float(number(m, call.where, "threshold", default=20))
    bx = x * beta
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(np.where(bx > threshold, 0.0, bx))) / beta
    return np.where(bx > threshold, x, soft)


@layer("nn.SoftSign")
def softsign(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor_in(m, x, call)
    return x / (np.abs(x) + 1)


@layer("nn.LogSigmoid")
def log_sigmoid(m: T7Object, x, call: Call) -> np.ndarray:
    """THNN's log-sum-exp form: ``-(max(0, -x) + log(exp(-max(0, -x)) + exp(-x - max(0, -x))))``."""
    x = _tensor_in(m, x, call)
    top = np.maximum(0.0, -x)
    return -(top + np.log(np.exp(-top) + np.exp(-x - top)))


@layer("nn.TanhShrink")
def tanh_shrink(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor_in(m, x, call)
    return x - np.tanh(x)


@layer("nn.HardShrink")
def hard_shrink(m: T7Object, x, call: Call) -> np.ndarray:
    """``x > lambda or x < -lambda ? x : 0`` (NaN gives 0)."""
    x = _tensor_in(m, x, call)
    lam = float(number(m, call.where, "lambda", default=0.5))
    return np.where((x > lam) | (x < -lam), x, 0.0)


@layer("nn.SoftShrink")
def soft_shrink(m: T7Object, x, call: Call) -> np.ndarray:
    """``x > lambda ? x - lambda : x < -lambda ? x + lambda : 0`` (NaN gives 0)."""
    x = _tensor_in(m, x, call)
    lam = float(number(m, call.where, "lambda", default=0.5))
    return np.where(x > lam, x - lam, np.where(x < -lam, x + lam, 0.0))


@layer("nn.Abs")
def absolute(m: T7Object, x, call: Call) -> np.ndarray:
    return np.abs(_tensor_in(m, x, call))


@layer("nn.Exp")
def exponential(m: T7Object, x, call: Call) -> np.ndarray:
    return np.exp(_tensor_in(m, x, call))


@layer("nn.Log")
def logarithm(m: T7Object, x, call: Call) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_tensor_in(m, x, call))


@layer("nn.Power")
def power(m: T7Object, x, call: Call) -> np.ndarray:
    """``self.output:pow(self.pow)``; ``pow`` has no default (the constructor refuses nil)."""
    x = _tensor_in(m, x, call)
    p = float(number(m, call.where, "pow"))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.power(x, p)


@layer("nn.Square")
def square(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor_in(m, x, call)
    return x * x


@layer("nn.Sqrt")
def sqrt(m: T7Object, x, call: Call) -> np.ndarray:
    """THNN Sqrt_updateOutput takes ``eps`` but never uses it: ``y = sqrt(x)``."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(_tensor_in(m, x, call))


@layer("nn.AddConstant")
def add_constant(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor_in(m, x, call)
    c = m.get("constant_scalar")
    if isinstance(c, np.ndarray):
        raise call.fail("a tensor constant_scalar is not supported")
    c = float(number(m, call.where, "constant_scalar"))
    if flag(m, "inplace"):
        x += c
        return x
    return x + c


_SOFTMAX_AXIS = {1: 0, 2: 1, 3: 0, 4: 1}  # THNN SoftMax: the vector, each row, the planes (3-D and 4-D)


@layer("nn.SoftMin")
def softmin(m: T7Object, x, call: Call) -> np.ndarray:
    """THNN SoftMax of ``-x``."""
    x = array_input(x, m, where=call.where, ndims=(1, 2, 3, 4))
    axis = _SOFTMAX_AXIS[x.ndim]
    neg = -x
    e = np.exp(neg - neg.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
