"""fast-neural-style's ShaveImage and TotalVariation, the memory-efficient DenseNet's
DenseConnectLayerCustom, dpnn's Convert, dqn's Rectifier and deepmask's SpatialSymmetricPadding,
SpatialConstDiagonal, DeepMask and SharpMask, as their Lua code computes them (fast_neural_style/
ShaveImage.lua, TotalVariation.lua; liuzhuang13/DenseNet models/DenseConnectLayer.lua; dpnn Convert.lua;
deepmind/dqn dqn/Rectifier.lua; facebookresearch/deepmask SpatialSymmetricPadding.lua, modelUtils.lua,
DeepMask.lua, SharpMask.lua)."""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call, child_path
from t7convert.interpreter.fields import array_input, flag, integer, tensor
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


@layer("nn.Rectifier")
def rectifier(m: T7Object, x, call: Call) -> np.ndarray:
    """``self.output:resizeAs(input):copy(input):abs():add(input):div(2)``."""
    x = array_input(x, m, where=call.where, ndims=tuple(range(1, 9)))
    out = np.abs(x)
    with np.errstate(invalid="ignore"):  # -inf: inf + -inf is NaN, as in C
        out += x
    out /= 2
    return out


@layer("nn.SpatialSymmetricPadding")
def symmetric_padding(m: T7Object, x, call: Call) -> np.ndarray:
    """updateOutput, step by step: zeros of the padded size; the input, cropped where a pad is
    negative, copied into the middle; then the Lua loops in their order, top rows, bottom rows, left
    columns, right columns, each a copy of a row (column) of the output as it is at that moment."""
    x = array_input(x, m, where=call.where, ndims=(4,))
    pl, pr, pt, pb = (integer(m, call.where, f"pad_{s}") for s in "lrtb")
    h = x.shape[2] + pt + pb
    w = x.shape[3] + pl + pr
    if w < 1 or h < 1:
        raise call.fail("input is too small")
    out = np.zeros((x.shape[0], x.shape[1], h, w))
    c_in = x
    if pt < 0:
        c_in = _narrow(call, c_in, 2, -pt, c_in.shape[2] + pt)
    if pb < 0:
        c_in = _narrow(call, c_in, 2, 0, c_in.shape[2] + pb)
    if pl < 0:
        c_in = _narrow(call, c_in, 3, -pl, c_in.shape[3] + pl)
    if pr < 0:
        c_in = _narrow(call, c_in, 3, 0, c_in.shape[3] + pr)
    top, left = max(pt, 0), max(pl, 0)
    rows, cols = h - top - max(pb, 0), w - left - max(pr, 0)
    if rows < 1 or cols < 1:
        raise call.fail("input is too small")
    out[:, :, top:top + rows, left:left + cols] = c_in
    if w < 2 * pl or w < 2 * pr or h < 2 * pt or h < 2 * pb:
        raise call.fail("input is too small")
    for i in range(1, pt + 1):      # output:narrow(3, pt-i+1, 1):copy(output:narrow(3, i+pt, 1))
        out[:, :, pt - i + 1 - 1] = out[:, :, i + pt - 1]
    for i in range(1, pb + 1):      # narrow(3, H-pb+i, 1) <- narrow(3, H-pb-i+1, 1)
        out[:, :, h - pb + i - 1] = out[:, :, h - pb - i + 1 - 1]
    for i in range(1, pl + 1):
        out[:, :, :, pl - i + 1 - 1] = out[:, :, :, i + pl - 1]
    for i in range(1, pr + 1):
        out[:, :, :, w - pr + i - 1] = out[:, :, :, w - pr - i + 1 - 1]
    return out


def _narrow(call: Call, t: np.ndarray, dim: int, first: int, size: int) -> np.ndarray:
    """``t:narrow(dim+1, first+1, size)``: TH refuses a size below 1 or past the end."""
    if size < 1 or first + size > t.shape[dim]:
        raise call.fail("input is too small")
    index = [slice(None)] * t.ndim
    index[dim] = slice(first, first + size)
    return t[tuple(index)]


@layer("nn.SpatialConstDiagonal")
def const_diagonal(m: T7Object, x, call: Call) -> np.ndarray:
    """modelUtils.lua: output = input (the input itself when ``inplace``), ``cmul(a:expandAs(input))``,
    ``add(b:expandAs(input))``; expandAs needs the input's dimensions and a's sizes 1 or equal."""
    x = array_input(x, m, where=call.where, ndims=(4,))
    a, b = tensor(m, call.where, "a"), tensor(m, call.where, "b")
    for t in (a, b):
        if t.ndim != 4 or any(s != 1 and s != n for s, n in zip(t.shape, x.shape)):
            raise call.fail(f"cannot expand {'x'.join(map(str, t.shape))} as the input "
                            f"{'x'.join(map(str, x.shape))}")
    out = x if flag(m, "inplace") else x.copy()
    out *= a
    out += b
    return out


def _field_module(m: T7Object, call: Call, name: str) -> T7Object:
    value = m.get(name)
    if not isinstance(value, T7Object):
        raise call.fail(f"field {name} holds no module")
    return value


@layer("nn.DeepMask")
def deepmask(m: T7Object, x, call: Call) -> list:
    """No updateOutput of its own: TrainerDeepMask and InferDeepMask run ``trunk`` and then each head on
    its output; t7convert's convention is the table ``{mask, score}`` (paths ``modules[1..3]``)."""
    trunk = call.engine.forward(_field_module(m, call, "trunk"), x, child_path(call.path, 0))
    mask = call.engine.forward(_field_module(m, call, "maskBranch"), trunk, child_path(call.path, 1))
    score = call.engine.forward(_field_module(m, call, "scoreBranch"), trunk, child_path(call.path, 2))
    return [mask, score]


@layer("nn.SharpMask")
def sharpmask(m: T7Object, x, call: Call) -> np.ndarray:
    """SharpMask:forward: ``trunk:forward(input)``; ``refs[0]`` on its output; for k = 1..#refs,
    ``refs[k]:forward({trunk.modules[skpos[k]].output, current})``. The trunk's modules run here one by
    one (an nn.Sequential's forward) so that each one's ``output`` (the array it returned, later
    in-place writes included, as in Torch7) can be read afterwards."""
    trunk = _field_module(m, call, "trunk")
    if trunk.class_name != "nn.Sequential":
        raise call.fail(f"trunk is a {trunk.class_name}")
    refs, skpos = m.get("refs"), m.get("skpos")
    if not isinstance(refs, dict) or not isinstance(refs.get(0), T7Object):
        raise call.fail("refs has no refs[0]")
    n_refs = 0
    while n_refs + 1 in refs:  # #self.refs
        n_refs += 1
    skpos = list(np.asarray(skpos).reshape(-1)) if isinstance(skpos, (list, np.ndarray)) else []
    trunk_path = child_path(call.path, 0)
    layers = call.engine.children(trunk)
    outputs = []
    y = x
    for i, child in enumerate(layers):
        y = call.engine.forward(child, y, child_path(trunk_path, i))
        outputs.append(y)
    current = call.engine.forward(refs[0], y, child_path(call.path, 1))
    for k in range(1, n_refs + 1):
        if k > len(skpos) or not 1 <= int(skpos[k - 1]) <= len(outputs) or int(skpos[k - 1]) != skpos[k - 1]:
            raise call.fail(f"skpos[{k}] names no module of the trunk")
        f = outputs[int(skpos[k - 1]) - 1]
        current = call.engine.forward(refs[k], [f, current], child_path(call.path, k + 1))
    return current


def _onmt_net(m: T7Object, call: Call) -> T7Object:
    net = m.get("net")
    if not isinstance(net, T7Object):
        raise call.fail("has no net")
    return net


@layer("onmt.Network", "onmt.LSTM", "onmt.GRU", "onmt.WordEmbedding", "onmt.GlobalAttention")
def onmt_network(m: T7Object, x, call: Call):
    """OpenNMT's Network.lua: ``self.output = self.net:updateOutput(input)`` (net is also modules[1])."""
    return call.engine.forward(_onmt_net(m, call), x, child_path(call.path, 0))


@layer("onmt.Generator")
def onmt_generator(m: T7Object, x, call: Call):
    """Generator.lua as each version wrote it: version 2 ``input = type(input) == 'table' and input[1] or
    input`` then ``net``; no version and a ConcatTable net: ``net(input)``; the first Generator
    (Sequential net): ``{net(input)}``."""
    net = _onmt_net(m, call)
    version = m.get("version")
    if version == 2:
        return call.engine.forward(net, x[0] if isinstance(x, list) else x, child_path(call.path, 0))
    if version is not None:
        raise call.fail(f"unknown version {version!r}")
    y = call.engine.forward(net, x, child_path(call.path, 0))
    return y if net.class_name == "nn.ConcatTable" else [y]
