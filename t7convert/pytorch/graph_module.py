"""A converted DAG description built into a ``torch.fx.GraphModule`` (never stored: it is rebuilt
from plain data at load time, since unpickling a GraphModule would run generated code).

Each layer node is a ``call_module`` of a submodule named as the node (``m5_2``), so state_dict keys
are ``m5_2.weight``; a ``Table`` node is a ``call_function`` making a Python list (a Lua table), and a
reference to element ``i`` of a table is an ``operator.getitem``. Models whose forward takes or
returns tables take and return Python lists.
"""
from __future__ import annotations

import operator
from typing import Any

from torch import fx, nn

from t7convert.conversion.dag import TABLE_OP
from t7convert.conversion.tree import Node
from t7convert.pytorch.modules import build


def make_table(*values: Any) -> list:
    """A Lua table of values (ConcatTable's output)."""
    return list(values)


def build_graph_module(dag: dict[str, Any]) -> fx.GraphModule:
    """The module of a (checked) DAG description, with freshly initialised tensors (assign a state_dict)."""
    graph = fx.Graph()
    values: dict[str, fx.Node] = {"input": graph.placeholder("input")}
    items: dict[tuple[str, int], fx.Node] = {}
    modules: dict[str, nn.Module] = {}

    def value(ref: list) -> fx.Node:
        if len(ref) == 1:
            return values[ref[0]]
        key = (ref[0], int(ref[1]))
        if key not in items:
            items[key] = graph.call_function(operator.getitem, (values[ref[0]], key[1]))
        return items[key]

    for i, entry in enumerate(dag["nodes"]):
        name, args = entry["name"], tuple(value(r) for r in entry["args"])
        if entry["op"] == TABLE_OP:
            values[name] = graph.call_function(make_table, args)
            continue
        module = build(Node.from_spec(entry), f"graph.nodes[{i}]")  # children: a container kept whole
        modules[name] = module
        values[name] = graph.call_module(name, args)
    graph.output(value(dag["output"]))
    gm = fx.GraphModule(modules, graph, class_name="Torch7Graph")
    # Torch7 path -> the submodule whose output is that module's output (parity watches them)
    gm.t7_stages = {path: ref[0] for path, ref in dag.get("stages", {}).items()
                    if len(ref) == 1 and ref[0] in modules}
    return gm


def graph_stage_modules(gm: fx.GraphModule) -> list[tuple[str, nn.Module]]:
    """(Torch7 path, submodule whose output is that module's output) for the recorded stages."""
    return [(path, gm.get_submodule(name)) for path, name in getattr(gm, "t7_stages", {}).items()]

