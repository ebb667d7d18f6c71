"""What a model that takes a table, or indices, is meant to be fed (for verification and parity).

An image trunk takes one tensor whose size can be searched for; a gModule takes a list of inputs
(char-rnn: the character indices, then prev_c/prev_h of every layer), and a language model takes
1-based token indices, not real numbers. Each input is described as ``{"shape": per-sample shape,
"index": V}`` (``index`` set when the values are token indices in 1..V, else absent; ``whole`` when the
shape includes the batch). The shapes come from, in order: what the model last ran on (a gModule saved
without ``clearState`` keeps its inputs in the innode's ``data.input``: taken whole, since Torch7
models also run on unbatched inputs), else the first layer each input reaches (a Linear's feature
count, a OneHot's or LookupTable's vocabulary).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.registry import input_hint
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

#: ops whose input is 1-based indices into a vocabulary of ``attrs[key]`` entries
INDEX_OPS = {"OneHot": "n", "LookupTable": "num"}
TOKENS = 5  # tokens per sequence a whole-sequence language model is verified on


def model_inputs(node: Node, model: T7Object) -> dict[str, Any] | None:
    """``{"table": bool, "inputs": [spec, ...]}`` for a model taking a table or indices; None otherwise."""
    if node.op == "gModule":
        return _gmodule_inputs(node, model)
    first = _first_leaf(node)
    if first is not None and first.op in INDEX_OPS:  # OneHot takes a vector of N indices; LookupTable N x T
        shape = [] if first.op == "OneHot" else [TOKENS]
        return {"table": False, "inputs": [{"shape": shape, "index": int(first.attrs[INDEX_OPS[first.op]])}]}
    return None


def _first_leaf(node: Node) -> Node | None:
    while node.children and node.op == "Sequential":
        node = node.children[0]
    return None if node.children else node


def _gmodule_inputs(node: Node, model: T7Object) -> dict[str, Any]:
    n = int(node.attrs["n_inputs"])
    saved = _saved_inputs(model, n)
    specs = []
    for i in range(n):
        hint = _hint(node, i)
        if saved is not None:  # exactly what it ran on, batch (or none) included
            hint = {**(hint or {}), "shape": list(saved[i].shape), "whole": True}
        specs.append(hint if hint is not None else {"shape": None})
    if n == 1 and specs[0]["shape"] is None and not specs[0].get("index"):
        return None  # one tensor in: the size search of an image model finds it (pix2pix's generator)
    return {"table": n > 1, "inputs": specs}


def _saved_inputs(model: T7Object, n: int) -> list[np.ndarray] | None:
    innode = model.get("innode")
    data = innode.get("data") if isinstance(innode, T7Object) else None
    given = data.get("input") if isinstance(data, dict) else None
    if isinstance(given, list) and len(given) == 1 and n > 1:
        given = given[0]
    if (isinstance(given, list) and len(given) == n
            and all(isinstance(t, np.ndarray) and t.ndim >= 1 and t.size for t in given)):
        return list(given)
    return None


def _hint(node: Node, i: int) -> dict[str, Any] | None:
    """From the first layer input ``i`` reaches through module-less nodes (splits, identities)."""
    nodes = node.attrs["nodes"]
    start = node.attrs["input"]
    frontier = [k for k, e in enumerate(nodes) if start in e["args"]]
    if int(node.attrs["n_inputs"]) > 1:  # innode -> split node -> selectindex i + 1
        frontier = [k for s in frontier for k, e in enumerate(nodes) if s in e["args"] and e["select"] == i + 1]
    seen = set()
    while frontier:
        k = frontier.pop(0)
        if k in seen:
            continue
        seen.add(k)
        e = nodes[k]
        if e["module"] is None:
            frontier += [j for j, f in enumerate(nodes) if k in f["args"]]
            continue
        leaf = node.children[e["module"]]
        if leaf.op in INDEX_OPS:
            return {"shape": [], "index": int(leaf.attrs[INDEX_OPS[leaf.op]])}
        if leaf.op == "Identity":
            frontier += [j for j, f in enumerate(nodes) if k in f["args"]]
            continue
        hint = input_hint(leaf.op, leaf.attrs)
        if isinstance(hint, tuple) and len(e["args"]) == 1:
            return {"shape": list(hint)}
    return None


def check_vocabulary(inputs: dict[str, Any] | None, extras: dict[str, Any]) -> None:
    """A checkpoint's vocabulary must have as many tokens as the model's index input takes; the state
    inputs no layer declares (char-rnn's prev_c meets a CMulTable first) are ``rnn_size`` vectors, as
    the checkpoint's options say (char-rnn's sample.lua makes them ``zeros(1, rnn_size)``)."""
    size = extras.get("rnn_size")
    if inputs is not None and extras.get("project") == "char-rnn" and isinstance(size, int):
        for spec in inputs["inputs"][1:]:
            if spec["shape"] is None:
                spec["shape"], spec["from_options"] = [size], True
    tokens = extras.get("tokens")
    sizes = [s["index"] for s in (inputs or {}).get("inputs", []) if s.get("index")]
    if tokens is not None and sizes and sizes[0] != len(tokens):
        where = "idx_to_token" if extras.get("project") == "torch-rnn" else "vocab"
        raise T7ConvertError(f"the checkpoint's {where} has {len(tokens)} tokens but the model's input takes "
                             f"indices 1..{sizes[0]}")
