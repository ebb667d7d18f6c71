"""SoftMax and LogSoftMax, over the axis Torch7 picks from the number of dimensions.

THNN (nn.SoftMax, nn.LogSoftMax): 1-D over the vector, 2-D over each row, 3-D over the first axis
(planes, per pixel), 4-D over the second (planes, per sample and pixel). cudnn's SoftMax/LogSoftMax
use ``CUDNN_SOFTMAX_MODE_INSTANCE``: over everything but the batch axis (for 3-D input, everything),
which differs from nn for 3-D and 4-D inputs.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object

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
