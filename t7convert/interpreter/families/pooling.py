"""Max and average pooling, nn (THNN kernels) and cudnn, with ceil mode and padding.

Output size. THNN: ``floor_or_ceil((H - kH + 2*padH) / dH) + 1``, then, only when there is padding,
one fewer if the last window would start at or beyond ``H + padH`` (THNN's "ensure that the last
pooling starts inside the image"). cudnn.torch: ``floor_or_ceil((H + 2*padH - kH) / dH + 1)``, with
no such correction.

Windows. Output (i, j) covers rows ``[i*dH - padH, i*dH - padH + kH)``, clipped to the image for the values.
Max ignores the padding. THNN starts each maximum at ``-THInf`` (``-FLT_MAX`` for float, TH's ``THInf`` is no
infinity) and keeps a value only when it is ``>``: a window past the input (ceil mode without padding, ``H=7,
k=2, d=4``) or holding only -inf gives ``-FLT_MAX``, and NaN never wins. Average sums what is inside the image
and divides by the window clipped to the *padded* image, ``min(start + k, H + pad) - start`` per axis, when
``count_include_pad``; otherwise by the part inside the image. Everything is separable per axis, so it is
computed on a strided view of a padded copy, never pixel by pixel.

Legacy fields: average-pooling files (nn and cudnn) from before ``ceil_mode`` existed are read with
ceil off, padding 0 and include-pad on, whatever padW/padH say, as their ``backwardCompatible`` does;
for nn a missing ``divide`` means the output is multiplied by kW*kH (the module used to compute sums).
cudnn.SpatialAveragePooling always includes the padding (cudnn.torch's
``count_include_pad ~= nil and count_include_pad or true`` is always true) and refuses
``divide == false``. Where a cudnn ceil-mode window runs past the padded input, cudnn's own divisor is
undocumented; THNN's (the window clipped to the padded input) is used.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, flag, integer, th_inf
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def thnn_size(size: int, k: int, d: int, pad: int, ceil: bool, padded: bool) -> int:
    """THNN's output length along one axis (``padded``: whether padH or padW is non-zero)."""
    span = size - k + 2 * pad
    out = (-(-span // d) if ceil else span // d) + 1
    if padded and (out - 1) * d >= size + pad:
        out -= 1
    return out


def cudnn_size(size: int, k: int, d: int, pad: int, ceil: bool) -> int:
    """cudnn.torch's output length along one axis: no last-window correction."""
    span = size + 2 * pad - k
    return (-(-span // d) if ceil else span // d) + 1


def _windows(x: np.ndarray, kH: int, kW: int, dH: int, dW: int, padH: int, padW: int,
             Ho: int, Wo: int, fill: float) -> np.ndarray:
    """(N, C, Ho, Wo, kH, kW) view of x padded with ``fill`` far enough for every window."""
    H, W = x.shape[-2:]
    extra_h = max(0, (Ho - 1) * dH + kH - (H + padH))
    extra_w = max(0, (Wo - 1) * dW + kW - (W + padW))
    padded = np.pad(x, ((0, 0), (0, 0), (padH, extra_h), (padW, extra_w)), constant_values=fill)
    return sliding_window_view(padded, (kH, kW), axis=(2, 3))[:, :, ::dH, ::dW][:, :, :Ho, :Wo]


def _counts(size: int, k: int, d: int, pad: int, n_out: int, include_pad: bool) -> np.ndarray:
    """Per-output divisor along one axis, THNN's formula (it can be 0 or negative at the edges)."""
    start = np.arange(n_out) * d - pad
    end = np.minimum(start + k, size + pad)
    if include_pad:
        return (end - start).astype(np.float64)
    return (np.minimum(end, size) - np.maximum(start, 0)).astype(np.float64)


class _Geometry:
    def __init__(self, m: T7Object, where: str, *, legacy_avg: bool = False) -> None:
        self.kW = integer(m, where, "kW")
        self.kH = integer(m, where, "kH")
        self.dW = integer(m, where, "dW", default=self.kW)
        self.dH = integer(m, where, "dH", default=self.kH)
        self.legacy = legacy_avg and m.get("ceil_mode") is None
        if self.legacy:
            self.padW = self.padH = 0
            self.ceil = False
        else:
            self.padW = integer(m, where, "padW", default=0)
            self.padH = integer(m, where, "padH", default=0)
            self.ceil = flag(m, "ceil_mode")


def _pool(m: T7Object, x, call: Call, *, kind: str, cudnn: bool) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    g = _Geometry(m, call.where, legacy_avg=(kind == "avg"))
    if min(g.kW, g.kH, g.dW, g.dH) < 1:
        raise call.fail(f"bad kernel {g.kW}x{g.kH} or stride {g.dW}x{g.dH} (WxH)")
    if not cudnn and (g.kW // 2 < g.padW or g.kH // 2 < g.padH):
        raise call.fail(f"padding {g.padW}x{g.padH} is more than half the kernel {g.kW}x{g.kH} (WxH)")
    x4 = x if x.ndim == 4 else x[None]
    H, W = x4.shape[-2:]
    if cudnn:
        Ho = cudnn_size(H, g.kH, g.dH, g.padH, g.ceil)
        Wo = cudnn_size(W, g.kW, g.dW, g.padW, g.ceil)
    else:
        padded = bool(g.padW or g.padH)
        Ho = thnn_size(H, g.kH, g.dH, g.padH, g.ceil, padded)
        Wo = thnn_size(W, g.kW, g.dW, g.padW, g.ceil, padded)
    if Ho < 1 or Wo < 1:
        raise call.fail(f"input {H}x{W} (HxW) gives an empty output ({Ho}x{Wo})")

    if kind == "max":
        windows = _windows(x4, g.kH, g.kW, g.dH, g.dW, g.padH, g.padW, Ho, Wo, -np.inf)
        # THNN compares with `>`, so NaN never wins; cudnn.torch sets CUDNN_PROPAGATE_NAN
        reduce = np.maximum.reduce if cudnn else np.fmax.reduce
        out = reduce(reduce(windows, axis=-1), axis=-1)
        if not cudnn:  # cudnn's value for an empty window is undocumented; -inf is kept there
            out = np.fmax(out, -th_inf(m))
    else:
        if cudnn:
            divide, include_pad = m.get("divide"), True
            if divide is False:
                raise call.fail("divide=false is not supported by cudnn.SpatialAveragePooling")
        else:
            divide = m.get("divide")
            include_pad = True if g.legacy else flag(m, "count_include_pad")  # nil reaches THNN as false
        windows = _windows(x4, g.kH, g.kW, g.dH, g.dW, g.padH, g.padW, Ho, Wo, 0.0)
        sums = windows.sum(axis=(-2, -1))
        rows = _counts(H, g.kH, g.dH, g.padH, Ho, include_pad)
        cols = _counts(W, g.kW, g.dW, g.padW, Wo, include_pad)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = sums / (rows[:, None] * cols[None, :])
        if not cudnn and (divide is None or divide is False):  # Lua: only nil and false are false
            out = out * (g.kW * g.kH)
    return out if x.ndim == 4 else out[0]


@layer("nn.SpatialMaxPooling")
def spatial_max_pooling(m: T7Object, x, call: Call) -> np.ndarray:
    out = _pool(m, x, call, kind="max", cudnn=False)
    # what an nn.SpatialMaxUnpooling holding this module reads after this forward (its indices and
    # input size come from this input; see pooling_more)
    call.engine.module_state[id(m)] = {"input": x.copy()}
    return out


@layer("cudnn.SpatialMaxPooling")
def cudnn_spatial_max_pooling(m: T7Object, x, call: Call) -> np.ndarray:
    return _pool(m, x, call, kind="max", cudnn=True)


@layer("nn.SpatialAveragePooling")
def spatial_average_pooling(m: T7Object, x, call: Call) -> np.ndarray:
    return _pool(m, x, call, kind="avg", cudnn=False)


@layer("cudnn.SpatialAveragePooling")
def cudnn_spatial_average_pooling(m: T7Object, x, call: Call) -> np.ndarray:
    return _pool(m, x, call, kind="avg", cudnn=True)
