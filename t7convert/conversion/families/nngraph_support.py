"""Table and index layers the nngraph and language-model checkpoints use (a minimal set, to be merged
with the table family): SplitTable, CMulTable, CSubTable, char-rnn's OneHot, LookupTable.

``nn.SplitTable(dimension, nInputDims)`` selects along ``dimension`` (shifted by one when the input has
``nInputDims + 1`` dimensions, counted from the end when negative); char-rnn's ``OneHot(V)``
(``util/OneHot.lua``) maps a vector of N 1-based indices to N x V rows of its ``_eye``;
``nn.LookupTable`` maps indices to rows of ``weight`` (nIndex x nOutput).
"""
from __future__ import annotations

from t7convert.conversion.fields import integer, optional_integer, tensor
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.SplitTable")
def split_table(m: T7Object, ctx) -> Node:
    return Node("SplitTable", {"dim": integer(m, ctx, "dimension"), "n_input_dims": optional_integer(m, ctx, "nInputDims")})


@converts("nn.CMulTable")
def cmul_table(m: T7Object, ctx) -> Node:
    return Node("CMulTable")


@converts("nn.CSubTable")
def csub_table(m: T7Object, ctx) -> Node:
    return Node("CSubTable")


@converts("OneHot")
def one_hot(m: T7Object, ctx) -> Node:
    size = integer(m, ctx, "outputSize")
    if size < 1:
        raise ctx.fail(m, f"field outputSize is {size}, not a positive size")
    return Node("OneHot", {"size": size})


@converts("nn.LookupTable")
def lookup_table(m: T7Object, ctx) -> Node:
    weight = tensor(m, ctx, "weight")
    if weight.ndim != 2:
        raise ctx.fail(m, f"weight has shape {weight.shape}, expected (nIndex, nOutput)")
    if m.get("maxNorm") is not None:
        raise ctx.fail(m, "field maxNorm is set: Torch7 renormalises the weight rows in place on every forward")
    # paddingValue only stops gradients (accGradParameters); the forward is a plain row lookup
    return Node("LookupTable", {"n_index": int(weight.shape[0]), "size": int(weight.shape[1])}, {"weight": weight})


@describes("nn.SplitTable")
def _describe_split(m: T7Object) -> str:
    return f"nn.SplitTable({m.get('dimension')})"


@describes("OneHot")
def _describe_onehot(m: T7Object) -> str:
    return f"OneHot({m.get('outputSize')})"


@describes("nn.LookupTable")
def _describe_lookup(m: T7Object) -> str:
    w = m.get("weight")
    return f"nn.LookupTable({w.shape[0]} -> {w.shape[1]})" if getattr(w, "ndim", 0) == 2 else m.class_name
