"""Spatial convolutions: nn.SpatialConvolution(MM), cudnn.SpatialConvolution, fbnn.SpatialConvolution.

Torch7 (THNN's SpatialConvolutionMM, which both nn classes call) unfolds the zero-padded input into
columns whose rows run over (input plane, kernel row, kernel column) and multiplies by the weight
viewed as ``(nOutputPlane, nInputPlane*kH*kW)``; the output size is ``(H + 2*padH - kH) / dH + 1``.
We do the same: the columns are a strided view of the padded input (no Python loop over pixels),
copied once into matmul layout. cudnn's grouped convolution is the same product per group: group g
reads input planes ``[g*C/G, (g+1)*C/G)`` and writes output planes ``[g*O/G, (g+1)*O/G)``, with weight
``(nOutputPlane, nInputPlane/groups, kH, kW)``; one batched matmul covers all groups.

Kernel, stride and padding come as Torch7's (W, H) pairs ``kW, kH, dW, dH, padW, padH``; the weight is
(..., kH, kW). Old files may carry a single ``padding`` field (both directions) and, for the MM class
and early nn.SpatialConvolution, a 2-D weight: both are read as the Lua code reads them.
fbcunn's fbnn.SpatialConvolution wraps a cudnn convolution (same weight layout, no groups) and names
its padding ``padLeft`` (W) and ``padUp`` (H).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def columns(x: np.ndarray, kH: int, kW: int, dH: int, dW: int, padH: int, padW: int,
            Ho: int, Wo: int) -> np.ndarray:
    """THNN's ``unfolded_copy`` for a batch: (N, C*kH*kW, Ho*Wo), rows ordered (plane, row, col)."""
    N, C = x.shape[:2]
    if kH == kW == 1 and padH == padW == 0:
        picked = x[:, :, ::dH, ::dW][:, :, :Ho, :Wo]
        return picked.reshape(N, C, Ho * Wo)
    if padH or padW:
        x = np.pad(x, ((0, 0), (0, 0), (padH, padH), (padW, padW)))
    windows = sliding_window_view(x, (kH, kW), axis=(2, 3))[:, :, ::dH, ::dW][:, :, :Ho, :Wo]
    # (N, C, Ho, Wo, kH, kW) -> (N, C, kH, kW, Ho, Wo), copied into one contiguous block
    return np.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3)).reshape(N, C * kH * kW, Ho * Wo)


def convolve(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *, kW: int, kH: int,
             dW: int, dH: int, padW: int, padH: int, groups: int, call: Call) -> np.ndarray:
    """Grouped 2-D cross-correlation of a 3-D or 4-D input, with Torch7's output size."""
    if min(kW, kH) < 1 or min(dW, dH) < 1 or min(padW, padH) < 0:
        raise call.fail(f"bad geometry: kernel {kW}x{kH}, stride {dW}x{dH}, padding {padW}x{padH} (WxH)")
    batched = x.ndim == 4
    x4 = x if batched else x[None]
    N, C, H, W = x4.shape
    nOut = weight.shape[0]
    w2d = weight.reshape(nOut, -1)
    K = w2d.shape[1]
    if K % (kH * kW):
        raise call.fail(f"weight {'x'.join(map(str, weight.shape))} does not fit a {kW}x{kH} (WxH) kernel")
    per_group = K // (kH * kW)
    if groups < 1 or nOut % groups or per_group * groups != C:
        raise call.fail(f"input has {C} planes; weight {'x'.join(map(str, weight.shape))} with "
                        f"{groups} group(s) expects {per_group * groups}")
    if bias is not None and bias.size != nOut:
        raise call.fail(f"bias has {bias.size} values for {nOut} output planes")
    if H + 2 * padH < kH or W + 2 * padW < kW:
        raise call.fail(f"input {H}x{W} (HxW) padded by {padH}x{padW} is smaller than the kernel {kH}x{kW}")
    Ho = (H + 2 * padH - kH) // dH + 1
    Wo = (W + 2 * padW - kW) // dW + 1
    cols = columns(x4, kH, kW, dH, dW, padH, padW, Ho, Wo).reshape(N, groups, per_group * kH * kW, Ho * Wo)
    out = np.matmul(w2d.reshape(groups, nOut // groups, K), cols).reshape(N, nOut, Ho, Wo)
    if bias is not None:
        out += bias.reshape(nOut, 1, 1)
    return out if batched else out[0]


def _geometry(m: T7Object, where: str) -> dict[str, int]:
    kW = integer(m, where, "kW")
    kH = integer(m, where, "kH")
    dW = integer(m, where, "dW", default=1)
    dH = integer(m, where, "dH", default=1)
    if m.get("padding") is not None:  # before padW/padH existed: one padding for both directions
        padW = padH = integer(m, where, "padding")
    else:
        padW = integer(m, where, "padW", default=0)
        padH = integer(m, where, "padH", default=0)
    return dict(kW=kW, kH=kH, dW=dW, dH=dH, padW=padW, padH=padH)


@layer("nn.SpatialConvolution", "nn.SpatialConvolutionMM")
def spatial_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    """nn's convolutions: no groups (a weight with fewer input planes fails, as it does in Torch7)."""
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    return convolve(x, tensor(m, call.where, "weight"),
                    tensor(m, call.where, "bias", required=False),
                    groups=1, call=call, **_geometry(m, call.where))


@layer("cudnn.SpatialConvolution")
def cudnn_spatial_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    """cudnn's convolution: ``groups`` (default 1) splits input and output planes in order."""
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    return convolve(x, tensor(m, call.where, "weight"),
                    tensor(m, call.where, "bias", required=False),
                    groups=integer(m, call.where, "groups", default=1), call=call, **_geometry(m, call.where))


@layer("fbnn.SpatialConvolution")
def fbnn_spatial_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    """fbcunn's convolution: cudnn's weights, padding in ``padLeft``/``padUp``, 4-D input only."""
    x = array_input(x, m, where=call.where, ndims=(4,))
    geometry = _geometry(m, call.where)
    geometry["padW"] = integer(m, call.where, "padLeft", default=geometry["padW"])
    geometry["padH"] = integer(m, call.where, "padUp", default=geometry["padH"])
    return convolve(x, tensor(m, call.where, "weight"),
                    tensor(m, call.where, "bias", required=False), groups=1, call=call, **geometry)
