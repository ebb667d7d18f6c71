"""torch-rnn's recurrent layers (jcjohnson/torch-rnn ``LSTM.lua``, ``VanillaRNN.lua``) and its
``nn.LanguageModel`` (``LanguageModel.lua``).

torch-rnn's ``nn.LSTM(D, H)`` (not Element-Research's class of the same name) keeps one weight
``(D + H) x 4H`` (rows 1..D multiply the input, D+1..D+H the previous h) and a bias ``4H``; at each step
``a = x Wx + h Wh + b`` and its four column blocks are the gates in the order **i, f, o, g**
(sigmoid, sigmoid, sigmoid, tanh), ``c = f * c + i * g``, ``h = o * tanh(c)``. ``torch.nn.LSTM``
computes the same with gates in the order i, f, g, o and weights ``(4H, D)``: so
``weight_ih = Wx^T`` and ``weight_hh = Wh^T`` with their row blocks permuted **[i, f, o, g] -> [i, f, g,
o]** (blocks 0, 1, 3, 2), ``bias_ih`` = b permuted the same way, ``bias_hh`` = 0: the mapping is exact.
``nn.VanillaRNN(D, H)``: ``h = tanh(x Wx + h Wh + b)``, weight ``(D + H) x H``: ``torch.nn.RNN`` (tanh)
with ``weight_ih = Wx^T``, ``weight_hh = Wh^T``, ``bias_ih = b``, ``bias_hh = 0``. Both take N x T x D
and return the N x T x H hidden states; the converted layers start from zero states at every forward
(what ``resetStates()`` gives; the states a training run remembered are not in a cleared checkpoint).

``nn.LanguageModel``'s forward is its ``net`` (LookupTable, the recurrent layers with Dropout and
BatchNormalization between them, View, Linear, View) with the Views resized to ``(N*T, -1)`` and
``(N, T, -1)`` for each input: converted as the chain of those layers, the Linear applied to every
step (what the two Views around it do), N x T token indices in, N x T x V scores out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.dag import Lowering, Ref, lowers
from t7convert.conversion.families import projects
from t7convert.conversion.families.rnnlib import rnn_lstm
from t7convert.conversion.fields import integer, tensor
from t7convert.conversion.records import record
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

#: torch-rnn's gate blocks (i, f, o, g) in torch.nn.LSTM's order (i, f, g, o)
LSTM_GATE_ORDER = (0, 1, 3, 2)


def _sizes(m: T7Object, ctx, gates: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    d, h = integer(m, ctx, "input_dim"), integer(m, ctx, "hidden_dim")
    if d < 1 or h < 1:
        raise ctx.fail(m, f"fields input_dim {d} and hidden_dim {h} must be positive")
    weight = tensor(m, ctx, "weight")
    if weight.shape != (d + h, gates * h):
        raise ctx.fail(m, f"weight has shape {weight.shape}, expected (input_dim + hidden_dim, {gates} * hidden_dim) "
                          f"= {(d + h, gates * h)} (torch-rnn's layout)")
    bias = tensor(m, ctx, "bias", shape=(gates * h,))
    return d, h, weight, bias


def _gates(a: np.ndarray, h: int, order: tuple[int, ...]) -> np.ndarray:
    """Row blocks of ``a`` (4H x ...) reordered."""
    return np.ascontiguousarray(np.concatenate([a[k * h:(k + 1) * h] for k in order]))


@converts("nn.LSTM")
def lstm(m: T7Object, ctx) -> Node:
    """torch-rnn's nn.LSTM (fields input_dim, hidden_dim, weight), or Element-Research rnn's class of the
    same name (fields recurrentModule, outputSize, no hidden_dim): :func:`.rnnlib.rnn_lstm`."""
    rnn_fields = m.get("recurrentModule") is not None and m.get("outputSize") is not None
    if rnn_fields and m.get("hidden_dim") is None:
        return rnn_lstm(m, ctx)
    if m.get("recurrentModule") is not None or m.get("hidden_dim") is None:
        raise ctx.fail(m, "is neither torch-rnn's nn.LSTM (input_dim, hidden_dim, weight (D+H) x 4H) nor "
                          "Element-Research rnn's (recurrentModule, outputSize)")
    d, h, w, b = _sizes(m, ctx, 4)
    tensors = {"weight_ih_l0": _gates(w[:d].T, h, LSTM_GATE_ORDER), "weight_hh_l0": _gates(w[d:].T, h, LSTM_GATE_ORDER),
               "bias_ih_l0": _gates(b, h, LSTM_GATE_ORDER), "bias_hh_l0": np.zeros(4 * h, np.float32)}
    return Node("TorchRNNLSTM", TorchRNNLSTMRecord(input_size=d, hidden_size=h), tensors)


@converts("nn.VanillaRNN")
def vanilla_rnn(m: T7Object, ctx) -> Node:
    d, h, w, b = _sizes(m, ctx, 1)
    tensors = {"weight_ih_l0": np.ascontiguousarray(w[:d].T), "weight_hh_l0": np.ascontiguousarray(w[d:].T),
               "bias_ih_l0": np.ascontiguousarray(b), "bias_hh_l0": np.zeros(h, np.float32)}
    return Node("TorchRNNVanilla", TorchRNNVanillaRecord(input_size=d, hidden_size=h), tensors)


@converts("nn.LanguageModel")
def language_model(m: T7Object, ctx) -> Node:
    """The chain of ``net``'s layers, the two Views around the Linear left out (they only fold the
    time steps into the batch and back, which the Linear over the last dimension does itself). With
    ``batchnorm == 1`` each recurrent layer is followed by ``bn_view_in`` (View to N*T x H),
    ``nn.BatchNormalization(H)`` and ``bn_view_out`` (View back to N x T x H), which
    ``LanguageModel:updateOutput`` resizes for each input: converted as one ``FoldSteps`` node running
    the BatchNormalization on the steps folded into the batch (evaluate mode: its running statistics).
    neuraltalk2's class of the same name (fields ``core``, ``lookup_table``) is the projects family's."""
    if projects.is_neuraltalk2_language_model(m):
        return projects.neuraltalk2_language_model(m, ctx)
    net = m.get("net")
    if not isinstance(net, T7Object) or net.class_name != "nn.Sequential":
        raise ctx.fail(m, "field net is not an nn.Sequential")
    bn = m.get("batchnorm")
    if bn not in (None, 0, 1):
        raise ctx.fail(m, f"field batchnorm is {bn!r}: torch-rnn sets 0 or 1")
    skip = {id(m.get("view1")), id(m.get("view2"))}
    views_in = _modules_of(m, ctx, "bn_view_in") if bn == 1 else set()
    views_out = _modules_of(m, ctx, "bn_view_out") if bn == 1 else set()
    kids = net.children
    children: list[Node] = []
    i = 0
    while i < len(kids):
        c = kids[i]
        if id(c) in skip:
            i += 1
            continue
        if id(c) in views_in:
            norm = kids[i + 1] if i + 1 < len(kids) else None
            out = kids[i + 2] if i + 2 < len(kids) else None
            if not isinstance(norm, T7Object) or norm.class_name != "nn.BatchNormalization" or id(out) not in views_out:
                raise ctx.fail(m, f"net.modules[{i + 1}] (a bn_view_in) is not followed by nn.BatchNormalization "
                                  "and a bn_view_out, as LanguageModel.lua builds them")
            children.append(Node("FoldSteps", FoldStepsRecord(), children=[ctx.child(norm, i + 2)]))
            i += 3
            continue
        if id(c) in views_out:
            raise ctx.fail(m, f"net.modules[{i + 1}] (a bn_view_out) does not follow a BatchNormalization")
        children.append(ctx.child(c, i + 1))
        i += 1
    return Node("Sequential", children=children)


def _modules_of(m: T7Object, ctx, name: str) -> set[int]:
    """The identities of the modules a list field holds (``bn_view_in`` / ``bn_view_out``)."""
    value = m.get(name)
    items = list(value.values()) if hasattr(value, "values") else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, T7Object) for v in items):
        raise ctx.fail(m, f"field {name} (the Views around its BatchNormalizations) is missing or not a list of modules")
    return {id(v) for v in items}


@lowers("FoldSteps")
def _lower_fold_steps(g: Lowering, node: Node, x: Ref) -> Ref:
    return g.add_whole(node, [x])


@describes("nn.LSTM", "nn.VanillaRNN")
def _describe_rnn(m: T7Object) -> str:
    if m.get("hidden_dim") is None and m.get("outputSize") is not None:  # Element-Research rnn's LSTM
        return f"{m.class_name}({m.get('inputSize')} -> {m.get('outputSize')})"
    return f"{m.class_name}({m.get('input_dim')} -> {m.get('hidden_dim')})"


@describes("nn.LanguageModel")
def _describe_lm(m: T7Object) -> str:
    return (f"nn.LanguageModel({m.get('model_type')}, {m.get('num_layers')} x {m.get('rnn_size')}, "
            f"vocabulary {m.get('vocab_size')}, word vectors {m.get('wordvec_dim')})")


@record("FoldSteps")
@dataclass(frozen=True)
class FoldStepsRecord:
    """A FoldSteps node (its child run on N*T x H, reshaped back to N x T x H) stores nothing."""


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("TorchRNNLSTM")
@dataclass(frozen=True)
class TorchRNNLSTMRecord:
    """What a TorchRNNLSTM node stores."""

    hidden_size: int
    input_size: int


@record("TorchRNNVanilla")
@dataclass(frozen=True)
class TorchRNNVanillaRecord:
    """What a TorchRNNVanilla node stores."""

    hidden_size: int
    input_size: int
