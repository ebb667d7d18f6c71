"""Reference execution of nngraph's ``nn.gModule``, from ``gmodule.lua``'s ``runForwardFunction``.

Walks ``forwardnodes`` in their stored (topological) order, as Lua does. Each node's inputs are
collected in a per-node buffer indexed by ``child.data.mapindex[node.data]`` (the slot the parent's
``data`` table is mapped to), exactly as ``propagate`` fills ``child.data.input``; a node with a
``selectindex`` passes on element ``selectindex`` of its single (table) input; otherwise a node with
one input gives that value to its module, with several the list, and a node without a module outputs
what it was given. The gModule's input is the innode's input list (``{input}`` when ``nInputs <= 1``);
its output is the outnode's input list, unwrapped when the outnode has a single input. Each module runs
at its place in ``modules`` (the k-th module node is ``modules[k]``), so its output is recorded at that
path; what runs is the node's own ``data.module``, as in Lua.
"""
from __future__ import annotations

from typing import Any

from t7convert.interpreter.engine import Call, child_path
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object
from t7convert.torch7.format.values import lua_sequence


def _lua_list(table: Any) -> list:
    """``table[1] .. table[n]`` (Lua's ipairs) of a Lua table the reader gave as a list or a dict."""
    if isinstance(table, list):
        return list(table)
    return lua_sequence(table) if isinstance(table, dict) else []


def _describe(node: Any) -> str:
    data = node.get("data") if isinstance(node, T7Object) else None
    notes = data.get("annotations") if isinstance(data, dict) else None
    name = notes.get("name") if isinstance(notes, dict) else None
    return f"nngraph node {node.get('id') if isinstance(node, T7Object) else '?'}" + (f" ({name!r})" if name else "")


class _Places:
    """Which child index runs a node's module: gModule:__init adds the modules in node order."""

    def __init__(self, modules: list) -> None:
        self.modules, self.next = modules, 0

    def of(self, module: Any, call: Call, node: Any) -> int:
        if self.next < len(self.modules) and self.modules[self.next] is module:
            place = self.next
        else:
            place = next((i for i, c in enumerate(self.modules) if c is module), -1)
        if place < 0 and self.next < len(self.modules) and isinstance(module, T7Object) \
                and getattr(self.modules[self.next], "class_name", None) == module.class_name:
            place = self.next  # a copy of the list's entry (dpnn's Serial writes them apart)
        if place < 0:
            raise call.fail(f"{_describe(node)}: its data.module is not in the gModule's modules")
        self.next += 1
        return place


@layer("nn.gModule")
def gmodule(m: T7Object, x, call: Call):
    nodes = m.get("forwardnodes")
    innode, outnode = m.get("innode"), m.get("outnode")
    if not isinstance(nodes, list) or not isinstance(innode, T7Object) or not isinstance(outnode, T7Object):
        raise call.fail("lacks forwardnodes, innode or outnode")
    n_inputs = m.get("nInputs")
    if n_inputs is None:
        n_inputs = len(_lua_list(innode.get("children")))
    given = [x] if n_inputs <= 1 else x
    if not isinstance(given, list) or len(given) != n_inputs:
        raise call.fail(f"expects a table of {n_inputs} inputs")
    inputs: dict[int, dict[int, Any]] = {id(innode.get("data")): dict(enumerate(given, 1))}
    places = _Places(call.children)
    for node in nodes:
        data = node.get("data")
        slots = inputs.get(id(data), {})
        received = [slots[i] for i in range(1, len(slots) + 1) if i in slots]
        if len(received) != len(slots):
            raise call.fail(f"{_describe(node)}: its inputs are not filled 1..{len(slots)}")
        out = _evaluate(node, data, received, places, call)
        for child in _lua_list(node.get("children")):
            cdata = child.get("data")
            slot = cdata.get("mapindex", {}).get(data) if isinstance(cdata, dict) else None
            if slot is None:
                raise call.fail(f"{_describe(child)}: its mapindex has no entry for {_describe(node)}")
            box = inputs.setdefault(id(cdata), {})
            if slot in box:
                raise call.fail(f"{_describe(child)}: input {slot} has two sources")
            box[int(slot)] = out
    final = inputs.get(id(outnode.get("data")), {})
    result = [final[i] for i in range(1, len(final) + 1)]
    return result[0] if len(_lua_list(outnode.get("children"))) == 1 else result


def _evaluate(node: T7Object, data: dict, received: list, places: _Places, call: Call):
    """One node of ``neteval``: a split output's element, or the module (or identity) on the inputs."""
    select = data.get("selectindex")
    if select is not None:
        if len(received) != 1 or not isinstance(received[0], list):
            raise call.fail(f"{_describe(node)}: a split output needs one table input")
        if not 1 <= int(select) <= len(received[0]):
            raise call.fail(f"{_describe(node)}: selectindex {select} is past the {len(received[0])} values split")
        return received[0][int(select) - 1]
    value = received[0] if len(received) == 1 else received
    module = data.get("module")
    if module is None:
        return value
    # Lua runs data.module itself; its place in modules names its path
    return call.engine.forward(module, value, child_path(call.path, places.of(module, call, node)))
