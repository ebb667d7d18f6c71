"""A small char-rnn checkpoint built as karpathy/char-rnn's ``train.lua`` saves one: ``{protos = {rnn =
gModule, criterion}, opt, vocab, ...}``, the one-step RNN of ``model/RNN.lua`` (inputs x, prev_h per
layer; outputs next_h per layer, then LogSoftMax log-probabilities), input through ``OneHot``."""
from __future__ import annotations

import nngraph_models as ng
import numpy as np
import torch7_models as tm

from t7convert.torch7.format.values import T7List, T7Table

M = tm.module
TEXT = "abcde fgh"


def rnn_cell(v: int, h: int, layers: int = 1):
    g = ng.Graph()
    x = g.input()
    prev = [g.input() for _ in range(layers)]
    below = g.node(M("OneHot", outputSize=v, _eye=np.eye(v)), x)
    outs = []
    for i, p in enumerate(prev):
        i2h = g.node(tm.linear(v if i == 0 else h, h), below, name=f"i2h_{i + 1}")
        h2h = g.node(tm.linear(h, h), p, name=f"h2h_{i + 1}")
        below = g.node(M("nn.Tanh"), g.node(M("nn.CAddTable"), i2h, h2h))
        outs.append(below)
    logsoft = g.node(M("nn.LogSoftMax"), g.node(tm.linear(h, v), below))
    return g.module([x, *prev], [*outs, logsoft])


def checkpoint(vocab: str = TEXT, h: int = 6, layers: int = 1, model_v: int | None = None) -> T7Table:
    chars = sorted(set(vocab))
    rnn = rnn_cell(model_v or len(chars), h, layers)
    opt = T7Table(model="rnn", num_layers=layers, rnn_size=h, seq_length=5)
    return T7Table(protos=T7Table(rnn=rnn, criterion=M("nn.ClassNLLCriterion")), opt=opt,
                   vocab=T7Table({c: i for i, c in enumerate(chars, 1)}), train_losses=T7List([2.0, 1.5]),
                   epoch=3, i=30)
