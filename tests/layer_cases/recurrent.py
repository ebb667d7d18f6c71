"""jcjohnson/torch-rnn's recurrent layers (``nn.LSTM``, ``nn.VanillaRNN``: weight (D + H) x gates*H, one
bias) and its ``LanguageModel``, with and without batch normalization and dropout, built as torch-rnn's
constructors build them."""
from __future__ import annotations

import numpy as np
import torch7_models as tm

from layer_cases import LayerCase
from t7convert.torch7.format.values import T7List

M = tm.module


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
    LayerCase("torchrnn-lstm", lambda: torch_rnn_layer("nn.LSTM", 3, 5), (2, 4, 3)),
    LayerCase("torchrnn-vanilla", lambda: torch_rnn_layer("nn.VanillaRNN", 3, 5), (2, 4, 3)),
    LayerCase("torchrnn-language-model-lstm", lambda: language_model("nn.LSTM"), (2, 6), indices=9),
    LayerCase("torchrnn-language-model-rnn", lambda: language_model("nn.VanillaRNN"), (2, 6), indices=9),
]


def torch_rnn_bn_language_model(cell: str = "nn.LSTM", v: int = 7, d: int = 3, h: int = 4, layers: int = 2,
                                dropout: float = 0):
    """jcjohnson/torch-rnn's ``LanguageModel`` with ``batchnorm = 1`` as its constructor builds it: after
    each recurrent layer ``View(1, 1, -1):setNumInputDims(3)`` (bn_view_in), ``BatchNormalization(H)``,
    ``View(1, -1):setNumInputDims(2)`` (bn_view_out), then Dropout when ``dropout > 0``."""
    lookup = M("nn.LookupTable", weight=tm.f32(v, d))
    mods, rnns, views_in, views_out = [lookup], [], [], []
    for i in range(layers):
        rnn = torch_rnn_layer(cell, d if i == 0 else h, h)
        view_in, view_out = tm.view(1, 1, -1, num_input_dims=3), tm.view(1, -1, num_input_dims=2)
        rnns.append(rnn)
        views_in.append(view_in)
        views_out.append(view_out)
        mods += [rnn, view_in, tm.batchnorm(h, spatial=False), view_out]
        if dropout > 0:
            mods.append(M("nn.Dropout", p=dropout, v2=True, inplace=False, noise=np.empty(0, np.float32)))
    view1, view2 = tm.view(1, 1, -1, num_input_dims=3), tm.view(1, -1, num_input_dims=2)
    net = tm.sequential(*mods, view1, tm.linear(h, v), view2)
    return M("nn.LanguageModel", net=net, view1=view1, view2=view2, rnns=T7List(rnns), bn_view_in=T7List(views_in),
             bn_view_out=T7List(views_out), vocab_size=v, idx_to_token=T7List([chr(97 + i) for i in range(v)]),
             model_type="lstm" if cell == "nn.LSTM" else "rnn", rnn_size=h, num_layers=layers, wordvec_dim=d,
             batchnorm=1, dropout=dropout)


CASES += [
    LayerCase("torchrnn-language-model-lstm-batchnorm", torch_rnn_bn_language_model, (2, 5), indices=7),
    LayerCase("torchrnn-language-model-rnn-batchnorm-dropout",
              lambda: torch_rnn_bn_language_model("nn.VanillaRNN", dropout=0.25), (2, 5), indices=7),
]
