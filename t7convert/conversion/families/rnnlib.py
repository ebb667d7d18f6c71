"""Element-Research rnn's language-model pieces: ``nn.Serial`` (a decorator), ``nn.Sequencer`` around
``nn.Recursor`` (the step module applied to each element of a table, the recurrent state carried from
step to step), ``nn.FastLSTM`` and dpnn's ``nn.LinearNoBias``.

``nn.FastLSTM(D, H)`` (``FastLSTM.lua``, without batch normalisation or dropout) holds ``i2g`` (Linear
D -> 4H) and ``o2g`` (LinearNoBias H -> 4H); ``i2g(x) + o2g(h)`` is reshaped to 4 x H and split into
blocks **in_gate (sigmoid), in_transform (tanh), forget (sigmoid), out (sigmoid)**; ``c = f * c + i * g``,
``h = o * tanh(c)`` (the same in its nngraph and its Sequential form). ``torch.nn.LSTMCell`` orders the
blocks i, f, g, o: ``weight_ih``/``bias_ih`` are i2g's rows permuted **[i, g, f, o] -> [i, f, g, o]**
(blocks 0, 2, 1, 3), ``weight_hh`` o2g's the same way, ``bias_hh`` zero: exact. A Sequencer's forward
starts from zero states (what ``forget()`` gives, as ``evaluate-rnnlm.lua`` calls it first).

A Sequencer is stored as one DAG node: its step module's tree (``attrs.step``, as JSON text) and tensors
under its name (``m1_3.0.weight_ih``: the node, then the step module's child index).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from t7convert.conversion.dag import Lowering, Ref, lowers
from t7convert.conversion.families.linear import LinearRecord
from t7convert.conversion.families.tensor_ops import decorator
from t7convert.conversion.fields import flag, integer, number, tensor
from t7convert.conversion.records import record
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

#: FastLSTM's gate blocks (i, g, f, o) in torch.nn.LSTMCell's order (i, f, g, o)
FASTLSTM_GATE_ORDER = (0, 2, 1, 3)


# Serial (dpnn) and Recursor (rnn) run their ``modules[1]`` (Recursor once per step): decorators
converts("nn.Serial", "nn.Recursor")(decorator)


@converts("nn.Sequencer")
def sequencer(m: T7Object, ctx) -> Node:
    kids = m.children
    if not kids:
        raise ctx.fail(m, "has no module to apply (field modules is empty)")
    return Node("Sequencer", children=[ctx.child(kids[0], 1)])


@converts("nn.LinearNoBias")
def linear_no_bias(m: T7Object, ctx) -> Node:
    weight = tensor(m, ctx, "weight")
    if weight.ndim != 2:
        raise ctx.fail(m, f"weight has shape {weight.shape}, expected (out, in)")
    return Node("Linear", LinearRecord(in_features=int(weight.shape[1]), out_features=int(weight.shape[0]), bias=False),
                {"weight": weight})


def _blocks(a: np.ndarray, h: int) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate([a[k * h:(k + 1) * h] for k in FASTLSTM_GATE_ORDER]))


@converts("nn.FastLSTM")
def fast_lstm(m: T7Object, ctx) -> Node:
    d, h = integer(m, ctx, "inputSize"), integer(m, ctx, "outputSize")
    if flag(m, "bn") or number(m, ctx, "p", default=0) != 0:
        raise ctx.fail(m, "uses batch normalisation or dropout between its gates (fields bn, p): not supported")
    if m.get("userPrevOutput") is not None or m.get("userPrevCell") is not None:
        raise ctx.fail(m, "has user-set initial states (userPrevOutput / userPrevCell)")
    i2g, o2g = m.get("i2g"), m.get("o2g")
    if not isinstance(i2g, T7Object) or not isinstance(o2g, T7Object):
        raise ctx.fail(m, "fields i2g and o2g (its input and recurrent Linears) are missing")
    w_ih = _inner(m, ctx, i2g, "i2g", "weight", (4 * h, d))
    b_ih = _inner(m, ctx, i2g, "i2g", "bias", (4 * h,))
    w_hh = _inner(m, ctx, o2g, "o2g", "weight", (4 * h, h))
    return Node("FastLSTM", FastLSTMRecord(input_size=d, hidden_size=h),
                {"weight_ih": _blocks(w_ih, h), "weight_hh": _blocks(w_hh, h), "bias_ih": _blocks(b_ih, h),
                 "bias_hh": np.zeros(4 * h, np.float32)})


def _inner(m: T7Object, ctx, inner: T7Object, name: str, field: str, shape: tuple[int, ...]) -> np.ndarray:
    """A tensor of FastLSTM's i2g / o2g, its shape checked against inputSize and outputSize."""
    value = inner.get(field)
    if not isinstance(value, np.ndarray) or value.size != int(np.prod(shape)):
        got = getattr(value, "shape", type(value).__name__)
        raise ctx.fail(m, f"field {name}.{field} has shape {got}, expected {shape} (from inputSize, outputSize)")
    return tensor(inner, ctx, field, shape=shape)


@lowers("Sequencer")
def _lower_sequencer(g: Lowering, node: Node, x: Ref) -> Ref:
    step = node.children[0]
    # attributes are scalars and lists: the step module's tree travels as JSON text
    return g.add(Node("Sequencer", SequencerRecord(step=json.dumps(step.spec())), step.state_arrays(), source=node.source), [x])


@describes("nn.FastLSTM")
def _describe(m: T7Object) -> str:
    return f"nn.FastLSTM({m.get('inputSize')} -> {m.get('outputSize')})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("FastLSTM")
@dataclass(frozen=True)
class FastLSTMRecord:
    """What a FastLSTM node stores."""

    hidden_size: int
    input_size: int


@record("Sequencer")
@dataclass(frozen=True)
class SequencerRecord:
    """What a Sequencer node stores."""

    step: str | None = None
