"""Reference execution of nn.TemporalConvolution, nn.TemporalSubSampling and nn.TemporalRowConvolution.

From THNN's C code; sequences are (T, F) or (N, T, F), time first.

- TemporalConvolution: output frame t is ``bias + weight * (frames t*dW .. t*dW + kW - 1 laid end to
  end)``, weight (out, kW*in): ``sum_k,i weight[o, k*in + i] * x[t*dW + k, i]``.
- TemporalSubSampling: ``weight * sum(frames t*dW .. t*dW + kW - 1) + bias``, 2-D input only.
- TemporalRowConvolution: unless featFirst the input is transposed to (F, T); each feature row is
  unfolded (``unfolded_copy_row``: ``x[f, t*dW + k]``) and multiplied by its own kernel
  weight[f, 0, :]; bias optional; no padding. The output is transposed back unless featFirst.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.families.spatial_conv_more import at_least, batch_of, shaped
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _window(m: T7Object, call: Call, frames: int) -> tuple[int, int, int]:
    """kW, dW and the number of output frames of a ``frames``-long sequence."""
    kw, dw = at_least(m, call, "kW", 1), at_least(m, call, "dW", 1, 1)
    if frames < kw:
        raise call.fail(f"input sequence of {frames} frames is smaller than the kernel ({kw})")
    return kw, dw, (frames - kw) // dw + 1


def _frames(x: np.ndarray, k: int, dw: int, count: int, axis: int) -> np.ndarray:
    """Frames k, k + dW, ... (``count`` of them) along ``axis``."""
    index = [slice(None)] * x.ndim
    index[axis] = slice(k, k + (count - 1) * dw + 1, dw)
    return x[tuple(index)]


def _check_features(call: Call, got: int, want: int) -> None:
    if got != want:
        raise call.fail(f"invalid input frame size: got {got}, expected {want}")


@layer("nn.TemporalConvolution")
def temporal_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    xb, batched = batch_of(x, m, call, (2, 3))
    n_in, n_out = at_least(m, call, "inputFrameSize", 1), at_least(m, call, "outputFrameSize", 1)
    _check_features(call, xb.shape[2], n_in)
    kw, dw, count = _window(m, call, xb.shape[1])
    w = shaped(m, call, "weight", (n_out, kw, n_in))
    out = np.broadcast_to(shaped(m, call, "bias", (n_out,)), (xb.shape[0], count, n_out)).copy()
    for k in range(kw):
        out += _frames(xb, k, dw, count, 1) @ w[:, k, :].T
    return out if batched else out[0]


@layer("nn.TemporalSubSampling")
def temporal_subsampling(m: T7Object, x, call: Call) -> np.ndarray:
    xb = batch_of(x, m, call, (2,))[0][0]
    n = at_least(m, call, "inputFrameSize", 1)
    _check_features(call, xb.shape[1], n)
    kw, dw, count = _window(m, call, xb.shape[0])
    sums = sum(_frames(xb, k, dw, count, 0) for k in range(kw))
    return sums * shaped(m, call, "weight", (n,)) + shaped(m, call, "bias", (n,))


@layer("nn.TemporalRowConvolution")
def temporal_row_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    xb, batched = batch_of(x, m, call, (2, 3))
    feat_first = m.get("featFirst") not in (None, False)
    rows = xb if feat_first else xb.swapaxes(1, 2)       # N, F, T
    n = at_least(m, call, "inputFrameSize", 1)
    w = shaped(m, call, "weight", (n, 1, at_least(m, call, "kW", 1)))
    b = shaped(m, call, "bias", (n,), required=False)
    _check_features(call, rows.shape[1], n)
    kw, dw, count = _window(m, call, rows.shape[2])
    out = sum(_frames(rows, k, dw, count, 2) * w[:, 0, k].reshape(1, n, 1) for k in range(kw))
    if b is not None:
        out = out + b.reshape(1, n, 1)
    out = out if feat_first else out.swapaxes(1, 2)
    return out if batched else out[0]
