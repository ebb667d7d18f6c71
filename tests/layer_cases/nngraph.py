"""nngraph gModules (several inputs and outputs, split outputs, a value used by several nodes, a nested
gModule, annotated nodes); and, until the recurrent and rnnlib families have their own case files,
torch-rnn's recurrent layers and LanguageModel and Element-Research rnn/dpnn's layers."""
from __future__ import annotations

import nngraph_models as ng
import numpy as np
import torch7_models as tm

from layer_cases import LayerCase
from t7convert.torch7.format import as_storage
from t7convert.torch7.format.values import T7List

M = tm.module


def two_in_two_out():
    """x: N x 2 x 4 split in two; s = Linear(a) used three times; a nested gModule on {Tanh(s), y}."""
    inner = ng.Graph()
    u, v = inner.input(), inner.input()
    t = inner.node(M("nn.Tanh"), inner.node(tm.linear(4, 4), u))
    nested = inner.module([u, v], [inner.node(M("nn.CAddTable"), t, v),
                                   inner.node(M("nn.CMulTable"), t, inner.node(M("nn.Sigmoid"), v))])
    g = ng.Graph()
    x, y = g.input(), g.input()
    a, b = g.split(g.node(ng.split_table(2), x), 2)
    s = g.node(tm.linear(4, 4), a, name="shared linear")
    i1, i2 = g.split(g.node(nested, g.node(M("nn.Tanh"), s), g.node(M("nn.Identity"), y)), 2)
    z1 = g.node(M("nn.CAddTable"), i1, s, b)
    joined = g.node(M("nn.JoinTable", dimension=2), i2, g.node(M("nn.CSubTable"), b, s))
    z2 = g.node(M("nn.LogSoftMax"), g.node(tm.linear(8, 3), joined), name="logprobs")
    return g.module([x, y], [z1, z2], ran_on=[tm.f32(2, 2, 4), tm.f32(2, 4)])


def single():
    g = ng.Graph()
    x = g.input()
    return g.module([x], [g.node(M("nn.Tanh"), g.node(tm.linear(5, 3), x))])


def torch_rnn_layer(cls: str, d: int, h: int) -> object:
    gates = 4 if cls == "nn.LSTM" else 1
    return M(cls, input_dim=d, hidden_dim=h, weight=tm.f32(d + h, gates * h, scale=0.4),
             bias=tm.f32(gates * h, scale=0.2), remember_states=True, h0=np.empty(0, np.float32))


def language_model(cell: str, v: int = 9, d: int = 4, h: int = 5):
    lookup = M("nn.LookupTable", weight=tm.f32(v, d))
    view1, view2 = tm.view(1, 1, -1, num_input_dims=3), tm.view(1, -1, num_input_dims=2)
    rnns = [torch_rnn_layer(cell, d, h), torch_rnn_layer(cell, h, h)]
    net = tm.sequential(lookup, *rnns, view1, tm.linear(h, v), view2)
    return M("nn.LanguageModel", net=net, view1=view1, view2=view2, rnns=T7List(rnns), vocab_size=v,
             idx_to_token=T7List([chr(97 + i) for i in range(v)]), model_type="lstm" if cell == "nn.LSTM" else "rnn",
             rnn_size=h, num_layers=2, wordvec_dim=d, batchnorm=0, dropout=0)


CASES = [
    LayerCase("gmodule-two-in-two-out-nested-split", two_in_two_out, [(2, 2, 4), (2, 4)]),
    LayerCase("gmodule-single-tensor", single, (3, 5)),
    LayerCase("torchrnn-lstm", lambda: torch_rnn_layer("nn.LSTM", 3, 5), (2, 4, 3)),
    LayerCase("torchrnn-vanilla", lambda: torch_rnn_layer("nn.VanillaRNN", 3, 5), (2, 4, 3)),
    LayerCase("torchrnn-language-model-lstm", lambda: language_model("nn.LSTM"), (2, 6), indices=9),
    LayerCase("torchrnn-language-model-rnn", lambda: language_model("nn.VanillaRNN"), (2, 6), indices=9),
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


def sequencer(step):
    recursor = M("nn.Recursor", modules=T7List([step]), module=step, rho=5)
    return M("nn.Sequencer", modules=T7List([recursor]), module=recursor)


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
