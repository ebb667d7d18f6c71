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
"""
from __future__ import annotations

from t7convert.conversion.dag import Lowering, Ref, lowers
from t7convert.conversion.fields import integer
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.ShaveImage")
def shave_image(m: T7Object, ctx) -> Node:
    size = integer(m, ctx, "size", default=1)
    if size < 0:
        raise ctx.fail(m, f"field size is {size}, must not be negative")
    return Node("ShaveImage", {"size": size})


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


@describes("nn.ShaveImage")
def _describe_shave(m: T7Object) -> str:
    return f"{m.class_name}({m.get('size', 1)})"
