"""nngraph gModules built in Python with the layout nngraph's Lua gives a saved file (torch/nngraph
``gmodule.lua``, ``node.lua``): ``nngraph.Node`` objects whose ``data`` tables hold the module,
``mapindex`` (``{1 = parent data, parent data = 1, ...}``), ``selectindex`` / ``nSplitOutputs`` for
``:split``, ``annotations``; ``children`` tables ``{1 = node, node = 1}``; the dummy input node (split
into one select node per input when there are several) and output node (``gModule.outnode`` is the
backward graph's copy: the same data, the outputs as children); ``forwardnodes`` in topological
order; ``modules`` in node order.

    g = Graph()
    x, y = g.input(), g.input()
    h = g.node(tm.linear(4, 3), x, name="enc")
    a, b = g.split(g.node(split_table(2), y), 2)
    model = g.module([x, y], [h, a])
"""
from __future__ import annotations

import numpy as np
import torch7_models as tm

from t7convert.torch7.format import T7Object
from t7convert.torch7.format.values import T7List, T7Table


class Graph:
    def __init__(self) -> None:
        self.nodes: list[T7Object] = []

    def _new(self, inputs: tuple[T7Object, ...], **data) -> T7Object:
        fields = T7Table({k: v for k, v in data.items() if v is not None})
        fields["annotations"] = T7Table(fields.get("annotations") or {})
        fields["mapindex"] = T7Table()
        fields["input"] = T7List()
        node = T7Object("nngraph.Node", 1, {"data": fields, "children": T7Table(), "id": len(self.nodes) + 1,
                                            "marked": False, "visited": False})
        for parent in inputs:
            _connect(parent, node)
        self.nodes.append(node)
        return node

    def input(self) -> T7Object:
        """``nn.Identity()()``: a graph input."""
        return self._new((), module=tm.module("nn.Identity"))

    def node(self, module: T7Object | None, *inputs: T7Object, name: str | None = None) -> T7Object:
        return self._new(inputs, module=module, annotations={"name": name} if name else None)

    def split(self, node: T7Object, n: int) -> list[T7Object]:
        m = self._new((node,), nSplitOutputs=n)
        return [self._new((m,), selectindex=i) for i in range(1, n + 1)]

    def module(self, inputs: list[T7Object], outputs: list[T7Object], ran_on: list[np.ndarray] | None = None
               ) -> T7Object:
        """The gModule: dummy in/out nodes added, forwardnodes sorted topologically. ``ran_on``: the
        inputs of a last forward, left in the innode's ``data.input`` as a file saved without
        clearState keeps them."""
        innode = self._new(())
        if ran_on is not None:
            innode.fields["data"]["input"] = T7List(ran_on)
        heads = [innode] if len(inputs) == 1 else self.split(innode, len(inputs))
        for head, x in zip(heads, inputs):  # the inputs' Identity nodes take the innode's value
            _connect(head, x)
        outnode = self._new(tuple(outputs))
        order = _topsort(self.nodes, innode, outnode)
        # gModule.outnode is the backward graph's node: the same data, the outputs as its children
        kids = T7Table({i: n for i, n in enumerate(outputs, 1)})
        kids.update({n: i for i, n in enumerate(outputs, 1)})
        bg_out = T7Object("nngraph.Node", 1, {"data": outnode.fields["data"], "children": kids,
                                              "id": outnode.fields["id"], "marked": False, "visited": False})
        modules = [n.fields["data"]["module"] for n in order if n.fields["data"].get("module") is not None]
        return tm.module("nn.gModule", forwardnodes=T7List(order), innode=innode, outnode=bg_out,
                         nInputs=len(inputs), modules=T7List(modules), output=np.empty(0, np.float32))


def _connect(parent: T7Object, child: T7Object) -> None:
    data, cdata = parent.fields["data"], child.fields["data"]
    mapindex = cdata["mapindex"]
    n = sum(1 for k in mapindex if type(k) is int) + 1
    mapindex[n] = data
    mapindex[data] = n
    kids = parent.fields["children"]
    k = sum(1 for key in kids if type(key) is int) + 1
    kids[k] = child
    kids[child] = k


def _topsort(nodes: list[T7Object], innode: T7Object, outnode: T7Object) -> list[T7Object]:
    """Parents before children, starting from the input node (as graph's topsort gives)."""
    reachable, order, done = set(), [], set()

    def kids(n: T7Object) -> list[T7Object]:
        table = n.fields["children"]
        return [table[i] for i in sorted(k for k in table if type(k) is int)]

    stack = [innode]
    while stack:
        n = stack.pop()
        if id(n) not in reachable:
            reachable.add(id(n))
            stack += kids(n)

    def parents(n: T7Object) -> list[T7Object]:
        datas = [n.fields["data"]["mapindex"][i] for i in sorted(k for k in n.fields["data"]["mapindex"]
                                                                   if type(k) is int)]
        return [p for p in nodes if any(p.fields["data"] is d for d in datas)]

    def visit(n: T7Object) -> None:
        if id(n) in done:
            return
        for p in parents(n):
            visit(p)
        done.add(id(n))
        order.append(n)

    visit(outnode)
    return [n for n in order if id(n) in reachable]


def split_table(dim: int, n_input_dims: int | None = None) -> T7Object:
    fields = {"dimension": dim}
    if n_input_dims is not None:
        fields["nInputDims"] = n_input_dims
    return tm.module("nn.SplitTable", **fields)
