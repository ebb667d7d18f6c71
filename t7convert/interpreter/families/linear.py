"""nn.Linear: ``y = W x + b`` for a vector or each row of a matrix (Torch7 accepts nothing else)."""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


@layer("nn.Linear")
def linear(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    weight = tensor(m, call.where, "weight")
    bias = tensor(m, call.where, "bias", required=False)
    if weight.ndim != 2:
        raise call.fail(f"weight should be 2-D, is {'x'.join(map(str, weight.shape))}")
    if x.shape[-1] != weight.shape[1]:
        raise call.fail(f"input has {x.shape[-1]} features, weight expects {weight.shape[1]}")
    if bias is not None and bias.size != weight.shape[0]:
        raise call.fail(f"bias has {bias.size} values for {weight.shape[0]} outputs")
    out = x @ weight.T
    if bias is not None:
        out += bias.reshape(-1)
    return out
