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
from t7convert.interpreter.registry import ModelError, layer
from t7convert.torch7.format import T7Object


def _states(call: Call) -> dict:
    """The recurrent modules' (output, cell) of the running Sequencer, by module identity."""
    return call.engine.__dict__.setdefault("rnnlib_states", {})


@layer("nn.ReinforceNormal", "nn.ReinforceBernoulli", "nn.ReinforceCategorical")
def reinforce(m: T7Object, x, call: Call) -> np.ndarray:
    """Reinforce*:updateOutput with ``train == false`` and ``stochastic`` unset: ``output:copy(mean)``
    (ReinforceNormal's input may be ``{mean, stdev}``) or ``output:copy(input)``."""
    stochastic = m.get("stochastic")
    if stochastic is not None and stochastic is not False:
        raise call.fail("stochastic is set: it samples at test time")
    if isinstance(x, list):
        if m.class_name != "nn.ReinforceNormal" or len(x) != 2:
            raise call.fail("a table input is only ReinforceNormal's {mean, stdev}")
        x = x[0]
    return np.array(x, dtype=np.float64, copy=True)


@layer("nn.ReverseTable")
def reverse_table(m: T7Object, x, call: Call) -> list:
    """ReverseTable.lua: ``output[k] = input[#input - k + 1]``."""
    if not isinstance(x, list):
        raise call.fail("expects a table")
    return [x[i] for i in range(len(x) - 1, -1, -1)]


@layer("nn.SeqReverseSequence")
def seq_reverse_sequence(m: T7Object, x, call: Call) -> np.ndarray:
    """SeqReverseSequence:updateOutput: ``output:gather(input, 1, T - x + 1)`` on the input transposed so
    that ``dim`` comes first, transposed back: dimension ``dim`` reversed, in a new tensor."""
    dim = integer(m, call.where, "dim")
    x = array_input(x, m, where=call.where, ndims=tuple(range(max(dim, 1), 33)))
    if not 1 <= dim <= 3:
        raise call.fail(f"dim {dim} is not 1, 2 or 3")
    moved = np.swapaxes(x, 0, dim - 1)
    return np.ascontiguousarray(np.swapaxes(moved[::-1], 0, dim - 1))


@layer("nn.Serial", "nn.Recursor", "nn.BiSequencer", "nn.SeqBRNN")
def decorator(m: T7Object, x, call: Call):
    if not call.children:
        raise call.fail("has no inner module")
    return call.child(0, x)


def _first_tensor(x) -> np.ndarray:
    """MaskZero:recursiveGetFirst: ``input[1]`` down to a tensor."""
    while isinstance(x, list):
        if not x:
            raise ModelError("nn.MaskZero: an empty input table")
        x = x[0]
    return np.asarray(x)


def _mask(value, zero: np.ndarray, call: Call):
    """MaskZero:recursiveMask: a masked copy of each tensor (``copy(input)`` then ``maskedFill(mask, 0)``)."""
    if isinstance(value, list):
        return [_mask(v, zero, call) for v in value]
    value = np.asarray(value, dtype=np.float64)
    if zero.ndim == 1:  # batch mode: the mask resized to (B, 1, ..., 1) and expanded to the output
        if value.ndim == 0 or value.shape[0] != zero.shape[0]:
            raise call.fail(f"an output of {value.shape} for {zero.shape[0]} input rows")
        return np.where(zero.reshape((-1,) + (1,) * (value.ndim - 1)), 0.0, value)
    return np.where(zero, 0.0, value)


@layer("nn.MaskZero")
def mask_zero(m: T7Object, x, call: Call):
    """MaskZero:updateOutput: the first input tensor, contiguous, viewed as one vector (``nInputDim``
    dimensions) or one row per sample (``nInputDim + 1``); rows whose 2-norm is 0 are masked in every
    tensor of the decorated module's output."""
    n = integer(m, call.where, "nInputDim")
    first = _first_tensor(x)
    if first.ndim == n:
        rows = first.reshape(-1).astype(np.float64)
        zero = np.asarray(np.sqrt(np.sum(rows * rows)) == 0)
    elif first.ndim == n + 1:
        rows = first.reshape(first.shape[0], -1).astype(np.float64)
        zero = np.sqrt(np.sum(rows * rows, axis=1)) == 0
    else:
        raise call.fail(f"nInputDim error: {first.ndim}, {n}")
    if not call.children:
        raise call.fail("has no module to decorate")
    return _mask(call.child(0, x), zero, call)


def _nil_or_empty(value) -> bool:
    return value is None or (isinstance(value, np.ndarray) and value.size == 0)


@layer("nn.SeqLSTM", "nn.SeqLSTMP")
def seq_lstm(m: T7Object, x, call: Call) -> np.ndarray:
    """SeqLSTM:updateOutput in evaluate mode on a tensor: ``Wx = weight:narrow(1, 1, D)``, ``Wh`` the next
    R rows; per step ``gates = bias + x_t Wx + h Wh``, columns 1..3H sigmoid (i, f, o), 3H+1..4H tanh (g);
    ``c = f*c + i*g``, ``h = o*tanh(c)``; SeqLSTMP's ``adapter(t)`` then sets ``h = h weightO`` (H x R:
    SeqLSTM's adapter does nothing); with maskzero, rows of x_t whose 2-norm is 0 get h, c and gates
    zeroed in place (so the next step reads zeros). h0 (N x R) and c0 (N x H) are zeros unless the module
    remembers states and holds some. batchfirst transposes N x T to T x N and back."""
    where = call.where
    if isinstance(x, list):
        raise call.fail("the {h0, x} / {c0, h0, x} table input is not supported")
    x = array_input(x, m, where=where, ndims=(3,))
    d, r = integer(m, where, "inputsize"), integer(m, where, "outputsize")
    hs = integer(m, where, "hiddensize", default=r)
    projected = m.class_name == "nn.SeqLSTMP"
    if hs != r and not projected:
        raise call.fail("a SeqLSTM with hiddensize != outputsize and no projection (SeqLSTMP)")
    if not (_nil_or_empty(m.get("userPrevOutput")) and _nil_or_empty(m.get("userPrevCell"))):
        raise call.fail("user-set userPrevOutput / userPrevCell")
    if m.get("_remember") in ("both", "eval") and not (_nil_or_empty(m.get("cell")) and _nil_or_empty(m.get("_output"))):
        raise call.fail("remembers its last states, which the file holds")
    w, b = tensor(m, where, "weight"), tensor(m, where, "bias").reshape(-1)
    if w.shape != (d + r, 4 * hs) or b.size != 4 * hs:
        raise call.fail(f"weight {w.shape} / bias {b.shape} do not fit inputsize {d}, hiddensize {hs}, outputsize {r}")
    w_o = tensor(m, where, "weightO") if projected else None
    if projected and w_o.shape != (hs, r):
        raise call.fail(f"weightO {w_o.shape} is not hiddensize x outputsize {(hs, r)}")
    seq = np.swapaxes(x, 0, 1) if m.get("batchfirst") else x
    if seq.shape[2] != d:
        raise call.fail(f"input has {seq.shape[2]} features, inputsize is {d}")
    t_len, n = seq.shape[:2]
    h, c = np.zeros((n, r)), np.zeros((n, hs))
    out = np.zeros((t_len, n, r))
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    for t in range(t_len):
        gates = b + seq[t] @ w[:d] + h @ w[d:]
        i, f, o, g = sig(gates[:, :hs]), sig(gates[:, hs:2 * hs]), sig(gates[:, 2 * hs:3 * hs]), np.tanh(gates[:, 3 * hs:])
        c = f * c + i * g
        h = o * np.tanh(c)
        if projected:
            h = h @ w_o
        if m.get("maskzero"):
            zero = np.sqrt((seq[t] ** 2).sum(axis=1)) == 0
            h, c = np.where(zero[:, None], 0.0, h), np.where(zero[:, None], 0.0, c)
        out[t] = h
    return np.swapaxes(out, 0, 1) if m.get("batchfirst") else out


@layer("nn.SeqGRU")
def seq_gru(m: T7Object, x, call: Call) -> np.ndarray:
    """SeqGRU:updateOutput in evaluate mode on a tensor: ``gates = bias + x_t Wx``; the first 2H columns
    get ``+ h Wh[:, 1..2H]`` and a sigmoid (r, u); ``next_h = r * h``; the last H get ``+ next_h
    Wh[:, 2H+1..3H]`` and a tanh (hc); ``next_h = hc - u * hc + u * h``. maskzero zeroes next_h of an
    all-zero x_t row; h0 is zeros (refused when remembered states are held)."""
    where = call.where
    if isinstance(x, list):
        raise call.fail("the {h0, x} table input is not supported")
    x = array_input(x, m, where=where, ndims=(3,))
    d, hs = integer(m, where, "inputSize"), integer(m, where, "outputSize")
    if not _nil_or_empty(m.get("userPrevOutput")):
        raise call.fail("user-set userPrevOutput")
    if m.get("_remember") in ("both", "eval") and not _nil_or_empty(m.get("_output")):
        raise call.fail("remembers its last states, which the file holds")
    w, b = tensor(m, where, "weight"), tensor(m, where, "bias").reshape(-1)
    if w.shape != (d + hs, 3 * hs) or b.size != 3 * hs:
        raise call.fail(f"weight {w.shape} / bias {b.shape} do not fit inputSize {d}, outputSize {hs}")
    seq = np.swapaxes(x, 0, 1) if m.get("batchfirst") else x
    if seq.shape[2] != d:
        raise call.fail(f"input has {seq.shape[2]} features, inputSize is {d}")
    wx, wh = w[:d], w[d:]
    h = np.zeros((seq.shape[1], hs))
    out = np.zeros(seq.shape[:2] + (hs,))
    for t in range(seq.shape[0]):
        gates = b + seq[t] @ wx
        gates[:, :2 * hs] = 1.0 / (1.0 + np.exp(-(gates[:, :2 * hs] + h @ wh[:, :2 * hs])))
        r, u = gates[:, :hs], gates[:, hs:2 * hs]
        hc = np.tanh(gates[:, 2 * hs:] + (r * h) @ wh[:, 2 * hs:])
        nxt = hc - u * hc + u * h
        if m.get("maskzero"):
            nxt = np.where((np.sqrt((seq[t] ** 2).sum(axis=1)) == 0)[:, None], 0.0, nxt)
        h = nxt
        out[t] = h
    return np.swapaxes(out, 0, 1) if m.get("batchfirst") else out


@layer("nn.Sequencer")
def sequencer(m: T7Object, x, call: Call) -> list:
    if not isinstance(x, list) or not all(isinstance(t, (np.ndarray, list)) for t in x):
        raise call.fail("expects a table with one input (a tensor or a table) per time step")
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


# --- rnn's nn.LSTM, nn.GRU, nn.Recurrence (LSTM.lua, GRU.lua, Recurrence.lua, AbstractRecurrent.lua) ----
def _zero_state(m: T7Object, x, call: Call) -> np.ndarray:
    """getHiddenState(0, input): LSTM/GRU resize zeroTensor to (N, outputSize) for a 2-D input, else to
    (outputSize); Recurrence to outputSize (a number or a table of numbers) with getBatchSize(input)
    (input[1] of a table, down to a tensor) first when it has nInputDim + 1 dimensions."""
    if m.class_name == "nn.Recurrence":
        size = m.get("outputSize")
        if isinstance(size, (int, float)):
            size = [size]
        elif isinstance(size, (list, np.ndarray)):  # a table of numbers or a LongStorage
            size = list(np.asarray(size, dtype=object).reshape(-1))
        else:
            raise call.fail("outputSize is not a size")
        if not size or not all(isinstance(v, (int, float, np.integer, np.floating)) and float(v) == int(v) and v >= 1
                               for v in size):
            raise call.fail("outputSize is not a size (a table of states is not supported)")
        size = [int(v) for v in size]
        if int(np.prod(size, dtype=object)) > 1 << 24:
            raise call.fail(f"outputSize {size}: a state of more than 2^24 elements per sample is not run")
        n = integer(m, call.where, "nInputDim")
        first = x
        while isinstance(first, list):
            if not first:
                raise call.fail("an empty input table")
            first = first[0]
        first = np.asarray(first)
        if first.ndim == n:
            return np.zeros(size)
        if first.ndim - 1 == n:
            return np.zeros([first.shape[0], *size])
        raise call.fail(f"inconsistent tensor dims {first.ndim} (nInputDim {n})")
    size = integer(m, call.where, "outputSize")
    x = np.asarray(x)
    return np.zeros((x.shape[0], size) if x.ndim == 2 else (size,))


@layer("nn.GRU", "nn.Recurrence")
def step_recurrent(m: T7Object, x, call: Call):
    """GRU / Recurrence:updateOutput with ``train == false``: ``output = recurrentModule:updateOutput{input,
    prevOutput}``, prevOutput the last call's output or the zero state at the first step (userPrevOutput
    or a stored outputs[0] would replace it: refused)."""
    return _run_recurrent(m, x, call, 1)


def rnn_lstm(m: T7Object, x, call: Call):
    """rnn's LSTM:updateOutput with ``train == false``: ``output, cell = unpack(recurrentModule:updateOutput{
    input, prevOutput, prevCell})``; the output is returned, both kept for the next call."""
    return _run_recurrent(m, x, call, 2)


def _run_recurrent(m: T7Object, x, call: Call, n_states: int):
    rm = m.get("recurrentModule")
    if not isinstance(rm, T7Object):
        raise call.fail("has no recurrentModule")
    for name in ("userPrevOutput", "userPrevCell"):
        if not _nil_or_empty(m.get(name)):
            raise call.fail(f"a user-set {name}")
    for name in ("outputs", "cells"):
        table = m.get(name)
        if isinstance(table, dict) and any(k == 0 for k in table):
            raise call.fail(f"a stored {name}[0] (the first step's state)")
    if m.class_name != "nn.Recurrence" and isinstance(x, list):
        raise call.fail("expects a tensor")
    states = _states(call)
    prev = states.get(id(m))
    if prev is None:
        zero = _zero_state(m, x, call)
        prev = [zero] * n_states
    out = call.engine.forward(rm, [x, *prev], f"{call.where}.recurrentModule")
    if n_states == 1:
        states[id(m)] = [out]
        return out
    if not isinstance(out, list) or len(out) != n_states:
        raise call.fail("its recurrentModule did not give {output, cell}")
    states[id(m)] = list(out)
    return out[0]


@layer("nn.SAdd")
def s_add(m: T7Object, x, call: Call) -> np.ndarray:
    """SAdd:updateOutput: ``output = input + addend``, then ``-output`` when negate."""
    y = array_input(x, m, where=call.where, ndims=tuple(range(33))) + float(m.get("addend"))
    return -y if m.get("negate") not in (None, False) else y


@layer("nn.Recurrent")
def recurrent(m: T7Object, x, call: Call):
    """Recurrent:updateOutput with ``train == false``: at step 1 (a fresh copy, or after forget())
    ``initialModule:updateOutput(input)``, later ``recurrentModule:updateOutput{input, outputs[step-1]}``."""
    initial, rm = m.get("initialModule"), m.get("recurrentModule")
    if not isinstance(initial, T7Object) or not isinstance(rm, T7Object):
        raise call.fail("has no initialModule / recurrentModule")
    states = _states(call)
    if id(m) not in states:
        out = call.engine.forward(initial, x, f"{call.where}.initialModule")
    else:
        out = call.engine.forward(rm, [x, states[id(m)]], f"{call.where}.recurrentModule")
    states[id(m)] = out
    return out


@layer("nn.Repeater")
def repeater(m: T7Object, x, call: Call) -> list:
    """Repeater:updateOutput: ``module:forget()``, then ``output[step] = copy(module:updateOutput(input))``
    for step = 1..rho."""
    rho = integer(m, call.where, "rho")
    if rho < 1:
        raise call.fail(f"rho is {rho}")
    if not call.children:
        raise call.fail("has no module")
    _states(call).clear()  # forget()
    out = [call.child(0, x) for _ in range(rho)]
    _states(call).clear()
    return out


@layer("nn.SpatialGlimpse")
def spatial_glimpse(m: T7Object, x, call: Call) -> np.ndarray:
    """dpnn's SpatialGlimpse:updateOutput: ``input, location = toBatch(input, 3), toBatch(location, 1)``;
    per sample ``y, x = (loc + 1) / 2``; per depth the glimpse size (``floor(size)``, then ``floor(g *
    scale)`` for each depth after the first), the input zero-padded by ``floor((g - 1) / 2)`` on each side,
    the crop at ``floor(min(h, max(0, y * h)))`` (h = padded - glimpse), copied at depth 1 and passed through
    ``self.module`` (SpatialAveragePooling with kW = dW = glimpse / size, asserted even) after; the output
    viewed as N x depth*C x height x width, the batch dropped when the location had none (fromBatch)."""
    if not isinstance(x, list) or len(x) < 2:
        raise call.fail("expects {image, location}")
    image, loc = np.asarray(x[0], np.float64), np.asarray(x[1], np.float64)
    height, width = integer(m, call.where, "height"), integer(m, call.where, "width")
    depth = integer(m, call.where, "depth")
    scale = float(m.get("scale"))
    if image.ndim == 3:
        image = image[None]
    online = loc.ndim == 1
    if online:
        loc = loc[None]
    if image.ndim != 4 or loc.ndim != 2 or loc.shape[0] < image.shape[0] or loc.shape[1] < 2:
        raise call.fail(f"image {image.shape} / location {loc.shape}")
    n, c = image.shape[:2]
    out = np.zeros((n, depth, c, height, width))
    pool = m.get("module")
    for s in range(n):
        y, xx = (loc[s, 0] + 1) / 2, (loc[s, 1] + 1) / 2
        gw, gh = int(np.floor(width)), int(np.floor(height))
        for d in range(depth):
            if d > 0:
                gw, gh = int(np.floor(gw * scale)), int(np.floor(gh * scale))
            if max(gw, gh) > 1024:
                raise call.fail(f"a {gh}x{gw} glimpse: larger than 1024 is not run")
            pw, ph = (gw - 1) // 2, (gh - 1) // 2
            pad = np.zeros((c, image.shape[2] + 2 * ph, image.shape[3] + 2 * pw))
            pad[:, ph:ph + image.shape[2], pw:pw + image.shape[3]] = image[s]
            h, w = pad.shape[1] - gh, pad.shape[2] - gw
            if h < 0 or w < 0:
                raise call.fail(f"a {gh}x{gw} glimpse does not fit the padded input")
            y0, x0 = int(np.floor(min(h, max(0, y * h)))), int(np.floor(min(w, max(0, xx * w))))
            crop = pad[:, y0:y0 + gh, x0:x0 + gw]
            if d == 0:
                out[s, d] = crop
                continue
            if not isinstance(pool, T7Object) or pool.class_name != "nn.SpatialAveragePooling":
                raise call.fail("its module is not a SpatialAveragePooling (nnx's SpatialReSampling is not run)")
            kw, kh = gw / width, gh / height
            if kw % 2 != 0 or kh % 2 != 0:
                raise call.fail(f"pool size {kh}x{kw} is not even (the Lua asserts it)")
            kw, kh = int(kw), int(kh)
            out[s, d] = crop.reshape(c, height, kh, width, kw).mean(axis=(2, 4))
    out = out.reshape(n, depth * c, height, width)
    if online:
        if n != 1:
            raise call.fail("one location for several images")
        out = out[0]
    return out


@layer("nn.RecurrentAttention")
def recurrent_attention(m: T7Object, x, call: Call) -> list:
    """RecurrentAttention:updateOutput in evaluate mode: ``rnn:forget()``, ``action:forget()``; step 1
    ``actions[1] = action(_initInput)``, ``_initInput`` zeros of (input:size(1), hiddenSize...); step t
    ``actions[t] = action(output[t-1])``; ``output[t] = rnn{input, actions[t]}``, the rnn's output tensor
    itself. An nn.Recurrent rnn returns its initialModule's output at step 1 and its recurrentModule's
    (the same tensor, rewritten each step) after: at the end output[2..nStep] all hold the last step's
    values. Other rnns share their buffers otherwise: refused."""
    if m.get("forwardActions") not in (None, False):
        raise call.fail("forwardActions is set")
    n_step = integer(m, call.where, "nStep")
    hidden = m.get("hiddenSize")
    hidden = list(np.asarray(hidden).reshape(-1)) if isinstance(hidden, (list, np.ndarray)) else []
    if n_step < 1 or not hidden:
        raise call.fail(f"nStep {n_step} / hiddenSize {hidden}")
    kids = call.children
    if len(kids) != 2 or not isinstance(kids[0], T7Object) or kids[0].class_name != "nn.Recurrent":
        raise call.fail("its rnn (modules[1]) is not an nn.Recurrent: its buffer sharing is not modelled")
    first = x
    while isinstance(first, list):
        first = first[0]
    _states(call).clear()
    init = np.zeros([np.asarray(first).shape[0], *[int(v) for v in hidden]])
    out: list = []
    for step in range(n_step):
        act = call.child(1, init if step == 0 else out[step - 1])
        out.append(call.child(0, [x, act]))
    _states(call).clear()
    return [out[0]] + [out[-1]] * (n_step - 1)
