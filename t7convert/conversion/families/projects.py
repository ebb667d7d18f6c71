"""The popular projects' own classes, registered by the global names their files hold:

* jcjohnson/fast-neural-style: ``nn.ShaveImage`` (crops ``size`` pixels from every border of a 4-D
  batch, fast_neural_style/ShaveImage.lua) and ``nn.TotalVariation`` (a regulariser whose forward is
  the input, fast_neural_style/TotalVariation.lua); its ``nn.InstanceNormalization`` is in
  ``normalization.py``.
* liuzhuang13/DenseNet (models/DenseConnectLayer.lua): ``nn.DenseConnectLayerCustom``, the memory-
  efficient dense layer. Given a tensor it outputs ``{x, net2(net1(x))}``; given a table ``{t1..tk}``
  it outputs ``{t1..tk, net2(net1(cat(t, 2)))}``, the join along Torch7's absolute dimension 2. It
  stays one module (``DenseConnect`` holding net1 and net2), because what it does depends on whether
  its input is a table, which the previous layer decides.
* Element-Research/dpnn (Convert.lua): ``nn.Convert(inputShape, outputShape)``, a container whose
  converter (``modules[1]``: a Reshape, a Transpose...) its first forward built; an input with fewer
  than ``nInputDim`` dimensions gets a batch dimension of 1 at ``inputBatchDim`` for the converter, and
  loses it at ``outputBatchDim`` after. A Convert that never ran holds no converter (Torch7 would build
  it from the first input), and is refused.
* deepmind/dqn (dqn/Rectifier.lua): ``nn.Rectifier``, ``(|x| + x) / 2`` element-wise, which is not
  ReLU's ``max(0, x)`` at the edges: -inf gives NaN (``inf - inf``), and in float32 an x above half the
  largest float gives inf (``|x| + x`` overflows before the halving).
* facebookresearch/deepmask (SpatialSymmetricPadding.lua, modelUtils.lua, DeepMask.lua, SharpMask.lua):
  ``nn.SpatialSymmetricPadding(l, r, t, b)`` mirrors the border rows and columns *including* the edge
  (``cba|abcd``; a negative pad crops), filled side by side in Lua's order (top, bottom, left, right),
  each padded row a copy of one already written; ``nn.SpatialConstDiagonal`` (what modelUtils'
  ``BNtoFixed`` puts in place of every batch normalisation: ``x * a + b`` per plane, in place when its
  ``inplace`` field says so); ``nn.DeepMask``, an nn.Container with no forward of its own whose trainer
  and inference run ``trunk`` then each head: converted as its two outputs ``{maskBranch(trunk(x)),
  scoreBranch(trunk(x))}``; ``nn.SharpMask``, whose ``forward`` runs the ``trunk`` keeping each module's
  output, then ``refs[0]`` and each ``refs[k]`` on ``{trunk.modules[skpos[k]].output, previous}``.
* karpathy/neuraltalk2 (misc/LanguageModel.lua): its ``nn.LanguageModel`` (told from torch-rnn's by
  its ``core`` and ``lookup_table`` fields; torch-rnn's converter hands it here) unrolls its one-step
  LSTM ``core`` over ``seq_length + 2`` steps and leaves the output of the steps it skips (a time step
  whose tokens are all 0) as its memory held them: refused, naming the parts that convert.
* OpenNMT/OpenNMT (lua, onmt/modules): ``onmt.Network`` (Network.lua: an nn.Container whose forward is
  its ``net``, also ``modules[1]``) and the subclasses that keep that forward: ``onmt.LSTM`` and
  ``onmt.GRU`` (one step of the stacked cell, an nngraph gModule), ``onmt.WordEmbedding`` (a
  LookupTable), ``onmt.GlobalAttention`` (a gModule on ``{ht, context}``). ``onmt.Generator`` has had
  three forwards, told apart by its fields: ``version`` 2 takes the first element of a table input and
  runs its ConcatTable ``net``; without ``version`` a ConcatTable ``net`` runs on the input as it is; an
  older ``net`` (Linear, LogSoftMax) outputs the table ``{net(input)}``. The encoders and decoders
  (``onmt.Encoder``, ``onmt.BiEncoder``, ``onmt.Decoder``) loop over time steps with clones of their
  network: not plain compositions, they need a plugin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.dag import Lowering, Ref, lowers
from t7convert.conversion.fields import flag, integer, long_list, tensor
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input_of_children
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.ShaveImage")
def shave_image(m: T7Object, ctx) -> Node:
    size = integer(m, ctx, "size", default=1)
    if size < 0:
        raise ctx.fail(m, f"field size is {size}, must not be negative")
    return Node("ShaveImage", ShaveImageRecord(size=size))


@converts("nn.TotalVariation")
def total_variation(m: T7Object, ctx) -> Node:
    """Its forward copies the input (the loss only enters through the backward pass)."""
    return Node("Identity")


@converts("nn.DenseConnectLayerCustom")
def dense_connect(m: T7Object, ctx) -> Node:
    net1, net2 = m.get("net1"), m.get("net2")
    kids = m.children
    if not isinstance(net1, T7Object) or not isinstance(net2, T7Object):
        if len(kids) != 2:
            raise ctx.fail(m, f"has {len(kids)} modules, expected net1 and net2")
        net1, net2 = kids
    return Node("DenseConnect", children=[ctx.child(net1, 1), ctx.child(net2, 2)])


@lowers("DenseConnect")
def _lower_dense_connect(g: Lowering, node: Node, x: Ref) -> Ref:
    return g.add_whole(node, [x])


@converts("nn.Convert")
def convert_shapes(m: T7Object, ctx) -> Node:
    kids = m.children
    if not kids:
        raise ctx.fail(m, "holds no converter: it never ran a forward, which is where dpnn builds it "
                          "from the input; run one in Torch7 and save again")
    in_shape, out_shape = m.get("inputShape"), m.get("outputShape")
    if not isinstance(in_shape, (str, bytes)) or not isinstance(out_shape, (str, bytes)):
        raise ctx.fail(m, "has no inputShape/outputShape strings")
    in_shape, out_shape = _text(in_shape), _text(out_shape)
    if "b" not in in_shape or "b" not in out_shape:
        raise ctx.fail(m, f"shapes {in_shape!r} -> {out_shape!r} have no batch axis b")
    return Node("Convert", ConvertRecord(n_input_dim=len(in_shape), in_batch_dim=in_shape.index("b") + 1,
                                         out_batch_dim=out_shape.index("b") + 1), children=[ctx.child(kids[0], 1)])


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


@lowers("Convert")
def _lower_convert(g: Lowering, node: Node, x: Ref) -> Ref:
    return g.add_whole(node, [x])


@describes("nn.Convert")
def _describe_convert(m: T7Object) -> str:
    return f"{m.class_name}({m.get('inputShape')!s}, {m.get('outputShape')!s})"


@describes("nn.ShaveImage")
def _describe_shave(m: T7Object) -> str:
    return f"{m.class_name}({m.get('size', 1)})"


# --- deepmind/dqn --------------------------------------------------------------------------------
@converts("nn.Rectifier")
def rectifier(m: T7Object, ctx) -> Node:
    """Rectifier.lua's updateOutput: ``output:copy(input):abs():add(input):div(2)``."""
    return Node("Rectifier")


# --- facebookresearch/deepmask and SharpMask --------------------------------------------------------
@converts("nn.SpatialSymmetricPadding")
def symmetric_padding(m: T7Object, ctx) -> Node:
    pads = [integer(m, ctx, f"pad_{side}") for side in "lrtb"]
    if any(abs(p) > MAX_EXTENT for p in pads):
        raise ctx.fail(m, f"pads {pads} are beyond any image")
    return Node("SymmetricPadding", SymmetricPaddingRecord(*pads))


@converts("nn.SpatialConstDiagonal")
def const_diagonal(m: T7Object, ctx) -> Node:
    """modelUtils.lua: ``output = input * a + b``, ``a`` and ``b`` of size 1xCx1x1 expanded as the
    input (so the input is a 4-D batch of C planes, or C is 1)."""
    a = tensor(m, ctx, "a")
    b = tensor(m, ctx, "b")
    if a.ndim != 4 or a.shape[0] != 1 or a.shape[2:] != (1, 1) or b.shape != a.shape:
        raise ctx.fail(m, f"a {tuple(a.shape)} and b {tuple(b.shape)} are not both 1xCx1x1")
    return Node("ConstDiagonal", ConstDiagonalRecord(planes=int(a.shape[1])),
                {"a": np.ascontiguousarray(a), "b": np.ascontiguousarray(b)})


def _module_field(m: T7Object, ctx, name: str) -> T7Object:
    value = m.get(name)
    if not isinstance(value, T7Object):
        raise ctx.fail(m, f"has no module in field {name}")
    return value


@converts("nn.DeepMask")
def deepmask(m: T7Object, ctx) -> Node:
    """``{maskBranch(trunk(x)), scoreBranch(trunk(x))}``: the trunk at ``modules[1]``, the heads at
    ``modules[2]`` and ``modules[3]`` (the Torch7 module keeps them in fields, not in ``modules``)."""
    trunk = ctx.child(_module_field(m, ctx, "trunk"), 1)
    heads = [ctx.child(_module_field(m, ctx, "maskBranch"), 2), ctx.child(_module_field(m, ctx, "scoreBranch"), 3)]
    return Node("Sequential", children=[trunk, Node("ConcatTable", children=heads)])


def _lua_sequence(value) -> list:
    """``value[1] .. value[n]`` of a Lua table up to its first hole (what ``#`` and ``ipairs`` walk)."""
    if isinstance(value, list):
        return list(value)
    if not isinstance(value, dict):
        return []
    out = []
    while len(out) + 1 in value:
        out.append(value[len(out) + 1])
    return out


@converts("nn.SharpMask")
def sharpmask(m: T7Object, ctx) -> Node:
    """SharpMask.lua's forward: the trunk (an nn.Sequential) keeping each module's output, ``refs[0]`` on
    its output, then ``refs[k]`` for k = 1..#refs on ``{trunk.modules[skpos[k]].output, previous}``.
    Torch7 reads ``.output`` after the whole trunk ran, so a module followed by an in-place one is refused
    (its output field no longer holds what it produced). Children: the trunk (``modules[1]``), ``refs[0]``
    (``modules[2]``), ``refs[k]`` (``modules[k + 2]``)."""
    trunk = _module_field(m, ctx, "trunk")
    if trunk.class_name != "nn.Sequential":
        raise ctx.fail(m, f"its trunk is a {trunk.class_name}, not the nn.Sequential SharpMask.lua indexes")
    refs = m.get("refs")
    if not isinstance(refs, dict) or not isinstance(refs.get(0), T7Object):
        raise ctx.fail(m, "field refs has no refs[0] module")
    later = _lua_sequence(refs)
    skips = long_list(m, ctx, "skpos")
    layers = trunk.children
    if len(skips) < len(later):
        raise ctx.fail(m, f"has {len(later)} refinement modules and {len(skips)} skpos entries")
    skips = skips[:len(later)]
    for k, p in enumerate(skips, 1):
        if not 1 <= p <= len(layers):
            raise ctx.fail(m, f"skpos[{k}] = {p} is not a module of its {len(layers)}-module trunk")
        nxt = layers[p] if p < len(layers) else None
        if isinstance(nxt, T7Object) and flag(nxt, "inplace"):
            raise ctx.fail(m, f"skpos[{k}] reads trunk.modules[{p}].output, which the in-place "
                              f"{nxt.class_name} after it overwrites: Torch7 reads the overwritten value")
    if not all(isinstance(r, T7Object) for r in later):
        raise ctx.fail(m, "refs holds something that is not a module")
    children = [ctx.child(trunk, 1), ctx.child(refs[0], 2)] + [ctx.child(r, k + 2) for k, r in enumerate(later, 1)]
    return Node("SharpMask", SharpMaskRecord(skips=skips), children=children)


@lowers("SharpMask")
def _lower_sharpmask(g: Lowering, node: Node, x: Ref) -> Ref:
    """A plain composition of its children in the DAG: each trunk module's value is kept, and a
    refinement's table reads it as it is at that point (``g.table`` follows in-place writes, as Torch7's
    ``.output`` field would)."""
    trunk, first, *refs = node.children
    outputs = []
    for layer in trunk.children:
        x = g.lower(layer, x)
        outputs.append(x)
    x = g.lower(first, x)
    for p, ref in zip(node.attrs["skips"], refs):
        x = g.lower(ref, g.table([outputs[p - 1], x], ref.source))
    return x


@expects_input_of_children("SharpMask")
def _sharpmask_input(attrs: dict, children: list[Node], hint) -> object:
    return hint(children[0]) if children else None


# --- karpathy/neuraltalk2 ---------------------------------------------------------------------------
def is_neuraltalk2_language_model(m: T7Object) -> bool:
    """neuraltalk2's nn.LanguageModel holds ``core`` and ``lookup_table``; torch-rnn's holds ``net``."""
    return isinstance(m.get("core"), T7Object) and isinstance(m.get("lookup_table"), T7Object)


def neuraltalk2_language_model(m: T7Object, ctx) -> Node:
    raise ctx.fail(m, "is neuraltalk2's LanguageModel (fields core, lookup_table): its forward unrolls the "
                      "one-step LSTM gModule core over seq_length + 2 steps (the image feature, the START "
                      "token, then the caption's tokens) and leaves the output of a step whose tokens are all "
                      "0 as its memory held it, which no converted module can reproduce; its parts convert: "
                      "the core with --key protos.lm.core ({x, c1, h1, ...} -> {c1, h1, ..., log-probabilities})"
                      " and the word vectors with --key protos.lm.lookup_table")


# --- OpenNMT (lua) ------------------------------------------------------------------------------------
def _onmt_net(m: T7Object, ctx) -> T7Object:
    net = m.get("net")
    if not isinstance(net, T7Object):
        raise ctx.fail(m, "has no net module (onmt.Network's forward is its net)")
    kids = m.children
    if kids and kids[0] is not net:
        raise ctx.fail(m, "its modules[1] is not its net: not the onmt.Network layout")
    return net


@converts("onmt.Network", "onmt.LSTM", "onmt.GRU", "onmt.WordEmbedding", "onmt.GlobalAttention")
def onmt_network(m: T7Object, ctx) -> Node:
    """Network.lua: ``self.output = self.net:updateOutput(input)``: the net itself, at ``modules[1]``."""
    return Node("Sequential", children=[ctx.child(_onmt_net(m, ctx), 1)])


@converts("onmt.Generator")
def onmt_generator(m: T7Object, ctx) -> Node:
    net = _onmt_net(m, ctx)
    version = m.get("version")
    if version is not None and version != 2:
        raise ctx.fail(m, f"has version {version!r}; the onmt.Generator forwards known are version 2 and none")
    if version == 2:  # input = type(input) == 'table' and input[1] or input
        return Node("Sequential", children=[Node("FirstIfTable"), ctx.child(net, 1)])
    if net.class_name == "nn.ConcatTable":
        return Node("Sequential", children=[ctx.child(net, 1)])
    return Node("ConcatTable", children=[ctx.child(net, 1)])  # self.output = {self.net:updateOutput(input)}


@describes("nn.SpatialSymmetricPadding")
def _describe_symmetric(m: T7Object) -> str:
    return f"{m.class_name}(l={m.get('pad_l')}, r={m.get('pad_r')}, t={m.get('pad_t')}, b={m.get('pad_b')})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("Convert")
@dataclass(frozen=True)
class ConvertRecord:
    """What a Convert node stores."""

    in_batch_dim: int
    n_input_dim: int
    out_batch_dim: int


@record("DenseConnect")
@dataclass(frozen=True)
class DenseConnectRecord:
    """A DenseConnect node stores no attributes."""


@record("ShaveImage")
@dataclass(frozen=True)
class ShaveImageRecord:
    """What a ShaveImage node stores."""

    size: int


@record("Rectifier")
@dataclass(frozen=True)
class RectifierRecord:
    """A Rectifier node stores no attributes."""


@record("SymmetricPadding")
@dataclass(frozen=True)
class SymmetricPaddingRecord:
    """What a SymmetricPadding node stores: the pads left, right, top, bottom (negative: a crop)."""

    pad_l: int = bounded(-MAX_EXTENT, MAX_EXTENT)
    pad_r: int = bounded(-MAX_EXTENT, MAX_EXTENT)
    pad_t: int = bounded(-MAX_EXTENT, MAX_EXTENT)
    pad_b: int = bounded(-MAX_EXTENT, MAX_EXTENT)


@record("ConstDiagonal")
@dataclass(frozen=True)
class ConstDiagonalRecord:
    """What a ConstDiagonal node stores (its tensors ``a`` and ``b`` are 1 x planes x 1 x 1)."""

    planes: int = bounded(1, MAX_EXTENT)


@record("SharpMask")
@dataclass(frozen=True)
class SharpMaskRecord:
    """What a SharpMask node stores: ``skpos`` (1-based trunk positions), one per refinement module."""

    skips: list[int] = bounded(1, MAX_EXTENT, length=(0, 64))


@record("FirstIfTable")
@dataclass(frozen=True)
class FirstIfTableRecord:
    """A FirstIfTable node (a table's first element, a tensor as it is) stores no attributes."""
