"""Reference execution of torch-rnn's ``nn.LSTM``, ``nn.VanillaRNN`` and ``nn.LanguageModel``, from
``LSTM.lua``, ``VanillaRNN.lua`` and ``LanguageModel.lua`` of jcjohnson/torch-rnn.

LSTM: ``Wx = weight[1..D]``, ``Wh = weight[D+1..D+H]``; per step ``gates = b + x_t Wx + h Wh``, columns
1..3H through a sigmoid and 3H+1..4H through tanh, read as i, f, o, g; ``c = f*c + i*g``,
``h = o*tanh(c)``. VanillaRNN: ``h = tanh(b + x_t Wx + h Wh)``. Both from zero h0/c0 (a forward
after ``resetStates()``; a tensor input, not the ``{c0, h0, x}`` table form). LanguageModel's
``updateOutput`` resizes ``view1`` to (N*T, -1) and ``view2`` to (N, T, -1) and runs ``net``.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call, child_path
from t7convert.interpreter.families import rnnlib
from t7convert.interpreter.fields import array_input, integer, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _weights(m: T7Object, x, call: Call, gates: int):
    x = array_input(x, m, where=call.where, ndims=(3,))
    d, h = integer(m, call.where, "input_dim"), integer(m, call.where, "hidden_dim")
    w, b = tensor(m, call.where, "weight"), tensor(m, call.where, "bias")
    if w.shape != (d + h, gates * h) or b.size != gates * h or x.shape[2] != d:
        raise call.fail(f"weight {w.shape} / bias {b.shape} / input {x.shape} do not fit input_dim {d}, hidden_dim {h}")
    return x, h, w[:d], w[d:], b.reshape(-1)


@layer("nn.LSTM")
def lstm(m: T7Object, x, call: Call) -> np.ndarray:
    """torch-rnn's LSTM (hidden_dim, weight); Element-Research rnn's (recurrentModule, outputSize, no
    hidden_dim) runs its step module (:func:`.rnnlib.rnn_lstm`)."""
    if m.get("hidden_dim") is None and m.get("recurrentModule") is not None and m.get("outputSize") is not None:
        return rnnlib.rnn_lstm(m, x, call)
    if m.get("hidden_dim") is None:
        raise call.fail("neither torch-rnn's nn.LSTM (no hidden_dim) nor Element-Research rnn's (recurrentModule)")
    x, h, wx, wh, b = _weights(m, x, call, 4)
    n, t = x.shape[:2]
    prev_h, prev_c = np.zeros((n, h)), np.zeros((n, h))
    out = np.zeros((n, t, h))
    for s in range(t):
        a = b + x[:, s] @ wx + prev_h @ wh
        i, f, o, g = _sigmoid(a[:, :h]), _sigmoid(a[:, h:2 * h]), _sigmoid(a[:, 2 * h:3 * h]), np.tanh(a[:, 3 * h:])
        prev_c = f * prev_c + i * g
        prev_h = o * np.tanh(prev_c)
        out[:, s] = prev_h
    return out


@layer("nn.VanillaRNN")
def vanilla_rnn(m: T7Object, x, call: Call) -> np.ndarray:
    x, h, wx, wh, b = _weights(m, x, call, 1)
    n, t = x.shape[:2]
    prev = np.zeros((n, h))
    out = np.zeros((n, t, h))
    for s in range(t):
        prev = np.tanh(b + x[:, s] @ wx + prev @ wh)
        out[:, s] = prev
    return out


@layer("nn.LanguageModel")
def language_model(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(2,))
    net = m.get("net")
    if not isinstance(net, T7Object):
        raise call.fail("has no net")
    n, t = x.shape
    views = {id(m.get("view1")): (n * t, -1), id(m.get("view2")): (n, t, -1)}
    # batchnorm == 1: LM:updateOutput resets every bn_view_in to (N*T, -1), every bn_view_out to (N, T, -1)
    for name, size in (("bn_view_in", (n * t, -1)), ("bn_view_out", (n, t, -1))):
        field = m.get(name)
        for v in (field.values() if hasattr(field, "values") else field or []):
            views[id(v)] = size
    for i, child in enumerate(net.get("modules") or []):
        if id(child) in views:
            x = x.reshape(views[id(child)])
        else:
            x = call.engine.forward(child, x, child_path(call.path, i))
    return x
