"""nngraph's ``nn.gModule``: a DAG of modules, converted to nodes of the stored DAG description.

How a saved gModule is laid out (torch/nngraph ``gmodule.lua``, ``node.lua``): ``forwardnodes`` is a
topological order of the forward graph's ``nngraph.Node`` objects. Each node's ``data`` table holds
its ``module`` (absent for the graph's dummy input and output nodes and for the nodes ``:split(n)``
makes), ``mapindex`` (``mapindex[i]`` is the ``data`` table of the node feeding argument i: the
argument order of a node with several inputs), ``selectindex`` (a ``:split`` output: element i of the
table its one input outputs), ``nSplitOutputs`` and ``annotations`` (``name`` where the user gave one).
``innode`` is the dummy input node (its output is the gModule's input: the tensor, or the table of
``nInputs`` inputs), ``outnode`` the dummy output node (its inputs, in ``mapindex`` order, are the
outputs; one output is returned bare, several as a table). The modules are ``self.modules`` in the
order their nodes come in ``forwardnodes``, so a node's module is ``modules[k]`` for the k-th node
with a module: its Torch7 path, and the converted state_dict key (below).

Lua's ``neteval``: a node with one input passes that value to its module, with several the list of
them; a node without a module outputs its input (the list where there are several).

State_dict keys: the layer of nngraph node ``modules[k]`` is named ``m<k>`` (``m<k>_<j>`` inside a
nested gModule at ``modules[k].modules[j]``), followed by ``_<name>`` when the node is annotated with
a ``name`` (characters outside ``[A-Za-z0-9_]`` become ``_``): ``m3.weight``, ``m3_enc1.weight``.
Lua tables the graph builds (a node's several inputs, several outputs) are ``Table`` nodes named
``<prefix>n<id>_in`` after the nngraph node id, and carry no tensors.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from t7convert.conversion.dag import Lowering, Ref, lowers, module_name
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object
from t7convert.torch7.format.values import lua_sequence

OP = "gModule"


@dataclass
class _Entry:
    """One forward node as the converter reads it (its position in ``forwardnodes`` is its index)."""

    id: Any
    data: dict
    module: int | None      # 0-based index into the gModule's modules
    args: list[int]         # indices of the entries feeding it, in mapindex order
    select: int | None      # 1-based selectindex of a split output
    n_split: int | None
    name: str | None


def node_label(node: T7Object, data: dict) -> str:
    """``nngraph node 12 ('enc1')``: how errors name a node (its id and annotation name)."""
    annotations = data.get("annotations") if isinstance(data, dict) else None
    name = annotations.get("name") if isinstance(annotations, dict) else None
    nid = node.get("id") if isinstance(node, T7Object) else None
    nid = nid if isinstance(nid, (int, float)) and not isinstance(nid, bool) else ascii(nid)[:40]
    return f"nngraph node {nid}" + (f" ({ascii(name[:40])})" if isinstance(name, str) else "")


def _whole(m: T7Object, ctx, value: Any, what: str, low: int, high: int) -> int:
    """A count or index the graph stores: a whole number from ``low`` to ``high`` (NaN, inf, a string
    or a billion inputs is the file's fault, said in one line)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or int(value) != value or not low <= value <= high:
        raise ctx.fail(m, f"{what} is {ascii(value)[:40]}, not a whole number from {low:,} to {high:,}")
    return int(value)


def _sequence(value: Any) -> list:
    if isinstance(value, list):
        return list(value)
    return lua_sequence(value) if isinstance(value, dict) else []


def _module_index(modules: list, module: Any, ordinal: int) -> int | None:
    """The place of a node's module in ``modules``: the ordinal-th (nngraph adds them in node order),
    else the first identical one (a module a script put in two nodes), else the ordinal-th when it is
    of the same class (dpnn's Serial writes the node's module and the list entry as two copies), else
    None. The node's own ``data.module`` is what Lua runs, so it is what is converted."""
    if ordinal < len(modules) and modules[ordinal] is module:
        return ordinal
    same = next((i for i, c in enumerate(modules) if c is module), None)
    if same is None and ordinal < len(modules) and isinstance(module, T7Object) \
            and getattr(modules[ordinal], "class_name", None) == module.class_name:
        return ordinal
    return same


def _entries(m: T7Object, ctx) -> tuple[list[_Entry], int, int]:
    """The forward nodes in order, and the indices of the input and output nodes."""
    nodes = m.get("forwardnodes")
    if not isinstance(nodes, list) or not nodes:
        raise ctx.fail(m, "field 'forwardnodes' is missing or empty (a gModule saved without its graph)")
    modules = m.children
    place: dict[int, int] = {}
    out: list[_Entry] = []
    ordinal = 0
    for i, node in enumerate(nodes):
        data = node.get("data") if isinstance(node, T7Object) else None
        if not isinstance(data, dict):
            raise ctx.fail(m, f"forwardnodes[{i + 1}] is not an nngraph.Node with a data table")
        label = node_label(node, data)
        module, index = data.get("module"), None
        if module is not None:
            index = _module_index(modules, module, ordinal)
            if index is None:
                raise ctx.fail(m, f"{label}: field 'data.module' ({getattr(module, 'class_name', type(module).__name__)}) "
                                  "is not one of the gModule's modules")
            ordinal += 1
        args = []
        for j, parent in enumerate(_sequence(data.get("mapindex"))):
            if id(parent) not in place:
                raise ctx.fail(m, f"{label}: field 'data.mapindex[{j + 1}]' refers to a node that does not come "
                                  "before it in forwardnodes (a cycle, or an edge to a node outside the graph)")
            args.append(place[id(parent)])
        select = data.get("selectindex")
        if select is not None:
            select = _whole(m, ctx, select, f"{label}: field 'data.selectindex'", 1, len(nodes))
        nid = node.get("id")
        if nid is not None:
            nid = _whole(m, ctx, nid, f"forwardnodes[{i + 1}]: field 'id'", -(1 << 53), 1 << 53)
        entry = _Entry(nid, data, index, args, select, data.get("nSplitOutputs"), _annotation(data))
        if entry.select is not None:
            _check_select(m, ctx, entry, out, label)
        place[id(data)] = i
        out.append(entry)
    return out, _find(m, ctx, "innode", place), _find(m, ctx, "outnode", place)


def _annotation(data: dict) -> str | None:
    annotations = data.get("annotations")
    name = annotations.get("name") if isinstance(annotations, dict) else None
    return name if isinstance(name, str) and name else None


def _check_select(m: T7Object, ctx, entry: _Entry, done: list[_Entry], label: str) -> None:
    if entry.module is not None or len(entry.args) != 1:
        raise ctx.fail(m, f"{label}: a split output (field 'data.selectindex') must have no module and one input")
    n = done[entry.args[0]].n_split
    if entry.select < 1 or (isinstance(n, (int, float)) and entry.select > n):
        raise ctx.fail(m, f"{label}: field 'data.selectindex' is {entry.select}, past the split(" f"{n}) it takes")


def _find(m: T7Object, ctx, field: str, place: dict[int, int]) -> int:
    node = m.get(field)
    data = node.get("data") if isinstance(node, T7Object) else None
    if id(data) not in place:
        raise ctx.fail(m, f"field '{field}' is not one of forwardnodes")
    return place[id(data)]


@converts("nn.gModule")
def gmodule(m: T7Object, ctx) -> Node:
    """The graph as plain data (``attrs.nodes``, in forwardnodes order), the modules as children."""
    entries, first, last = _entries(m, ctx)
    if entries[first].args:
        raise ctx.fail(m, f"{node_label(m.get('innode'), entries[first].data)}: the input node has inputs")
    n_inputs = m.get("nInputs")
    if n_inputs is None:  # nngraph's fallback for old files: #innode.children
        n_inputs = len(_sequence(m.get("innode").get("children")))
    # each input is a node of the graph: a count past the nodes the file holds is none it can back
    n_inputs = _whole(m, ctx, n_inputs, "field 'nInputs'", 1, len(entries))
    modules = list(m.children)
    for e in entries:  # Lua runs each node's data.module: a copy apart from the list is what counts
        if e.module is not None:
            modules[e.module] = e.data["module"]
    children = [ctx.child(c, i) for i, c in enumerate(modules, 1)]
    nodes = []
    for e in entries:
        if e.module is None and e.select is None and not e.args and e is not entries[first]:
            raise ctx.fail(m, f"nngraph node {e.id}: a node without module or inputs")
        nodes.append({"id": e.id, "module": e.module, "args": e.args,
                      "select": e.select, "name": e.name})
    return Node(OP, {"nodes": nodes, "input": first, "output": last, "n_inputs": n_inputs}, children=children)


def _safe(name: str) -> str:
    """An annotation as part of a node name: ASCII word characters, at most 64 (names have a bound)."""
    return re.sub(r"\W", "_", name[:64], flags=re.ASCII)


@lowers(OP)
def _lower(g: Lowering, node: Node, x: Ref) -> Ref:
    """Each nngraph node in forwardnodes order: a module node (its inputs tabled when several), a split
    output an element reference, a module-less node its input (or the table of its inputs)."""
    prefix = module_name(node.source)
    prefix = "" if prefix == "m" else prefix + "_"
    values: list[Ref] = []
    for k, e in enumerate(node.attrs["nodes"]):
        args = [values[a] for a in e["args"]]
        if k == node.attrs["input"]:
            value = x
        elif e["select"] is not None:
            value = _element(g, args[0], e["select"] - 1, f"{prefix}n{_id(e, k)}")
        elif len(args) == 1:
            value = args[0]
        else:
            value = g.table(args, name=f"{prefix}n{_id(e, k)}_in")
        if e["module"] is not None:
            child = node.children[e["module"]]
            suffix = f"_{_safe(e['name'])}" if e["name"] else ""
            value = g.lower(child, value, suffix=suffix)
        values.append(value)
    return values[node.attrs["output"]]


def _id(entry: dict, k: int) -> str:
    return str(int(entry["id"])) if entry["id"] is not None else f"x{k}"


def _element(g: Lowering, ref: Ref, index0: int, name: str) -> Ref:
    """Element ``index0`` of the table ``ref`` holds; a reference into an element is first given a node
    of its own (an Identity), since references go one table deep."""
    if len(ref) > 1:
        ref = g.add(Node("Identity"), [ref], name=name + "_table")
    return [ref[0], index0]


@describes("nn.gModule")
def _describe(m: T7Object) -> str:
    nodes = m.get("forwardnodes")
    count = len(nodes) if isinstance(nodes, list) else "?"
    return f"nn.gModule({m.get('nInputs')} inputs, {count} nodes, {len(m.children)} modules)"
