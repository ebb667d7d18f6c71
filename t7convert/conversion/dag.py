"""The converted graph as a DAG: nodes with input edges, what a converted generic file stores.

The converters give a tree (:mod:`t7convert.conversion.tree`: containers hold their children), which
is what the canonical recognition pattern-matches. A tree cannot say where a value goes (char-rnn's
gates, pix2pix's skips), so what is stored and built is this lowering of it: every layer is a node
``{name, op, attrs, args, source}`` whose ``args`` are references to the values it consumes
(``["input"]`` for the graph input, ``[name]`` for a node's output, ``[name, i]`` for element ``i`` of
a table a node outputs). A Sequential becomes a chain; ConcatTable fans out into a ``Table`` node
(a Lua table of its branches' outputs) that CAddTable or JoinTable consume; Concat fans out and joins.
``stages`` maps each Torch7 path to the value that module outputs, so parity can watch them.

Torch7 modules write in place: ``ReLU(true)`` overwrites the tensor it receives, so every module that
reads that tensor afterwards (a pix2pix skip connection taken before ``LeakyReLU(0.2, true)``, the
second branch of a ConcatTable whose first branch starts with an in-place layer) reads the result. The
lowering follows that: after a node that mutates its input (:attr:`Node.mutates`), a reference to the
overwritten value resolves to the node's output, and a table holding it is re-made with it. (A mutation
through a view of another shape, a View's output, is not followed; the verification catches it.)

Node names come from the Torch7 path (``modules[5].modules[2]`` -> ``m5_2``; the root itself is
``m``): they are the torch module names, so state_dict keys are ``m5_2.weight``, predictable from the
Torch7 file. Lowering of containers is registered per op (:func:`lowers`), so a new container family
adds its own rule in its family file.
"""
from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.common.registry import Registry
from t7convert.conversion.tree import Node

Ref = list  # ["input"] | [name] | [name, index]
INPUT: Ref = ["input"]
#: ops that are plain functions of their arguments in the built graph (torch.fx call_function)
TABLE_OP = "Table"

Lowerer = Callable[["Lowering", Node, Ref], Ref]
LOWERERS: Registry[Lowerer] = Registry("DAG lowering")

#: ``@lowers(op)`` files how a container op of the tree becomes nodes of the DAG:
#: ``fn(lowering, node, x) -> ref`` (``x`` is the reference to the container's input).
lowers = LOWERERS.register


def module_name(source: str) -> str:
    """``modules[5].modules[2]`` -> ``m5_2``: the torch module name of the layer at a Torch7 path."""
    indices = re.findall(r"modules\[(\d+)\]", source)
    return "m" + ("_".join(indices) if indices else "")


class Lowering:
    """Builds the DAG of one tree: its nodes, the state_dict arrays under their keys, the stages."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.state: dict[str, np.ndarray] = {}
        self.stages: dict[str, Ref] = {}
        #: Torch7 path -> the value that module received, in the order they were lowered (a module reading
        #: another module's state from the same forward, as nn.SpatialMaxUnpooling does, takes it from here)
        self.inputs: dict[str, Ref] = {}
        self._names: set[str] = {"input"}
        #: a value Torch7 overwrote in place -> the value it holds from then on
        self._now: dict[tuple, Ref] = {}
        self._tables: dict[str, list[Ref]] = {}  # Table node name -> its elements (as resolved then)
        self._stale: set[str] = set()  # tables an element of which was overwritten since they were made
        self._alias: dict[tuple, tuple] = {}  # a value that is another's very tensor (nn.Identity) -> it

    def _element(self, ref: Ref) -> Ref:
        """An element reference into a table this lowering made is that element's own value."""
        if len(ref) == 2 and ref[0] in self._tables and isinstance(ref[1], int) \
                and 0 <= ref[1] < len(self._tables[ref[0]]):
            return self._tables[ref[0]][ref[1]]
        return ref

    def current(self, ref: Ref) -> Ref:
        """What ``ref`` holds now, after the in-place writes lowered so far."""
        under = self._element(ref)
        if under is not ref and tuple(self.current(under)) != tuple(under):
            return self.current(under)  # an element overwritten since its table was made
        seen: set[tuple] = set()
        while True:
            if len(ref) == 1 and ref[0] in self._stale:  # re-made, on first use, with what it holds now
                self._stale.discard(ref[0])
                self._now[tuple(ref)] = self.table(self._tables[ref[0]], name=ref[0] + "_now")
            if tuple(ref) not in self._now or tuple(ref) in seen:
                return ref
            seen.add(tuple(ref))
            ref = self._now[tuple(ref)]

    def _overwritten(self, target: Ref, value: Ref) -> None:
        """``target`` (a tensor value) now holds ``value``: later reads of it, and of tables holding it,
        read ``value``."""
        base = self._root(tuple(self._element(target)))
        same = {base} | {a for a in self._alias if self._root(a) == base}  # every name of that tensor
        for ref in same - {tuple(value)}:
            self._now[ref] = value
        self._stale.update(name for name, elements in self._tables.items()
                           if any(tuple(e) in same for e in elements))

    def _root(self, ref: tuple) -> tuple:
        while ref in self._alias:
            ref = self._alias[ref]
        return ref

    def _written(self, x: Ref, mutates: str) -> Ref | None:
        """The value an in-place node overwrites: its input, or the first element of its input table
        (None when that table is not one this lowering made)."""
        if mutates == "input":
            return x
        elements = self._tables.get(x[0]) if len(x) == 1 else None
        return self.current(elements[0]) if elements else None

    def _name(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_v{k}"
        self._names.add(name)
        return name

    def add(self, node: Node, args: list[Ref], *, name: str = "", suffix: str = "") -> Ref:
        """A layer node consuming ``args``; its tensors go to the state under ``name.tensor``. Its name
        is ``name``, else the Torch7 path's (:func:`module_name`) followed by ``suffix``."""
        name = self._name(name or module_name(node.source) + suffix)
        args = [self.current(a) for a in args]
        entry: dict[str, Any] = {"name": name, "op": node.op, "args": [list(a) for a in args]}
        if node.attrs:
            entry["attrs"] = dict(node.attrs)
        if node.source:
            entry["source"] = node.source
        self.nodes.append(entry)
        for key, array in node.tensors.items():
            self.state[f"{name}.{key}"] = array
        return [name]

    def add_whole(self, node: Node, args: list[Ref]) -> Ref:
        """A container kept as one module (MapTable): its children stored as a tree in its entry,
        their tensors under ``name.0.weight`` (the module's own naming of its children)."""
        ref = self.add(Node(node.op, node.attrs, source=node.source), args)
        self.nodes[-1]["children"] = [c.spec() for c in node.children]
        for key, array in node.state_arrays().items():
            self.state[f"{ref[0]}.{key}"] = array
        return ref

    def table(self, refs: list[Ref], source: str = "", *, name: str = "") -> Ref:
        """A Lua table of values (a ConcatTable's output), made by a plain function."""
        name = self._name(name or (module_name(source) if source else "t") + "_table")
        refs = [self.current(r) for r in refs]
        self.nodes.append({"name": name, "op": TABLE_OP, "args": [list(r) for r in refs]})
        self._tables[name] = refs
        return [name]

    def lower(self, node: Node, x: Ref, *, suffix: str = "") -> Ref:
        """The nodes of ``node`` on the value ``x``; a layer's name gets ``suffix`` (an nngraph annotation)."""
        fn = LOWERERS.get(node.op)
        if node.source:
            self.inputs.setdefault(node.source, x)
        if fn is None and node.children:  # a container op must say how its children connect
            raise T7ConvertError(f"{node.source or '<root>'}: no DAG lowering is registered for the container op {node.op}")
        if fn is None and node.mutates == "alias":
            out = self.add(node, [x], suffix=suffix)
            self._alias[tuple(out)] = tuple(self.current(x))
        elif fn is None and node.mutates:
            target = self._written(self.current(x), node.mutates)
            out = self.add(node, [x], suffix=suffix)
            if target is not None:
                self._overwritten(target, out)  # CAddTable(true)'s output is input[1], holding the sum
        else:
            out = fn(self, node, x) if fn is not None else self.add(node, [x], suffix=suffix)
        if node.source:
            self.stages.setdefault(node.source, out)
        return out


@lowers("Sequential")
def _sequential(g: Lowering, node: Node, x: Ref) -> Ref:
    for child in node.children:
        x = g.lower(child, x)
    return x


@lowers("ConcatTable")
def _concat_table(g: Lowering, node: Node, x: Ref) -> Ref:
    return g.table([g.lower(child, x) for child in node.children], node.source)


@lowers("Concat")
def _concat(g: Lowering, node: Node, x: Ref) -> Ref:
    """Every child on the same input, joined along the absolute 1-based dimension."""
    parts = g.table([g.lower(child, x) for child in node.children], node.source)
    return g.add(Node("CatTable", {"dim": node.attrs["dim"]}, source=node.source), [parts])


def lower(tree: Node) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the DAG description, the state_dict arrays by key) of a converted tree."""
    g = Lowering()
    out = g.lower(tree, INPUT)
    return {"nodes": g.nodes, "output": out, "stages": g.stages}, g.state
