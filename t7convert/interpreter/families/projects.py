"""fast-neural-style's ShaveImage and TotalVariation, and the memory-efficient DenseNet's
DenseConnectLayerCustom, as their Lua code computes them (fast_neural_style/ShaveImage.lua,
TotalVariation.lua; liuzhuang13/DenseNet models/DenseConnectLayer.lua)."""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


@layer("nn.ShaveImage")
def shave_image(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(4,))
    s = integer(m, call.where, "size", default=1)
    h, w = x.shape[2], x.shape[3]
    if s < 0 or h - 2 * s < 1 or w - 2 * s < 1:
        raise call.fail(f"size {s} does not fit an input of {h}x{w}")
    return x[:, :, s:h - s, s:w - s].copy()


@layer("nn.TotalVariation")
def total_variation(m: T7Object, x, call: Call) -> np.ndarray:
    """updateOutput: ``self.output = input``."""
    return array_input(x, m, where=call.where, ndims=tuple(range(1, 9)))


@layer("nn.DenseConnectLayerCustom")
def dense_connect(m: T7Object, x, call: Call) -> list:
    if len(call.children) != 2:
        raise call.fail(f"has {len(call.children)} modules, expected net1 and net2")
    if isinstance(x, list):
        joined = np.concatenate([np.asarray(t) for t in x], axis=1)  # torch.cat(input_c, input, 2)
        return [*x, call.child(1, call.child(0, joined))]
    return [x, call.child(1, call.child(0, x))]
