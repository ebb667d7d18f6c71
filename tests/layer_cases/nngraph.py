"""nngraph gModules (several inputs and outputs, split outputs, a value used by several nodes, a nested
gModule, annotated nodes)."""
from __future__ import annotations

import nngraph_models as ng
import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def two_in_two_out():
    """x: N x 2 x 4 split in two; s = Linear(a) used three times; a nested gModule on {Tanh(s), y}."""
    inner = ng.Graph()
    u, v = inner.input(), inner.input()
    t = inner.node(M("nn.Tanh"), inner.node(tm.linear(4, 4), u))
    nested = inner.module([u, v], [inner.node(M("nn.CAddTable"), t, v),
                                   inner.node(M("nn.CMulTable"), t, inner.node(M("nn.Sigmoid"), v))])
    g = ng.Graph()
    x, y = g.input(), g.input()
    a, b = g.split(g.node(ng.split_table(2), x), 2)
    s = g.node(tm.linear(4, 4), a, name="shared linear")
    i1, i2 = g.split(g.node(nested, g.node(M("nn.Tanh"), s), g.node(M("nn.Identity"), y)), 2)
    z1 = g.node(M("nn.CAddTable"), i1, s, b)
    joined = g.node(M("nn.JoinTable", dimension=2), i2, g.node(M("nn.CSubTable"), b, s))
    z2 = g.node(M("nn.LogSoftMax"), g.node(tm.linear(8, 3), joined), name="logprobs")
    return g.module([x, y], [z1, z2], ran_on=[tm.f32(2, 2, 4), tm.f32(2, 4)])


def single():
    g = ng.Graph()
    x = g.input()
    return g.module([x], [g.node(M("nn.Tanh"), g.node(tm.linear(5, 3), x))])


CASES = [
    LayerCase("gmodule-two-in-two-out-nested-split", two_in_two_out, [(2, 2, 4), (2, 4)]),
    LayerCase("gmodule-single-tensor", single, (3, 5)),
]
