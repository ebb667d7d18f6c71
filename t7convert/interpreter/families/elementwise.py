"""Element-wise layers: Threshold/ReLU, MulConstant, Dropout at test time, Identity; SoftMax and LogSoftMax.

In-place variants (``inplace`` true) really overwrite the array they receive and return it, as Torch7
overwrites its input tensor: that is how a BatchNorm's ``output`` ends up holding the ReLU's result in
Torch7, and the engine relies on it to reproduce what Torch7 leaves in each module.

SoftMax and LogSoftMax go over the axis Torch7 picks from the number of dimensions.

THNN (nn.SoftMax, nn.LogSoftMax): 1-D over the vector, 2-D over each row, 3-D over the first axis
(planes, per pixel), 4-D over the second (planes, per sample and pixel). cudnn's SoftMax/LogSoftMax
use ``CUDNN_SOFTMAX_MODE_INSTANCE``: over everything but the batch axis (for 3-D input, everything),
which differs from nn for 3-D and 4-D inputs.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, flag, number
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _tensor_in(m: T7Object, x, call: Call) -> np.ndarray:
    return array_input(x, m, where=call.where, ndims=tuple(range(0, 33)))


@layer("nn.Threshold", "nn.ReLU")
def threshold(m: T7Object, x, call: Call) -> np.ndarray:
    """THNN Threshold: ``x > threshold ? x : val`` (nn.ReLU is Threshold(0, 0)). Out of place NaN becomes
    ``val``; the in-place branch tests ``x <= threshold`` instead, which keeps NaN."""
    x = _tensor_in(m, x, call)
    default = 0 if m.class_name == "nn.ReLU" else 1e-6  # ReLU always constructs Threshold(0, 0)
    th = float(number(m, call.where, "threshold", default=default))
    val = float(number(m, call.where, "val", default=0))
    if flag(m, "inplace"):
        if val > th:  # Threshold:validateParameters refuses this
            raise call.fail(f"in-place threshold with val {val} above threshold {th}")
        x[x <= th] = val
        return x
    return np.where(x > th, x, val)


@layer("cudnn.ReLU")
def cudnn_relu(m: T7Object, x, call: Call) -> np.ndarray:
    """cudnn's activation: max(x, 0), NaN propagated; ``threshold``/``val`` fields play no part."""
    x = _tensor_in(m, x, call)
    if flag(m, "inplace"):
        np.maximum(x, 0.0, out=x)
        return x
    return np.maximum(x, 0.0)


@layer("nn.MulConstant")
def mul_constant(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor_in(m, x, call)
    c = float(number(m, call.where, "constant_scalar"))
    if flag(m, "inplace"):
        x *= c
        return x
    return x * c


@layer("nn.Dropout")
def dropout(m: T7Object, x, call: Call) -> np.ndarray:
    """Test-time Dropout: the input, times (1 - p) unless the module is version 2 (``v2`` true).

    Files from before ``v2`` existed have no such field: Lua's ``not self.v2`` is then true, so they
    scale, as the original Dropout did.
    """
    x = _tensor_in(m, x, call)
    if flag(m, "stochastic_inference"):
        raise call.fail("stochastic_inference is set: Torch7 drops units at test time, the output is random")
    p = float(number(m, call.where, "p", default=0.5))
    out = x if flag(m, "inplace") else x.copy()
    if p > 0 and not flag(m, "v2"):
        out *= 1 - p
    return out


@layer("fbnn.Dropout")
def fbnn_dropout(m: T7Object, x, call: Call) -> np.ndarray:
    """fbnn's Dropout always scales by (1 - p) at test time, into a new tensor."""
    x = _tensor_in(m, x, call)
    return x * (1 - float(number(m, call.where, "p", default=0.5)))


@layer("nn.Identity")
def identity(m: T7Object, x, call: Call):
    """The input itself (the same tensor or table, not a copy), as ``self.output = input`` does."""
    return x


_THNN_AXIS = {1: (0,), 2: (1,), 3: (0,), 4: (1,)}
_CUDNN_AXES = {1: (0,), 2: (1,), 3: (0, 1, 2), 4: (1, 2, 3)}


def _log_softmax(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    shifted = x - x.max(axis=axes, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axes, keepdims=True))


@layer("nn.SoftMax", "cudnn.SoftMax")
def softmax(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(1, 2, 3, 4))
    axes = (_CUDNN_AXES if m.class_name.startswith("cudnn.") else _THNN_AXIS)[x.ndim]
    return np.exp(_log_softmax(x, axes))


@layer("nn.LogSoftMax", "cudnn.LogSoftMax")
def log_softmax(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(1, 2, 3, 4))
    axes = (_CUDNN_AXES if m.class_name.startswith("cudnn.") else _THNN_AXIS)[x.ndim]
    return _log_softmax(x, axes)
