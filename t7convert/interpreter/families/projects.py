"""fast-neural-style's ShaveImage and TotalVariation, the memory-efficient DenseNet's
DenseConnectLayerCustom and dpnn's Convert, as their Lua code computes them (fast_neural_style/
ShaveImage.lua, TotalVariation.lua; liuzhuang13/DenseNet models/DenseConnectLayer.lua; dpnn Convert.lua)."""
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


@layer("nn.Convert")
def convert_shapes(m: T7Object, x, call: Call) -> np.ndarray:
    """updateOutput: a sample (fewer dimensions than the input shape names) gets a batch axis of 1 at
    the input shape's ``b``; the converter (``modules[1]``, built by the first forward) runs; the batch
    axis is taken out at the output shape's ``b``."""
    if not call.children:
        raise call.fail("holds no converter (it never ran a forward)")
    in_shape, out_shape = m.get("inputShape"), m.get("outputShape")
    if isinstance(in_shape, bytes):
        in_shape = in_shape.decode("latin-1")
    if isinstance(out_shape, bytes):
        out_shape = out_shape.decode("latin-1")
    if not isinstance(in_shape, str) or not isinstance(out_shape, str) or "b" not in in_shape + out_shape:
        raise call.fail("has no inputShape/outputShape with a batch axis")
    x = array_input(x, m, where=call.where, ndims=tuple(range(1, 9)))
    if x.ndim >= len(in_shape):
        return call.child(0, x)
    y = call.child(0, np.expand_dims(x, in_shape.index("b")))
    return np.squeeze(y, axis=out_shape.index("b"))
