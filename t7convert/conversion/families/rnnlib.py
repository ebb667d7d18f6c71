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
import math
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
@converts("nn.Serial", "nn.Recursor", "nn.BiSequencer", "nn.SeqBRNN")
def run_inner_module(m: T7Object, ctx) -> Node:
    """Their forward (at inference, Recursor's once per step) is their inner module ``modules[1]``, as
    nn.Decorator's is: registered here, in their family's file, and checked as tensor_ops' decorators."""
    return decorator(m, ctx)


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


def _check_starts_fresh(m: T7Object, ctx, *, cell: bool) -> None:
    """A Seq* module converts as a fresh copy runs (zero states): refuse one whose file holds states Torch7
    would start from instead (user-set initial states, or the last ones kept by ``remember``). ``cell``:
    an LSTM's cell state is checked beside its output."""
    if cell and not (_empty(m.get("userPrevOutput")) and _empty(m.get("userPrevCell"))):
        raise ctx.fail(m, "has user-set initial states (userPrevOutput / userPrevCell)")
    if not cell and not _empty(m.get("userPrevOutput")):
        raise ctx.fail(m, "has a user-set initial state (userPrevOutput)")
    remember = m.get("_remember", "neither")
    if remember in ("both", "eval") and not ((not cell or _empty(m.get("cell"))) and _empty(m.get("_output"))):
        raise ctx.fail(m, f"remembers its states ({remember!r}) and the file holds the last ones: Torch7 "
                          "would start from them")


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
    _check_starts_fresh(m, ctx, cell=True)
    weight = tensor(m, ctx, "weight")
    if weight.shape != (d + h, 4 * h):
        raise ctx.fail(m, f"weight has shape {weight.shape}, expected {(d + h, 4 * h)} (inputsize + outputsize, 4 * outputsize)")
    bias = tensor(m, ctx, "bias", shape=(4 * h,))
    tensors = {"weight_ih_l0": _seq_blocks(weight[:d].T, h), "weight_hh_l0": _seq_blocks(weight[d:].T, h),
               "bias_ih_l0": _seq_blocks(bias, h), "bias_hh_l0": np.zeros(4 * h, np.float32)}
    return Node("SeqLSTM", SeqRNNRecord(input_size=d, hidden_size=h, batch_first=bool(flag(m, "batchfirst")),
                                        mask_zero=bool(flag(m, "maskzero"))), tensors)


@converts("nn.SeqLSTMP")
def seq_lstmp(m: T7Object, ctx) -> Node:
    """rnn's SeqLSTMP.lua (SeqLSTM with a projection): weight ``(D + R) x 4H`` (rows 1..D for x, the R
    rows after for the projected h), bias ``4H``, ``weightO`` ``H x R``; per step SeqLSTM's gates and
    cell give ``o * tanh(c)`` (N x H), and ``adapter`` projects it: ``h = (o * tanh(c)) weightO`` (N x R),
    the output and the next step's h. maskzero zeroes h and c of an all-zero step row after the
    projection; T x N x D in (N x T x D with ``batchfirst``), T x N x R out, from zero states."""
    d, h, r = integer(m, ctx, "inputsize"), integer(m, ctx, "hiddensize"), integer(m, ctx, "outputsize")
    if min(d, h, r) < 1:
        raise ctx.fail(m, f"fields inputsize {d}, hiddensize {h}, outputsize {r} must be positive")
    _check_starts_fresh(m, ctx, cell=True)
    weight = tensor(m, ctx, "weight")
    if weight.shape != (d + r, 4 * h):
        raise ctx.fail(m, f"weight has shape {weight.shape}, expected {(d + r, 4 * h)} (inputsize + outputsize, 4 * hiddensize)")
    weight_o = tensor(m, ctx, "weightO")
    if weight_o.shape != (h, r):
        raise ctx.fail(m, f"weightO has shape {weight_o.shape}, expected {(h, r)} (hiddensize, outputsize)")
    return Node("SeqLSTMP", SeqLSTMPRecord(input_size=d, hidden_size=h, output_size=r,
                                           batch_first=bool(flag(m, "batchfirst")), mask_zero=bool(flag(m, "maskzero"))),
                {"weight": weight, "bias": tensor(m, ctx, "bias", shape=(4 * h,)), "weightO": weight_o})


@converts("nn.SeqGRU")
def seq_gru(m: T7Object, ctx) -> Node:
    """rnn's SeqGRU.lua: weight ``(D + H) x 3H``, bias ``3H``, column blocks r, u, c; per step
    ``r, u = sigmoid(b + x Wx + h Wh)`` (first 2H columns), ``hc = tanh(b_c + x Wx_c + (r * h) Wh_c)``
    (the reset gate scales h before its product, not after as torch.nn.GRU does: kept as stored and
    computed step by step), ``h = (1 - u) * hc + u * h``; batchfirst and maskzero as SeqLSTM."""
    d, h = integer(m, ctx, "inputSize"), integer(m, ctx, "outputSize")
    _check_starts_fresh(m, ctx, cell=False)
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


@record("SeqLSTMP")
@dataclass(frozen=True)
class SeqLSTMPRecord:
    """What a SeqLSTMP node stores."""

    input_size: int = bounded(1, MAX_EXTENT)
    hidden_size: int = bounded(1, MAX_EXTENT)
    output_size: int = bounded(1, MAX_EXTENT)
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


@expects_input_of_children("Repeater")
def _repeater_input(attrs: dict, children: list[Node], hint) -> object:
    return hint(children[0]) if children else None


@expects_input_of_children("RecurrentAttention")
def _recurrent_attention_input(attrs: dict, children: list[Node], hint) -> object:
    """What its rnn takes as the first element of ``{input, action}``."""
    h = hint(children[0]) if children else None
    return h[0] if isinstance(h, list) and h else None


@expects_input_of_children("MaskZero")
def _mask_zero_input(attrs: dict, children: list[Node], hint) -> object:
    return hint(children[0]) if children else None


@expects_input_of_children("RNNStep")
def _rnn_step_input(attrs: dict, children: list[Node], hint) -> object:
    """An LSTM / GRU's inputSize; a Recurrence's step module takes {x, state}: what it expects of x."""
    if attrs.get("input_size"):
        return (int(attrs["input_size"]),)
    if len(children) > 1:  # Recurrent: its initialModule takes x itself
        return hint(children[1])
    h = hint(children[0]) if children else None
    return h[0] if isinstance(h, list) and h else None


@expects_input("SeqLSTM")
def _seq_lstm_input(attrs: dict) -> tuple[int, ...]:
    return (4, int(attrs["input_size"]))  # (T, D) per sample: the batch goes first or second, as the file says


@expects_input("SpatialGlimpse")
def _spatial_glimpse_input(attrs: dict) -> object:
    """{image, location}: any number of planes, an image of the glimpse's side (the padding fits every
    larger glimpse in it), (y, x)."""
    side = max(int(attrs["height"]), int(attrs["width"]), 2)
    return [(3, side, side), (2,)]


@expects_input("SeqLSTMP")
def _seq_lstmp_input(attrs: dict) -> tuple[int, ...]:
    return (4, int(attrs["input_size"]))


@expects_input("SeqGRU")
def _seq_gru_input(attrs: dict) -> tuple[int, ...]:
    return (4, int(attrs["input_size"]))


@describes("nn.SeqGRU")
def _describe_seq_gru(m: T7Object) -> str:
    return f"nn.SeqGRU({m.get('inputSize')} -> {m.get('outputSize')})"


@describes("nn.SeqLSTM")
def _describe_seq_lstm(m: T7Object) -> str:
    return f"nn.SeqLSTM({m.get('inputsize')} -> {m.get('outputsize')})"


@describes("nn.SeqLSTMP")
def _describe_seq_lstmp(m: T7Object) -> str:
    return f"nn.SeqLSTMP({m.get('inputsize')} -> {m.get('hiddensize')} -> {m.get('outputsize')})"


# --- rnn's nn.LSTM, nn.GRU and nn.Recurrence: a stored step module run with the states carried ---------
# Element-Research rnn's ``nn.LSTM(inputSize, outputSize)`` (LSTM.lua; FastLSTM is its subclass, above)
# keeps its step in ``recurrentModule``, a tree of plain nn modules built by ``buildModel`` (gates from
# ParallelTable(Linear, LinearNoBias[, CMul peephole]), CAddTable, Sigmoid...), which maps
# ``{x, h(t-1), c(t-1)}`` to ``{h(t), c(t)}``; ``nn.GRU`` (GRU.lua) maps ``{x, h(t-1)}`` to ``h(t)``;
# ``nn.Recurrence(module, outputSize, nInputDim)`` maps ``{x, output(t-1)}`` to ``output(t)``. In
# evaluate mode ``updateOutput`` runs that one ``recurrentModule`` (no step clones) on the input and the
# states it kept, zeros of ``outputSize`` (with the batch first when the input has a batch) at the first
# step. The step module is converted as any other tree and run once per call, the states carried from
# call to call (a Sequencer starts them from zero, as ``forget()`` does).
#
# One Torch7 quirk decides whether the stored tree computes what it seems to: in evaluate mode the state
# of step t-1 IS the output buffer of the module that produced it, and that module writes the same buffer
# at step t. If it reads the previous state after writing (``Recurrence(CAddTable)``: copy x into the
# buffer, then add the buffer) Torch7's numbers are not the equations'. LSTM.lua and GRU.lua's trees never
# do; any tree where it may happen is refused (:func:`_state_aliasing`).

#: the most elements one sample's recurrent state may have (a damaged size must not allocate for ever)
MAX_STATE = 1 << 24

#: the largest glimpse side SpatialGlimpse is converted for (the example's are 8 to 32)
MAX_GLIMPSE = 1024

#: modules that hand (parts of) their input table on as their output, making no buffer of their own
_PASS_THROUGH = {"nn.Identity", "nn.SelectTable", "nn.NarrowTable", "nn.FlattenTable"}
_STRUCTURAL = {"nn.Sequential", "nn.ConcatTable", "nn.ParallelTable"}


def _flat(tags) -> list:
    return [t for v in tags for t in _flat(v)] if isinstance(tags, list) else [tags]


#: how deep :func:`_trace` follows a step module's containers (the conversion itself stops at 150)
_TRACE_DEPTH = 150


class _Untraceable(Exception):
    """A step module too deep or holding itself: its buffers cannot be followed."""


def _trace(m, tags, events: list, path: tuple = ()):
    """The value ``m`` outputs as tags (``("P", k)``: previous state k itself; ``("M", id)``: a buffer
    module ``id`` wrote), appending ``(module id, tags read, in place, writes its output)`` to ``events``
    in execution order."""
    if len(path) > _TRACE_DEPTH or id(m) in path:
        raise _Untraceable
    path = (*path, id(m))
    cls = m.class_name if isinstance(m, T7Object) else ""
    kids = list(m.children) if isinstance(m, T7Object) else []
    if cls == "nn.Sequential":
        for k in kids:
            tags = _trace(k, tags, events, path)
        return tags
    if cls == "nn.ConcatTable":
        return [_trace(k, tags, events, path) for k in kids]
    if cls == "nn.ParallelTable" and isinstance(tags, list) and len(tags) >= len(kids):
        return [_trace(k, t, events, path) for k, t in zip(kids, tags)]
    if cls in _PASS_THROUGH and (cls == "nn.Identity" or isinstance(tags, list)):
        events.append((id(m), [], False, False))
        if cls == "nn.Identity":
            return tags
        if cls == "nn.FlattenTable":
            return _flat(tags)
        try:
            if cls == "nn.SelectTable":
                i = int(m.get("index"))
                return tags[i - 1 if i > 0 else len(tags) + i]
            off, n = int(m.get("offset")), int(m.get("length", 1))
            return tags[off - 1:off - 1 + n]
        except (TypeError, ValueError, IndexError, OverflowError):
            pass  # a field the table op itself will refuse: treated as a module reading everything
    if cls == "nn.MaskZero" and kids:  # reads input[1]..., runs its module, copies that output masked
        events.append((id(m), _flat(tags)[:1], False, False))
        inner = _trace(kids[0], tags, events, path)
        events.append((id(m), _flat(inner), False, True))
        return [("M", id(m)) for _ in _flat(inner)] if isinstance(inner, list) else ("M", id(m))
    events.append((id(m), _flat(tags), bool(m.get("inplace")) if isinstance(m, T7Object) else False, True))
    return ("M", id(m))


def _state_aliasing(step: T7Object, n_states: int, kind: str) -> str | None:
    """Why Torch7's evaluate-mode run of ``step`` on ``{x, state...}`` may differ from its equations
    (a module reads a previous state after the module whose buffer holds it has written it, or changes
    it in place), else None."""
    events: list = []
    try:
        out = _trace(step, [("X", 0)] + [("P", k) for k in range(n_states)], events)
    except _Untraceable:
        return "its step module is nested too deeply or holds itself"
    states = _flat(out) if n_states > 1 else [out]
    if n_states > 1 and len(states) != n_states or any(isinstance(s, list) for s in states):
        return f"its step module gives {len(states)} values where {kind} keeps {n_states} states"
    writer = {k: s[1] for k, s in enumerate(states) if s[0] == "M"}  # state k lives in that module's buffer
    written: set[int] = set()
    for mod, reads, inplace, writes in events:
        for tag in reads:
            if tag[0] == "P" and (tag[1] in writer and (writer[tag[1]] in written or writer[tag[1]] == mod and writes)
                                  or inplace):
                return (f"a module of its step reads the previous state {tag[1] + 1} after (or while) Torch7 "
                        "overwrites it: evaluate mode reuses one buffer for both")
        if writes:
            written.add(mod)
    return None


def _step_of(m: T7Object, ctx, n_states: int, kind: str) -> T7Object:
    rm = m.get("recurrentModule")
    if not isinstance(rm, T7Object):
        raise ctx.fail(m, "field recurrentModule (its step module) is missing")
    for name in ("userPrevOutput", "userPrevCell"):
        if not _empty(m.get(name)):
            raise ctx.fail(m, f"has a user-set initial state ({name}): Torch7 would start from it")
    for name in ("outputs", "cells"):  # getHiddenState(0): userPrevOutput or outputs[0] or zeroTensor
        table = m.get(name)
        if isinstance(table, dict) and 0 in table:
            raise ctx.fail(m, f"holds a state set for step 0 ({name}[0]): Torch7 would start from it")
    why = _state_aliasing(rm, n_states, kind)
    if why is not None:
        raise ctx.fail(m, why)
    return rm


def _rnn_step(m: T7Object, ctx, kind: str, n_states: int, state_shape: list[int], n_input_dim: int,
              initial: T7Object | None = None) -> Node:
    rm = _step_of(m, ctx, n_states, kind)
    d = integer(m, ctx, "inputSize", default=None) if kind in ("LSTM", "GRU") else None
    children = [ctx.child(rm, 1)] + ([ctx.child(initial, 2)] if initial is not None else [])
    return Node("RNNStep", RNNStepRecord(kind=kind, n_states=n_states, state_shape=state_shape,
                                         n_input_dim=n_input_dim, input_size=d if d and d > 0 else None),
                children=children)


def rnn_lstm(m: T7Object, ctx) -> Node:
    """rnn's ``nn.LSTM`` (told from torch-rnn's by its fields ``recurrentModule``, ``outputSize``): its
    step maps ``{x, h, c}`` to ``{h, c}``; the output is h. Zero states are (N, outputSize) for a 2-D
    input, (outputSize) for a 1-D one (LSTM:getHiddenState)."""
    h = integer(m, ctx, "outputSize")
    if not 1 <= h <= MAX_EXTENT:
        raise ctx.fail(m, f"field outputSize is {h}")
    return _rnn_step(m, ctx, "LSTM", 2, [h], 1)


@converts("nn.GRU")
def rnn_gru(m: T7Object, ctx) -> Node:
    """rnn's ``nn.GRU``: its step maps ``{x, h}`` to ``h``, zero h as LSTM's."""
    if m.get("recurrentModule") is None:
        raise ctx.fail(m, "is not Element-Research rnn's nn.GRU (no recurrentModule): not supported")
    h = integer(m, ctx, "outputSize")
    if not 1 <= h <= MAX_EXTENT:
        raise ctx.fail(m, f"field outputSize is {h}")
    return _rnn_step(m, ctx, "GRU", 1, [h], 1)


@converts("nn.Recurrence")
def recurrence(m: T7Object, ctx) -> Node:
    """rnn's ``nn.Recurrence``: its step maps ``{x, output(t-1)}`` to ``output(t)``; the zero state has
    the shape ``outputSize`` (a number or a list of numbers), the batch size first when the (first) input
    tensor has ``nInputDim + 1`` dimensions. A table of states (nested sizes) is not supported."""
    size = m.get("outputSize")
    if isinstance(size, (int, float)) and not isinstance(size, bool):
        size = [size]
    elif isinstance(size, np.ndarray) and size.ndim == 1:  # a LongStorage
        size = size.tolist()
    elif isinstance(size, (list, tuple)):
        size = list(size)
    else:
        raise ctx.fail(m, f"field outputSize is {type(size).__name__}, expected a number or a list of sizes")
    if not size or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v == int(v)
                           and 1 <= v <= MAX_EXTENT for v in size):
        raise ctx.fail(m, "field outputSize must be positive sizes (a table of states is not supported)")
    if math.prod(int(v) for v in size) > MAX_STATE:
        raise ctx.fail(m, f"field outputSize {[int(v) for v in size]} makes a state of more than {MAX_STATE:,} "
                          "elements per sample")
    n = integer(m, ctx, "nInputDim")
    if not 0 <= n <= 8:
        raise ctx.fail(m, f"field nInputDim is {n}")
    return _rnn_step(m, ctx, "Recurrence", 1, [int(v) for v in size], n)


@converts("nn.Recurrent")
def recurrent(m: T7Object, ctx) -> Node:
    """rnn's ``nn.Recurrent(start, input, feedback, transfer, rho, merge)`` (Recurrent.lua): its first
    step is ``initialModule`` = Sequential(input (a shared clone), start, transfer (a shared clone)) on
    x; each later step ``recurrentModule`` = Sequential(ParallelTable(input, feedback), merge, transfer)
    on ``{x, output(t-1)}``. No zero state: the first step has its own module (converted as a second
    child)."""
    initial = m.get("initialModule")
    if not isinstance(initial, T7Object):
        raise ctx.fail(m, "field initialModule (its first step) is missing")
    return _rnn_step(m, ctx, "Recurrent", 1, [], 0, initial)


@converts("nn.Repeater")
def repeater(m: T7Object, ctx) -> Node:
    """rnn's ``nn.Repeater(module, rho)`` (Repeater.lua): ``module:forget()``, then the same input fed
    ``rho`` times, a table of the ``rho`` outputs (each a copy). Its module is a Recursor (or an
    AbstractRecurrent) that carries its state from step to step."""
    kids = m.children
    if not kids:
        raise ctx.fail(m, "has no module to repeat (field modules is empty)")
    rho = integer(m, ctx, "rho")
    if not 1 <= rho <= MAX_REPEATS:
        raise ctx.fail(m, f"field rho is {rho}: expected 1 to {MAX_REPEATS} steps")
    return Node("Repeater", RepeaterRecord(rho=rho), children=[ctx.child(kids[0], 1)])


#: the most steps a Repeater may take (a damaged rho must not run a model for ever)
MAX_REPEATS = 10_000


@lowers("Repeater")
def _lower_repeater(g: Lowering, node: Node, x: Ref) -> Ref:
    """A table holding the input ``rho`` times, run by a Sequencer: the same steps, states and copies."""
    xs = g.table([x] * int(node.attrs["rho"]), node.source)
    return _lower_sequencer(g, Node("Sequencer", children=node.children, source=node.source), xs)


@lowers("RNNStep")
def _lower_rnn_step(g: Lowering, node: Node, x: Ref) -> Ref:
    return g.add_whole(node, [x])


@converts("nn.SAdd")
def s_add(m: T7Object, ctx) -> Node:
    """rnn's SAdd(addend, negate): ``input + addend``, negated when ``negate`` (GRU's ``1 - z``)."""
    return Node("SAdd", SAddRecord(addend=float(number(m, ctx, "addend")), negate=bool(flag(m, "negate"))))


@record("RNNStep")
@dataclass(frozen=True)
class RNNStepRecord:
    """What an RNNStep node (rnn's LSTM, GRU, Recurrence) stores; its child is the step module."""

    kind: str = bounded(choices=("LSTM", "GRU", "Recurrence", "Recurrent"))
    #: states the step takes after the input and gives back (LSTM: h and c; its output is the first)
    n_states: int = bounded(1, 2)
    #: one sample's state shape (outputSize; none for Recurrent, whose first step is its second child)
    state_shape: list[int] = bounded(1, MAX_EXTENT, length=(0, 8))
    #: an input (its first tensor) with n_input_dim + 1 dimensions has a batch: states get it first
    n_input_dim: int = bounded(0, 8)
    #: inputSize of an LSTM / GRU (what input a model starting with it expects)
    input_size: int | None = bounded(1, MAX_EXTENT, default=None)


@converts("nn.SpatialGlimpse")
def spatial_glimpse(m: T7Object, ctx) -> Node:
    """dpnn's SpatialGlimpse(size, depth, scale) (SpatialGlimpse.lua), deterministic: for each sample of
    ``{image, location}`` (location (y, x) in [-1, 1]) and each depth d, a glimpse of
    ``floor(size * scale)`` applied d - 1 times (floored at each step), cropped from the image zero-padded
    by ``floor((glimpse - 1) / 2)`` at ``floor(clamp((loc + 1) / 2 * (padded - glimpse), 0, padded -
    glimpse))``, then (d > 1) averaged down to ``size`` by its SpatialAveragePooling with kernel = stride
    = glimpse / size, which must be even (Lua asserts it). Out: N x depth*C x height x width (depth-major).
    Its nnx SpatialReSampling (scale other than 2) is not converted."""
    h, w = integer(m, ctx, "height"), integer(m, ctx, "width")
    depth, scale = integer(m, ctx, "depth"), float(number(m, ctx, "scale"))
    if not (1 <= h <= MAX_EXTENT and 1 <= w <= MAX_EXTENT and 1 <= depth <= 16):
        raise ctx.fail(m, f"fields height {h}, width {w}, depth {depth} are out of range")
    pool = m.get("module")
    if depth > 1:
        if not isinstance(pool, T7Object) or pool.class_name != "nn.SpatialAveragePooling":
            cls = pool.class_name if isinstance(pool, T7Object) else type(pool).__name__
            raise ctx.fail(m, f"field module is {cls}: only the SpatialAveragePooling of scale 2 is supported "
                              "(nnx's SpatialReSampling is not)")
        if any(number(pool, ctx, f, default=0) != 0 for f in ("padW", "padH")) or pool.get("divide") is False:
            raise ctx.fail(m, "field module (SpatialAveragePooling) pads or does not divide: not as built")
    if max(h, w) > MAX_GLIMPSE:
        raise ctx.fail(m, f"fields height {h}, width {w}: glimpses larger than {MAX_GLIMPSE} are not converted")
    gh, gw = h, w
    for _ in range(depth - 1):
        gh, gw = math.floor(gh * scale), math.floor(gw * scale)
        if max(gh, gw) > MAX_GLIMPSE:
            raise ctx.fail(m, f"field scale {scale} gives a {gh}x{gw} glimpse at depth {depth}: glimpses larger "
                              f"than {MAX_GLIMPSE} are not converted")
        if not (gh % h == 0 and gw % w == 0
                and (gh // h) % 2 == 0 and (gw // w) % 2 == 0):
            raise ctx.fail(m, f"field scale {scale} gives a {gh}x{gw} glimpse that its pooling cannot reduce "
                              f"to {h}x{w} by an even kernel (SpatialGlimpse.lua asserts it)")
    return Node("SpatialGlimpse", SpatialGlimpseRecord(height=h, width=w, depth=depth, scale=scale))


@record("SpatialGlimpse")
@dataclass(frozen=True)
class SpatialGlimpseRecord:
    """What a SpatialGlimpse node stores."""

    height: int = bounded(1, MAX_GLIMPSE)
    width: int = bounded(1, MAX_GLIMPSE)
    depth: int = bounded(1, 16)
    scale: float = bounded(0, MAX_EXTENT)


#: transfer modules whose output is a buffer of their own, kept from call to call
_PERSISTENT_OUTPUT = {"nn.ReLU", "nn.Sigmoid", "nn.Tanh", "nn.HardTanh", "nn.Threshold", "nn.ELU", "nn.SoftPlus"}


@converts("nn.RecurrentAttention")
def recurrent_attention(m: T7Object, ctx) -> Node:
    """rnn's ``nn.RecurrentAttention(rnn, action, nStep, hiddenSize)`` (RecurrentAttention.lua) in
    evaluate mode: ``rnn:forget()``, ``action:forget()``; step 1 ``a = action(zeros(N, hiddenSize))``,
    step t > 1 ``a = action(output[t-1])``; ``output[t] = rnn{input, a}``. The table keeps the rnn's
    output tensors themselves, not copies: in evaluate mode an ``nn.Recurrent`` gives its initialModule's
    buffer at step 1 and its recurrentModule's one buffer at every later step, so after the forward
    steps 2..nStep all hold the last step's value (what the recurrent-visual-attention example's
    ``SelectTable(-1)`` reads is exact either way). Converted for an ``nn.Recurrent`` rnn whose step ends in
    a layer with its own output buffer (the example's); other rnns, whose buffer sharing differs, are
    refused, as is ``forwardActions``."""
    kids = m.children
    rnn, action = m.get("rnn"), m.get("action")
    if len(kids) != 2 or not isinstance(rnn, T7Object) or not isinstance(action, T7Object):
        raise ctx.fail(m, "fields rnn and action (its modules) are missing")
    if flag(m, "forwardActions"):
        raise ctx.fail(m, "field forwardActions is set: its {output, action} steps are not supported")
    n_step = integer(m, ctx, "nStep")
    if not 1 <= n_step <= MAX_REPEATS:
        raise ctx.fail(m, f"field nStep is {n_step}")
    hidden = m.get("hiddenSize")
    hidden = hidden.tolist() if isinstance(hidden, np.ndarray) and hidden.ndim == 1 else hidden
    if not isinstance(hidden, (list, tuple)) or not hidden or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v == int(v) and 1 <= v <= MAX_EXTENT for v in hidden):
        raise ctx.fail(m, "field hiddenSize is not a table of sizes")
    if math.prod(int(v) for v in hidden) > MAX_STATE:
        raise ctx.fail(m, f"field hiddenSize makes a state of more than {MAX_STATE:,} elements per sample")
    rm = rnn.get("recurrentModule")
    last = rm.children[-1] if isinstance(rm, T7Object) and rm.class_name == "nn.Sequential" and rm.children else None
    if rnn.class_name != "nn.Recurrent" or not isinstance(last, T7Object) or last.class_name not in _PERSISTENT_OUTPUT:
        raise ctx.fail(m, f"field rnn is {rnn.class_name}: only an nn.Recurrent whose step ends in a transfer "
                          f"layer ({', '.join(sorted(_PERSISTENT_OUTPUT))}) is converted (Torch7's evaluate-mode "
                          "output table shares its buffers, which other rnns share differently)")
    return Node("RecurrentAttention", RecurrentAttentionRecord(n_step=n_step, hidden_size=[int(v) for v in hidden]),
                children=[ctx.child(kids[0], 1), ctx.child(kids[1], 2)])


@lowers("RecurrentAttention")
def _lower_recurrent_attention(g: Lowering, node: Node, x: Ref) -> Ref:
    return g.add_whole(node, [x])


@record("RecurrentAttention")
@dataclass(frozen=True)
class RecurrentAttentionRecord:
    """What a RecurrentAttention node stores; its children are the rnn and the action module."""

    n_step: int = bounded(1, MAX_REPEATS)
    hidden_size: list[int] = bounded(1, MAX_EXTENT, length=(1, 8))


@record("Repeater")
@dataclass(frozen=True)
class RepeaterRecord:
    """What a Repeater node stores: how many steps."""

    rho: int = bounded(1, MAX_REPEATS)


@record("SAdd")
@dataclass(frozen=True)
class SAddRecord:
    """What an SAdd node stores."""

    addend: float
    negate: bool


@describes("nn.GRU")
def _describe_gru(m: T7Object) -> str:
    return f"nn.GRU({m.get('inputSize')} -> {m.get('outputSize')})"


@describes("nn.Repeater")
def _describe_repeater(m: T7Object) -> str:
    return f"nn.Repeater({m.get('rho')} steps)"


@describes("nn.RecurrentAttention")
def _describe_recurrent_attention(m: T7Object) -> str:
    return f"nn.RecurrentAttention({m.get('nStep')} steps)"


@describes("nn.SpatialGlimpse")
def _describe_spatial_glimpse(m: T7Object) -> str:
    return f"nn.SpatialGlimpse({m.get('height')}x{m.get('width')}, depth {m.get('depth')}, scale {m.get('scale')})"
