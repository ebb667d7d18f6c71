"""Reference execution of Element-Research rnn's language-model modules, from its Lua: ``Serial``
(dpnn) runs ``modules[1]``; ``Sequencer:updateOutput`` runs its Recursor on each element of the input
table in turn; ``Recursor`` runs its step module; ``FastLSTM`` (``LSTM:updateOutput``) runs its own
``recurrentModule`` on ``{x, prev_output, prev_cell}`` (zeros of batch x outputSize at the first step,
as after ``forget()``) and keeps ``{output, cell}`` for the next step; ``LinearNoBias`` is
``x * weight^T``. The recurrent states live for one Sequencer forward (evaluate-rnnlm.lua calls
``forget()`` first).
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _states(call: Call) -> dict:
    """The recurrent modules' (output, cell) of the running Sequencer, by module identity."""
    return call.engine.__dict__.setdefault("rnnlib_states", {})


@layer("nn.Serial", "nn.Recursor")
def decorator(m: T7Object, x, call: Call):
    if not call.children:
        raise call.fail("has no inner module")
    return call.child(0, x)


@layer("nn.Sequencer")
def sequencer(m: T7Object, x, call: Call) -> list:
    if not isinstance(x, list) or not all(isinstance(t, np.ndarray) for t in x):
        raise call.fail("expects a table of tensors (one per time step)")
    if not call.children:
        raise call.fail("has no module")
    _states(call).clear()  # forget()
    out = [call.child(0, step) for step in x]
    _states(call).clear()
    return out


@layer("nn.LinearNoBias")
def linear_no_bias(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    return x @ tensor(m, call.where, "weight").T


@layer("nn.FastLSTM")
def fast_lstm(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    size = integer(m, call.where, "outputSize")
    rm = m.get("recurrentModule")
    if not isinstance(rm, T7Object):
        raise call.fail("has no recurrentModule")
    states = _states(call)
    zero = np.zeros((x.shape[0], size) if x.ndim == 2 else (size,))
    prev_h, prev_c = states.get(id(m), (zero, zero))
    h, c = call.engine.forward(rm, [x, prev_h, prev_c], f"{call.where}.recurrentModule")
    states[id(m)] = (h, c)
    return h
