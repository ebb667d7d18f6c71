"""Element-Research rnn's recurrent classes with a stored step module (``nn.LSTM``, ``nn.GRU``,
``nn.Recurrence``, ``nn.FastLSTM`` with its nngraph cell), its sequence layers (``nn.SeqLSTM``,
``nn.SeqLSTMP``, ``nn.SeqGRU``, ``nn.SeqBRNN``, ``nn.BiSequencer``), ``nn.Repeater``, ``nn.MaskZero``,
``nn.Serial`` and dpnn's Reinforce layers, built as their Lua constructors build them (LSTM.lua
``buildModel``, GRU.lua ``buildModel``, the Recurrence of rnn's README)."""
from __future__ import annotations

import nngraph_models as ng
import numpy as np
import torch7_models as tm

from layer_cases import LayerCase
from t7convert.torch7.format import as_storage
from t7convert.torch7.format.values import T7List

M = tm.module


def _dropout():
    """rnn's ``nn.Dropout(p, false, false, true, mono)`` with p = 0 (v2, lazy): the identity."""
    return M("nn.Dropout", p=0, v2=True, inplace=False, lazy=True, mono=False, noise=np.empty(0, np.float32))


def lstm_gate(d: int, h: int, cell2gate: bool = True):
    """LSTM:buildGate: sigmoid(Linear(x) + LinearNoBias(h) [+ CMul(c)]) on ``{x, h(t-1), c}``."""
    para = [tm.sequential(_dropout(), tm.linear(d, h)),
            tm.sequential(_dropout(), M("nn.LinearNoBias", weight=tm.f32(h, h, scale=h ** -0.5)))]
    if cell2gate:
        para.append(M("nn.CMul", weight=tm.f32(h, scale=0.5), size=as_storage(np.array([h], np.int64))))
    mods = [] if cell2gate else [M("nn.NarrowTable", offset=1, length=2)]
    return tm.sequential(*mods, M("nn.ParallelTable", modules=T7List(para)), M("nn.CAddTable"), M("nn.Sigmoid"))


def rnn_lstm(d: int, h: int, cell2gate: bool = True):
    """Element-Research rnn's ``nn.LSTM(d, h)`` (LSTM.lua): its recurrentModule maps {x, h, c} to {h, c}."""
    in_gate, forget_gate = lstm_gate(d, h, cell2gate), lstm_gate(d, h, cell2gate)
    hidden = tm.sequential(M("nn.NarrowTable", offset=1, length=2), M("nn.ParallelTable", modules=T7List([
        tm.sequential(_dropout(), tm.linear(d, h)),
        tm.sequential(_dropout(), M("nn.LinearNoBias", weight=tm.f32(h, h, scale=h ** -0.5)))])),
        M("nn.CAddTable"), M("nn.Tanh"))
    forget = tm.sequential(M("nn.ConcatTable", modules=T7List([forget_gate, M("nn.SelectTable", index=3)])),
                           M("nn.CMulTable"))
    inp = tm.sequential(M("nn.ConcatTable", modules=T7List([in_gate, hidden])), M("nn.CMulTable"))
    cell = tm.sequential(M("nn.ConcatTable", modules=T7List([forget, inp])), M("nn.CAddTable"))
    out_gate = lstm_gate(d, h, cell2gate)
    output = tm.sequential(M("nn.ConcatTable", modules=T7List([
        out_gate, tm.sequential(M("nn.SelectTable", index=3), M("nn.Tanh"))])), M("nn.CMulTable"))
    model = tm.sequential(M("nn.ConcatTable", modules=T7List([M("nn.NarrowTable", offset=1, length=2), cell])),
                          M("nn.FlattenTable"),
                          M("nn.ConcatTable", modules=T7List([output, M("nn.SelectTable", index=3)])))
    return M("nn.LSTM", inputSize=d, outputSize=h, rho=9999, p=0, mono=False, cell2gate=cell2gate,
             recurrentModule=model, modules=T7List([model]), sharedClones=T7List([model]),
             zeroTensor=np.empty(0, np.float32), cells={}, gradCells={}, outputs={}, gradInputs={},
             _gradOutputs={}, gradOutputs={}, step=1, inputGate=in_gate, forgetGate=forget_gate,
             hiddenLayer=hidden, cellLayer=cell, outputGate=out_gate)


def rnn_gru(d: int, h: int, p: float = 0):
    """Element-Research rnn's ``nn.GRU(d, h, rho, p)`` (GRU.lua): its recurrentModule maps {x, h} to h;
    with p > 0 (Bayesian GRU) each gate's Linear is split in two behind Dropouts and joined."""
    def drop():
        return M("nn.Dropout", p=p, v2=True, inplace=False, lazy=True, mono=False, noise=np.empty(0, np.float32))

    def no_bias(n_in, n_out):
        return M("nn.LinearNoBias", weight=tm.f32(n_out, n_in, scale=n_in ** -0.5))

    if p:
        i2g = tm.sequential(M("nn.ConcatTable", modules=T7List([drop(), drop()])),
                            M("nn.ParallelTable", modules=T7List([tm.linear(d, h), tm.linear(d, h)])),
                            M("nn.JoinTable", dimension=2))
        o2g = tm.sequential(M("nn.ConcatTable", modules=T7List([drop(), drop()])),
                            M("nn.ParallelTable", modules=T7List([no_bias(h, h), no_bias(h, h)])),
                            M("nn.JoinTable", dimension=2))
    else:
        i2g, o2g = tm.linear(d, 2 * h), no_bias(h, 2 * h)
    gates = tm.sequential(M("nn.ParallelTable", modules=T7List([i2g, o2g])), M("nn.CAddTable"),
                          M("nn.Reshape", size=as_storage(np.array([2, h], np.int64)), nelement=2 * h),
                          M("nn.SplitTable", dimension=1, nInputDims=2),
                          M("nn.ParallelTable", modules=T7List([M("nn.Sigmoid"), M("nn.Sigmoid")])))
    t1 = [M("nn.SelectTable", index=1)] + ([drop()] if p else []) + [tm.linear(d, h)]
    t2 = [M("nn.NarrowTable", offset=2, length=2), M("nn.CMulTable")] + ([drop()] if p else []) + [no_bias(h, h)]
    hidden = tm.sequential(M("nn.ConcatTable", modules=T7List([tm.sequential(*t1), tm.sequential(*t2)])),
                           M("nn.CAddTable"), M("nn.Tanh"))
    z1 = tm.sequential(M("nn.SelectTable", index=4), M("nn.SAdd", addend=-1, negate=True))
    z2 = tm.sequential(M("nn.NarrowTable", offset=4, length=2), M("nn.CMulTable"))
    o1 = tm.sequential(M("nn.ConcatTable", modules=T7List([hidden, z1])), M("nn.CMulTable"))
    o2 = tm.sequential(M("nn.ConcatTable", modules=T7List([o1, z2])), M("nn.CAddTable"))
    seq = tm.sequential(M("nn.ConcatTable", modules=T7List([M("nn.Identity"), gates])), M("nn.FlattenTable"),
                        M("nn.ConcatTable", modules=T7List([M("nn.NarrowTable", offset=1, length=4),
                                                            M("nn.SelectTable", index=2)])),
                        M("nn.FlattenTable"), o2)
    return M("nn.GRU", inputSize=d, outputSize=h, rho=9999, p=p, mono=False, recurrentModule=seq,
             modules=T7List([seq]), sharedClones=T7List([seq]), zeroTensor=np.empty(0, np.float32), cells={},
             outputs={}, step=1, i2g=i2g, o2g=o2g)


def recurrence(step, output_size, n_input_dim: int = 1):
    """``nn.Recurrence(step, outputSize, nInputDim)`` as its constructor leaves it."""
    size = T7List(list(output_size)) if isinstance(output_size, (list, tuple)) else output_size
    return M("nn.Recurrence", recurrentModule=step, module=step, modules=T7List([step]),
             sharedClones=T7List([step]), outputSize=size if not isinstance(size, int) else T7List([size]),
             nInputDim=n_input_dim, rho=9999, outputs={}, step=1, typeTensor=np.empty(0, np.float32))


def simple_recurrence(d: int, h: int):
    """rnn's README Recurrence: ``Sequential(ParallelTable(Linear(d, h), Linear(h, h)), CAddTable, Sigmoid)``."""
    step = tm.sequential(M("nn.ParallelTable", modules=T7List([tm.linear(d, h), tm.linear(h, h)])),
                         M("nn.CAddTable"), M("nn.Sigmoid"))
    return recurrence(step, h)


def sequencer(step):
    recursor = M("nn.Recursor", modules=T7List([step]), module=step, rho=5)
    return M("nn.Sequencer", modules=T7List([recursor]), module=recursor)


CASES = [
    LayerCase("rnnlib-lstm-peephole", lambda: sequencer(rnn_lstm(3, 4)), [(2, 3), (2, 3), (2, 3)]),
    LayerCase("rnnlib-lstm-no-cell2gate", lambda: sequencer(rnn_lstm(3, 4, cell2gate=False)), [(2, 3), (2, 3)]),
    LayerCase("rnnlib-lstm-one-step", lambda: rnn_lstm(3, 4), (2, 3)),
    LayerCase("rnnlib-gru", lambda: sequencer(rnn_gru(3, 4)), [(2, 3), (2, 3), (2, 3)]),
    LayerCase("rnnlib-gru-bayesian-dropout", lambda: sequencer(rnn_gru(3, 4, p=0.25)), [(2, 3), (2, 3), (2, 3)]),
    LayerCase("rnnlib-recurrence", lambda: sequencer(simple_recurrence(3, 4)), [(2, 3), (2, 3), (2, 3)]),
]


def seq_lstmp(d: int, h: int, r: int, *, batch_first: bool = False, mask_zero: bool = False):
    """rnn's ``nn.SeqLSTMP(d, h, r)`` as its constructor leaves it: weight (d + r) x 4h, bias 4h, weightO h x r."""
    return M("nn.SeqLSTMP", inputsize=d, hiddensize=h, outputsize=r, weight=tm.f32(d + r, 4 * h, scale=0.5),
             bias=tm.f32(4 * h, scale=0.1), weightO=tm.f32(h, r, scale=h ** -0.5), _remember="neither",
             batchfirst=batch_first, maskzero=mask_zero, cell=np.empty(0, np.float32), h0=np.empty(0, np.float32),
             c0=np.empty(0, np.float32))


CASES += [
    LayerCase("rnnlib-seqlstmp", lambda: seq_lstmp(3, 5, 2), (4, 2, 3)),
    LayerCase("rnnlib-seqlstmp-wider-output-batchfirst-maskzero",
              lambda: seq_lstmp(3, 2, 4, batch_first=True, mask_zero=True), (2, 4, 3)),
]


def rnn_recurrent(d: int, h: int, *, transfer: str = "nn.Sigmoid"):
    """``nn.Recurrent(h, Linear(d, h), Linear(h, h), transfer, rho)`` as Recurrent.lua builds it: start
    ``nn.Add(h)``, initialModule Sequential(input's shared clone, start, transfer's clone), recurrentModule
    Sequential(ParallelTable(input, feedback), CAddTable, transfer)."""
    inp, feedback = tm.linear(d, h), tm.linear(h, h)
    start = M("nn.Add", bias=tm.f32(h, scale=0.5), scalar=False)
    trans, merge = M(transfer), M("nn.CAddTable")
    clone = M("nn.Linear", weight=inp.fields["weight"], bias=inp.fields["bias"])  # sharedClone: the same tensors
    initial = tm.sequential(clone, start, M(transfer))
    rm = tm.sequential(M("nn.ParallelTable", modules=T7List([inp, feedback])), merge, trans)
    return M("nn.Recurrent", startModule=start, inputModule=inp, feedbackModule=feedback, transferModule=trans,
             mergeModule=merge, modules=T7List([start, inp, feedback, trans, merge]), initialModule=initial,
             recurrentModule=rm, sharedClones={2: rm}, rho=5, outputs={}, step=1)


def repeater(step, rho: int = 3):
    """``nn.Repeater(step, rho)``: the step wrapped in a Recursor unless it is an AbstractRecurrent."""
    mod = step if step.class_name in ("nn.LSTM", "nn.GRU", "nn.Recurrence", "nn.Recurrent", "nn.FastLSTM") else \
        M("nn.Recursor", modules=T7List([step]), module=step, rho=rho)
    return M("nn.Repeater", module=mod, modules=T7List([mod]), rho=rho, output=T7List([]))


CASES += [
    LayerCase("rnnlib-recurrent", lambda: sequencer(rnn_recurrent(3, 4)), [(2, 3), (2, 3), (2, 3)]),
    LayerCase("rnnlib-recurrent-one-step", lambda: rnn_recurrent(3, 4, transfer="nn.Tanh"), (2, 3)),
    LayerCase("rnnlib-repeater-gru", lambda: repeater(rnn_gru(3, 4)), (2, 3)),
    LayerCase("rnnlib-repeater-recurrent-in-sequential",
              lambda: repeater(tm.sequential(rnn_recurrent(3, 4), tm.linear(4, 2)), rho=4), (2, 3)),
]


def spatial_glimpse(size: int = 2, depth: int = 3, scale: float = 2):
    """dpnn's ``nn.SpatialGlimpse(size, depth, scale)``: its module a SpatialAveragePooling(2, 2, 2, 2)."""
    pool = M("nn.SpatialAveragePooling", kW=2, kH=2, dW=2, dH=2, padW=0, padH=0, ceil_mode=False,
             count_include_pad=True, divide=True)
    return M("nn.SpatialGlimpse", width=size, height=size, depth=depth, scale=scale, module=pool,
             modules=T7List([pool]), gradInput=T7List([np.empty(0, np.float32), np.empty(0, np.float32)]))


CASES += [
    LayerCase("dpnn-spatialglimpse", lambda: spatial_glimpse(2, 3), [(2, 8, 8), (2,)]),
    LayerCase("dpnn-spatialglimpse-one-depth", lambda: spatial_glimpse(3, 1), [(1, 5, 6), (2,)]),
]


def recurrent_attention(c: int = 1, h: int = 3, n_step: int = 3, size: int = 2):
    """rnn's recurrent-visual-attention model in small: ``RecurrentAttention(Recurrent(h, glimpse,
    Linear(h, h), ReLU), Recursor(locator), nStep, {h})``; glimpse = CAddTable(Linear(loc), Linear(
    SpatialGlimpse(size, 1) of the image, flattened)); locator = Linear(h, 2), HardTanh, ReinforceNormal,
    HardTanh."""
    glimpse = tm.sequential(M("nn.ConcatTable", modules=T7List([
        tm.sequential(M("nn.SelectTable", index=2), tm.linear(2, h)),
        tm.sequential(spatial_glimpse(size, 1), tm.view(c * size * size, num_input_dims=3), tm.linear(c * size * size, h)),
    ])), M("nn.CAddTable"))
    inp, feedback = glimpse, tm.linear(h, h)
    start = M("nn.Add", bias=tm.f32(h, scale=0.5), scalar=False)
    initial = tm.sequential(glimpse, start, M("nn.ReLU", threshold=0, val=0, inplace=False))
    rm = tm.sequential(M("nn.ParallelTable", modules=T7List([inp, feedback])), M("nn.CAddTable"),
                       M("nn.ReLU", threshold=0, val=0, inplace=False))
    trans, merge = rm.fields["modules"][2], rm.fields["modules"][1]
    rnn = M("nn.Recurrent", startModule=start, inputModule=inp, feedbackModule=feedback, transferModule=trans,
        mergeModule=merge, modules=T7List([start, inp, feedback, trans, merge]),
        initialModule=initial, recurrentModule=rm, rho=99999, outputs={}, step=1)
    locator = tm.sequential(tm.linear(h, 2), M("nn.HardTanh", min_val=-1, max_val=1),
                            M("nn.ReinforceNormal", stdev=0.1, stochastic=False), M("nn.HardTanh", min_val=-1, max_val=1))
    action = M("nn.Recursor", modules=T7List([locator]), module=locator, rho=99999)
    return M("nn.RecurrentAttention", rnn=rnn, action=action, modules=T7List([rnn, action]), nStep=n_step,
             hiddenSize=T7List([h]), forwardActions=False, output=T7List([]), actions=T7List([]))


CASES += [
    LayerCase("rnnlib-recurrent-attention", lambda: tm.sequential(recurrent_attention(),
                                                                  M("nn.SelectTable", index=-1)), (1, 6, 6)),
    LayerCase("rnnlib-recurrent-attention-table", recurrent_attention, (1, 6, 6)),
]


def rnn_lstm_mask_zero(d: int, h: int):
    """``nn.LSTM(d, h):maskZero(1)`` (AbstractRecurrent:maskZero): recurrentModule = MaskZero(step, 1)."""
    lstm = rnn_lstm(d, h)
    masked = M("nn.MaskZero", modules=T7List([lstm.fields["recurrentModule"]]),
               module=lstm.fields["recurrentModule"], nInputDim=1)
    lstm.fields.update(recurrentModule=masked, modules=T7List([masked]), sharedClones=T7List([masked]))
    return lstm


CASES += [
    LayerCase("rnnlib-lstm-maskzero", lambda: sequencer(rnn_lstm_mask_zero(3, 4)), [(2, 3), (2, 3), (2, 3)]),
]


def direct_sequencer(rnn):
    """``nn.Sequencer(rnn)`` of an AbstractRecurrent: Sequencer.lua keeps it as its module (no Recursor)."""
    return M("nn.Sequencer", modules=T7List([rnn]), module=rnn, _remember="neither")


CASES += [
    LayerCase("rnnlib-sequencer-of-lstm", lambda: direct_sequencer(rnn_lstm(3, 4)), [(2, 3), (2, 3)]),
    LayerCase("rnnlib-sequencer-of-gru-then-linear", lambda: tm.sequential(
        direct_sequencer(rnn_gru(3, 4)), sequencer(tm.linear(4, 2))), [(2, 3), (2, 3), (2, 3)]),
]


def fast_lstm(d: int, h: int):
    """Element-Research rnn's FastLSTM with its nngraph recurrentModule (FastLSTM:nngraphModel)."""
    i2g = tm.linear(d, 4 * h)
    o2g = M("nn.LinearNoBias", weight=tm.f32(4 * h, h, scale=h ** -0.5))
    g = ng.Graph()
    x, prev_h, prev_c = g.input(), g.input(), g.input()
    sums = g.node(M("nn.CAddTable"), g.node(i2g, x, name="i2h"), g.node(o2g, prev_h, name="h2h"))
    reshaped = g.node(M("nn.Reshape", size=as_storage(np.array([4, h], np.int64))), sums)
    n1, n2, n3, n4 = g.split(g.node(ng.split_table(2), reshaped), 4)
    in_gate, transform = g.node(M("nn.Sigmoid"), n1), g.node(M("nn.Tanh"), n2)
    forget, out_gate = g.node(M("nn.Sigmoid"), n3), g.node(M("nn.Sigmoid"), n4)
    next_c = g.node(M("nn.CAddTable"), g.node(M("nn.CMulTable"), forget, prev_c),
                    g.node(M("nn.CMulTable"), in_gate, transform))
    next_h = g.node(M("nn.CMulTable"), out_gate, g.node(M("nn.Tanh"), next_c))
    cell = g.module([x, prev_h, prev_c], [next_h, next_c])
    return M("nn.FastLSTM", inputSize=d, outputSize=h, i2g=i2g, o2g=o2g, recurrentModule=cell, p=0, bn=False,
             modules=T7List([cell]))


def rnnlib_language_model(v: int = 8, d: int = 4, h: int = 5):
    step = tm.sequential(fast_lstm(d, h), fast_lstm(h, h), tm.linear(h, v), M("nn.LogSoftMax"))
    recursor = M("nn.Recursor", modules=T7List([step]), module=step, rho=5)
    lm = tm.sequential(M("nn.LookupTable", weight=tm.f32(v, d)), ng.split_table(1),
                       M("nn.Sequencer", modules=T7List([recursor]), module=recursor))
    return M("nn.Serial", modules=T7List([lm]))


CASES.append(LayerCase("rnnlib-fastlstm-language-model", rnnlib_language_model, (4, 3), indices=8))


def fast_lstm_mask_zero(d: int, h: int, n_input_dim: int = 1):
    """``FastLSTM(d, h):maskZero(1)``: its recurrentModule (and modules[1]) becomes nn.MaskZero(cell, 1)."""
    lstm = fast_lstm(d, h)
    masked = M("nn.MaskZero", modules=T7List([lstm.fields["recurrentModule"]]),
               module=lstm.fields["recurrentModule"], nInputDim=n_input_dim)
    lstm.fields["recurrentModule"] = masked
    lstm.fields["modules"] = T7List([masked])
    return lstm


def seq_lstm(d: int, h: int, *, batch_first: bool = False, mask_zero: bool = False):
    """rnn's SeqLSTM(d, h) as its constructor leaves it (weight (d + h) x 4h, bias 4h, _remember 'neither')."""
    return M("nn.SeqLSTM", inputsize=d, hiddensize=h, outputsize=h, weight=tm.f32(d + h, 4 * h, scale=0.5),
             bias=tm.f32(4 * h, scale=0.1), _remember="neither", batchfirst=batch_first, maskzero=mask_zero,
             train=False)


def seq_gru(d: int, h: int, *, batch_first: bool = False, mask_zero: bool = False):
    """rnn's SeqGRU(d, h): weight (d + h) x 3h (r, u, candidate), bias 3h."""
    return M("nn.SeqGRU", inputSize=d, outputSize=h, weight=tm.f32(d + h, 3 * h, scale=0.5),
             bias=tm.f32(3 * h, scale=0.1), _remember="neither", batchfirst=batch_first, maskzero=mask_zero,
             train=False)


def bisequencer(fwd, bwd, merge=None):
    """rnn's BiSequencer(fwd, bwd, merge) as its constructor builds ``modules[1]``: Sequential(
    ConcatTable(Sequencer(fwd), Sequential(ReverseTable, Sequencer(bwd), ReverseTable)), ZipTable,
    Sequencer(merge)), merge JoinTable(1, 1) by default."""
    merge = merge or M("nn.JoinTable", dimension=1, nInputDims=1)
    backward = tm.sequential(M("nn.ReverseTable", output=T7List()), sequencer(bwd), M("nn.ReverseTable", output=T7List()))
    brnn = tm.sequential(M("nn.ConcatTable", modules=T7List([sequencer(fwd), backward])), M("nn.ZipTable"),
                         sequencer(merge))
    return M("nn.BiSequencer", modules=T7List([brnn]), module=brnn, forwardModule=fwd, backwardModule=bwd,
             mergeModule=merge)


def seq_brnn(d: int, h: int, *, batch_first: bool = False):
    """rnn's SeqBRNN(d, h, batchFirst) as its constructor builds ``modules[1]`` (merge CAddTable)."""
    fwd, bwd = seq_lstm(d, h), seq_lstm(d, h)
    backward = tm.sequential(M("nn.SeqReverseSequence", dim=1), bwd, M("nn.SeqReverseSequence", dim=1))
    mods = [M("nn.ConcatTable", modules=T7List([fwd, backward])), M("nn.CAddTable")]
    if batch_first:
        swap = lambda: M("nn.Transpose", permutations=T7List([T7List([1, 2])]))  # noqa: E731
        mods = [swap(), *mods, swap()]
    brnn = tm.sequential(*mods)
    return M("nn.SeqBRNN", modules=T7List([brnn]), module=brnn, forwardModule=fwd, backwardModule=bwd, dim=1)


CASES += [
    LayerCase("rnnlib-fastlstm-maskzero", lambda: sequencer(fast_lstm_mask_zero(3, 4)), [(2, 3), (2, 3), (2, 3)]),
    LayerCase("rnnlib-sequencer-maskzero-around-fastlstm",  # MaskZero(FastLSTM): only the output is masked
              lambda: sequencer(M("nn.MaskZero", modules=T7List([fast_lstm(3, 4)]), nInputDim=1)),
              [(2, 3), (2, 3)]),
    LayerCase("rnnlib-seqlstm", lambda: seq_lstm(3, 4), (5, 2, 3)),
    LayerCase("rnnlib-seqlstm-batchfirst-maskzero", lambda: seq_lstm(3, 4, batch_first=True, mask_zero=True), (2, 5, 3)),
    LayerCase("rnnlib-seqgru", lambda: seq_gru(3, 4), (5, 2, 3)),
    LayerCase("rnnlib-seqgru-batchfirst-maskzero", lambda: seq_gru(2, 3, batch_first=True, mask_zero=True), (2, 4, 2)),
    LayerCase("rnnlib-bisequencer-fastlstm", lambda: bisequencer(fast_lstm(3, 4), fast_lstm(3, 4)),
              [(2, 3), (2, 3), (2, 3)]),
    LayerCase("dpnn-reinforce-normal-table", lambda: tm.sequential(
        M("nn.ConcatTable", modules=T7List([tm.linear(3, 2), M("nn.Exp")])), M("nn.ReinforceNormal", stdev=0.1,
                                                                              stochastic=False)), (2, 3)),
    LayerCase("dpnn-reinforce-bernoulli", lambda: tm.sequential(M("nn.Sigmoid"), M("nn.ReinforceBernoulli")), (2, 3)),
    LayerCase("dpnn-reinforce-categorical", lambda: tm.sequential(M("nn.SoftMax"), M("nn.ReinforceCategorical")),
              (2, 4)),
    LayerCase("rnnlib-seqbrnn", lambda: seq_brnn(3, 4), (5, 2, 3)),
    LayerCase("rnnlib-seqbrnn-batchfirst", lambda: seq_brnn(2, 3, batch_first=True), (2, 4, 2)),
    LayerCase("rnnlib-maskzero-linear", lambda: M("nn.MaskZero", modules=T7List([tm.linear(4, 3)]), nInputDim=1),
              (3, 4)),
]
