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
"""
from __future__ import annotations

from dataclasses import dataclass

from t7convert.conversion.dag import Lowering, Ref, lowers
from t7convert.conversion.fields import integer
from t7convert.conversion.records import record
from t7convert.conversion.registry import converts, describes
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
