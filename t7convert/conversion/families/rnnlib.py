"""Element-Research rnn's language-model pieces: ``nn.Serial`` (a decorator), ``nn.Sequencer`` around
``nn.Recursor`` (the step module applied to each element of a table, the recurrent state carried from
step to step), ``nn.FastLSTM`` and dpnn's ``nn.LinearNoBias``.

``nn.FastLSTM(D, H)`` (``FastLSTM.lua``, without batch normalisation or dropout) holds ``i2g`` (Linear
D -> 4H) and ``o2g`` (LinearNoBias H -> 4H); ``i2g(x) + o2g(h)`` is reshaped to 4 x H and split into
blocks **in_gate (sigmoid), in_transform (tanh), forget (sigmoid), out (sigmoid)**; ``c = f * c + i * g``,
``h = o * tanh(c)`` (the same in its nngraph and its Sequential form). After ``:maskZero(nInputDim)`` its
recurrentModule is a MaskZero: ``h`` and ``c`` of a sample whose input row is all zeros are zeroed. ``torch.nn.LSTMCell`` orders the
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
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input, expects_input_of_children
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

#: FastLSTM's gate blocks (i, g, f, o) in torch.nn.LSTMCell's order (i, f, g, o)
FASTLSTM_GATE_ORDER = (0, 2, 1, 3)


# Serial (dpnn) and Recursor (rnn) run their ``modules[1]`` (Recursor once per step): decorators.
# BiSequencer.lua builds its ``modules[1]`` from plain pieces: Sequential(ConcatTable(Sequencer(fwd),
# Sequential(ReverseTable, Sequencer(bwd), ReverseTable)), ZipTable, Sequencer(merge)); it runs that.
# SeqBRNN.lua likewise: Sequential([Transpose,] ConcatTable(SeqLSTM, Sequential(SeqReverseSequence(1),
# SeqLSTM, SeqReverseSequence(1))), merge[, Transpose]).
converts("nn.Serial", "nn.Recursor", "nn.BiSequencer", "nn.SeqBRNN")(decorator)


@converts("nn.SeqReverseSequence")
def seq_reverse_sequence(m: T7Object, ctx) -> Node:
    """rnn's SeqReverseSequence(dim): the input with its dimension ``dim`` (1 to 3) reversed (a copy)."""
    dim = integer(m, ctx, "dim")
    if not 1 <= dim <= 3:
        raise ctx.fail(m, f"field dim is {dim}: SeqReverseSequence reverses dimension 1, 2 or 3")
    return Node("SeqReverse", SeqReverseRecord(dim=dim))


@converts("nn.ReinforceNormal", "nn.ReinforceBernoulli", "nn.ReinforceCategorical")
def reinforce(m: T7Object, ctx) -> Node:
    """dpnn's Reinforce* in evaluate mode: ``output:copy(input)`` (the MAP estimate: the mean of
    ReinforceNormal's ``{mean, stdev}`` table, the probabilities of Bernoulli/Categorical), unless
    ``stochastic`` is set, when they sample at test time too (refused: the output is random)."""
    stochastic = m.get("stochastic")
    if stochastic is not None and stochastic is not False:
        raise ctx.fail(m, "field stochastic is set: it samples at test time, its output is random")
    return Node("ReinforceMAP", ReinforceMAPRecord(table=m.class_name == "nn.ReinforceNormal"))


@converts("nn.ReverseTable")
def reverse_table(m: T7Object, ctx) -> Node:
    """dpnn's ReverseTable: the input table's elements in reverse order (the same tensors)."""
    return Node("ReverseTable")


@converts("nn.MaskZero")
def mask_zero(m: T7Object, ctx) -> Node:
    """rnn's MaskZero.lua: the decorated module's output, each tensor of it (tables recursively) with
    the rows zeroed where the first tensor of the input (``input[1][1]...``) is all zeros: one row per
    sample when that tensor has ``nInputDim + 1`` dimensions, the whole output when it has ``nInputDim``."""
    kids = m.children
    if not kids:
        raise ctx.fail(m, "has no module to decorate (field modules is empty)")
    n = integer(m, ctx, "nInputDim")
    if n < 1:
        raise ctx.fail(m, f"field nInputDim is {n}")
    return Node("MaskZero", MaskZeroRecord(n_input_dim=n), children=[ctx.child(kids[0], 1)])


@lowers("MaskZero")
def _lower_mask_zero(g: Lowering, node: Node, x: Ref) -> Ref:
    y = g.lower(node.children[0], x)
    return g.add(Node("MaskZeroApply", dict(node.attrs), source=node.source), [y, x])


#: SeqLSTM's gate blocks (i, f, o, g: torch-rnn's layout, which SeqLSTM.lua took) in torch.nn.LSTM's order
SEQLSTM_GATE_ORDER = (0, 1, 3, 2)


def _seq_blocks(a: np.ndarray, h: int) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate([a[k * h:(k + 1) * h] for k in SEQLSTM_GATE_ORDER]))


def _empty(value) -> bool:
    return value is None or (isinstance(value, np.ndarray) and value.size == 0)


@converts("nn.SeqLSTM")
def seq_lstm(m: T7Object, ctx) -> Node:
    """rnn's SeqLSTM.lua (torch-rnn's LSTM): weight ``(D + H) x 4H`` (rows 1..D for x, the rest for h),
    bias ``4H``, gates i, f, o, g; T x N x D in (N x T x D with ``batchfirst``), the T x N x H hidden
    states out, from zero states. With ``maskzero`` a sample whose step input is all zeros has its h,
    c (and gates) zeroed at that step. SeqLSTMP (``outputsize`` != ``hiddensize``) is not converted."""
    d = integer(m, ctx, "inputsize")
    r = integer(m, ctx, "outputsize")
    h = integer(m, ctx, "hiddensize", default=r)
    if h != r or m.get("weightO") is not None:
        raise ctx.fail(m, f"is a SeqLSTMP (hiddensize {h}, outputsize {r}): its projection is not supported")
    if not (_empty(m.get("userPrevOutput")) and _empty(m.get("userPrevCell"))):
        raise ctx.fail(m, "has user-set initial states (userPrevOutput / userPrevCell)")
    remember = m.get("_remember", "neither")
    if remember in ("both", "eval") and not (_empty(m.get("cell")) and _empty(m.get("_output"))):
        raise ctx.fail(m, f"remembers its states ({remember!r}) and the file holds the last ones: Torch7 "
                          "would start from them")
    weight = tensor(m, ctx, "weight")
    if weight.shape != (d + h, 4 * h):
        raise ctx.fail(m, f"weight has shape {weight.shape}, expected {(d + h, 4 * h)} (inputsize + outputsize, 4 * outputsize)")
    bias = tensor(m, ctx, "bias", shape=(4 * h,))
    tensors = {"weight_ih_l0": _seq_blocks(weight[:d].T, h), "weight_hh_l0": _seq_blocks(weight[d:].T, h),
               "bias_ih_l0": _seq_blocks(bias, h), "bias_hh_l0": np.zeros(4 * h, np.float32)}
    return Node("SeqLSTM", SeqRNNRecord(input_size=d, hidden_size=h, batch_first=bool(flag(m, "batchfirst")),
                                        mask_zero=bool(flag(m, "maskzero"))), tensors)


@converts("nn.SeqGRU")
def seq_gru(m: T7Object, ctx) -> Node:
    """rnn's SeqGRU.lua: weight ``(D + H) x 3H``, bias ``3H``, column blocks r, u, c; per step
    ``r, u = sigmoid(b + x Wx + h Wh)`` (first 2H columns), ``hc = tanh(b_c + x Wx_c + (r * h) Wh_c)``
    (the reset gate scales h before its product, not after as torch.nn.GRU does: kept as stored and
    computed step by step), ``h = (1 - u) * hc + u * h``; batchfirst and maskzero as SeqLSTM."""
    d, h = integer(m, ctx, "inputSize"), integer(m, ctx, "outputSize")
    if not _empty(m.get("userPrevOutput")):
        raise ctx.fail(m, "has a user-set initial state (userPrevOutput)")
    remember = m.get("_remember", "neither")
    if remember in ("both", "eval") and not _empty(m.get("_output")):
        raise ctx.fail(m, f"remembers its states ({remember!r}) and the file holds the last ones: Torch7 "
                          "would start from them")
    weight = tensor(m, ctx, "weight")
    if weight.shape != (d + h, 3 * h):
        raise ctx.fail(m, f"weight has shape {weight.shape}, expected {(d + h, 3 * h)} (inputSize + outputSize, 3 * outputSize)")
    return Node("SeqGRU", SeqRNNRecord(input_size=d, hidden_size=h, batch_first=bool(flag(m, "batchfirst")),
                                       mask_zero=bool(flag(m, "maskzero"))),
                {"weight": weight, "bias": tensor(m, ctx, "bias", shape=(3 * h,))})


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
    rm = m.get("recurrentModule")
    mask_dims = None
    if isinstance(rm, T7Object) and rm.class_name == "nn.MaskZero":  # AbstractRecurrent:maskZero(nInputDim)
        mask_dims = integer(rm, ctx, "nInputDim")
    w_ih = _inner(m, ctx, i2g, "i2g", "weight", (4 * h, d))
    b_ih = _inner(m, ctx, i2g, "i2g", "bias", (4 * h,))
    w_hh = _inner(m, ctx, o2g, "o2g", "weight", (4 * h, h))
    return Node("FastLSTM", FastLSTMRecord(input_size=d, hidden_size=h, mask_zero=mask_dims),
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

    hidden_size: int = bounded(0, MAX_EXTENT)
    input_size: int = bounded(0, MAX_EXTENT)
    #: AbstractRecurrent:maskZero(nInputDim): the nInputDim of its MaskZero (None: not masked)
    mask_zero: int | None = bounded(1, MAX_EXTENT, default=None)


@record("Sequencer")
@dataclass(frozen=True)
class SequencerRecord:
    """What a Sequencer node stores."""

    step: str | None = None


@record("MaskZero", "MaskZeroApply")
@dataclass(frozen=True)
class MaskZeroRecord:
    """What a MaskZero node (and the MaskZeroApply its lowering adds) stores."""

    n_input_dim: int = bounded(1, MAX_EXTENT)


@record("SeqLSTM", "SeqGRU")
@dataclass(frozen=True)
class SeqRNNRecord:
    """What a SeqLSTM or SeqGRU node stores."""

    input_size: int = bounded(0, MAX_EXTENT)
    hidden_size: int = bounded(0, MAX_EXTENT)
    batch_first: bool
    mask_zero: bool


@record("SeqReverse")
@dataclass(frozen=True)
class SeqReverseRecord:
    """What a SeqReverse node stores: the 1-based dimension reversed."""

    dim: int = bounded(1, 3)


@record("ReinforceMAP")
@dataclass(frozen=True)
class ReinforceMAPRecord:
    """What a ReinforceMAP node stores: whether its input is ReinforceNormal's {mean, stdev} table."""

    table: bool


@record("ReverseTable")
@dataclass(frozen=True)
class ReverseTableRecord:
    """A ReverseTable node stores nothing."""


# --- the input a model starting with these expects -------------------------------------------------
@expects_input("FastLSTM")
def _fast_lstm_input(attrs: dict) -> tuple[int, ...]:
    return (int(attrs["input_size"]),)


@expects_input_of_children("Sequencer")
def _sequencer_input(attrs: dict, children: list[Node], hint) -> object:
    """A table of three steps, each what the step module takes."""
    h = hint(children[0]) if children else None
    return [h] * 3 if isinstance(h, (tuple, dict)) else None


@expects_input_of_children("BiSequencer")
def _bisequencer_input(attrs: dict, children: list[Node], hint) -> object:
    return hint(children[0]) if children else None


@expects_input_of_children("MaskZero")
def _mask_zero_input(attrs: dict, children: list[Node], hint) -> object:
    return hint(children[0]) if children else None


@expects_input("SeqLSTM")
def _seq_lstm_input(attrs: dict) -> tuple[int, ...]:
    return (4, int(attrs["input_size"]))  # (T, D) per sample: the batch goes first or second, as the file says


@expects_input("SeqGRU")
def _seq_gru_input(attrs: dict) -> tuple[int, ...]:
    return (4, int(attrs["input_size"]))


@describes("nn.SeqGRU")
def _describe_seq_gru(m: T7Object) -> str:
    return f"nn.SeqGRU({m.get('inputSize')} -> {m.get('outputSize')})"


@describes("nn.SeqLSTM")
def _describe_seq_lstm(m: T7Object) -> str:
    return f"nn.SeqLSTM({m.get('inputsize')} -> {m.get('outputsize')})"
