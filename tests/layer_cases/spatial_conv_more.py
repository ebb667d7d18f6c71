"""Dilated, depthwise, locally connected, connection-table convolutions and SpatialSubSampling:
non-square kernels, strides, paddings and dilations; batched and unbatched (3-D) images."""
from __future__ import annotations

import numpy as np
import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def dilated(n_in=3, n_out=4, kw=3, kh=2, dw=1, dh=2, pw=2, ph=1, dilw=2, dilh=3, bias=True):
    f = dict(nInputPlane=n_in, nOutputPlane=n_out, kW=kw, kH=kh, dW=dw, dH=dh, padW=pw, padH=ph,
             dilationW=dilw, dilationH=dilh, weight=tm.f32(n_out, n_in, kh, kw, scale=0.3))
    if bias:
        f["bias"] = tm.f32(n_out, scale=0.1)
    return M("nn.SpatialDilatedConvolution", **f)


def depthwise(n_in=3, mult=2, kw=3, kh=2, dw=2, dh=1, pw=1, ph=0, bias=True, weight_2d=False):
    w = tm.f32(mult, n_in * kh * kw, scale=0.3) if weight_2d else tm.f32(mult, n_in, kh, kw, scale=0.3)
    f = dict(nInputPlane=n_in, nOutputPlane=mult, kW=kw, kH=kh, dW=dw, dH=dh, padW=pw, padH=ph, weight=w)
    if bias:
        f["bias"] = tm.f32(mult, n_in, scale=0.1)
    return M("nn.SpatialDepthWiseConvolution", **f)


def local(n_in=2, n_out=3, iw=6, ih=5, kw=3, kh=2, dw=2, dh=1, pw=1, ph=0):
    ow, oh = (iw + 2 * pw - kw) // dw + 1, (ih + 2 * ph - kh) // dh + 1
    return M("nn.SpatialConvolutionLocal", nInputPlane=n_in, nOutputPlane=n_out, iW=iw, iH=ih, oW=ow, oH=oh,
             kW=kw, kH=kh, dW=dw, dH=dh, padW=pw, padH=ph, weight=tm.f32(oh, ow, n_out, n_in, kh, kw, scale=0.3),
             bias=tm.f32(n_out, oh, ow, scale=0.1))


def table_full(n_in: int, n_out: int) -> np.ndarray:
    """nn.tables.full: every (input, output) pair, inputs fastest, 1-based."""
    return np.array([[i, o] for o in range(1, n_out + 1) for i in range(1, n_in + 1)], np.float32)


def table_one_to_one(n: int) -> np.ndarray:
    return np.array([[i, i] for i in range(1, n + 1)], np.float32)


RANDOM_TABLE = np.array([[2, 1], [3, 1], [1, 2], [3, 2], [2, 3], [1, 3]], np.float32)  # tables.random(3, 3, 2)


def conv_map(table: np.ndarray, kw=3, kh=2, dw=1, dh=2, full=False):
    cls = "nn.SpatialFullConvolutionMap" if full else "nn.SpatialConvolutionMap"
    n_out = int(table[:, 1].max())
    return M(cls, connTable=table, nInputPlane=int(table[:, 0].max()), nOutputPlane=n_out, kW=kw, kH=kh, dW=dw,
             dH=dh, weight=tm.f32(table.shape[0], kh, kw, scale=0.4), bias=tm.f32(n_out, scale=0.1))


def subsampling(n=3, kw=3, kh=2, dw=2, dh=1):
    return M("nn.SpatialSubSampling", nInputPlane=n, kW=kw, kH=kh, dW=dw, dH=dh, weight=tm.f32(n, scale=0.5),
             bias=tm.f32(n, scale=0.1))


CASES = [
    LayerCase("dilated-rectangular", lambda: dilated(), (2, 3, 9, 8)),
    LayerCase("dilated-unbatched-no-bias", lambda: dilated(bias=False), (3, 9, 7)),
    LayerCase("depthwise-square", lambda: depthwise(kw=3, kh=3, dw=1, dh=1, pw=1, ph=1), (2, 3, 6, 6)),
    LayerCase("depthwise-non-square-input", lambda: depthwise(), (2, 3, 5, 7)),
    LayerCase("depthwise-unbatched-2d-weight-no-bias", lambda: depthwise(bias=False, weight_2d=True), (3, 6, 4)),
    LayerCase("local-rectangular", lambda: local(), (2, 2, 5, 6)),
    LayerCase("local-unbatched", lambda: local(), (2, 5, 6)),
    LayerCase("convmap-full-table", lambda: conv_map(table_full(3, 4)), (2, 3, 7, 6)),
    LayerCase("convmap-random-table-unbatched", lambda: conv_map(RANDOM_TABLE, dw=2, dh=1), (3, 6, 7)),
    LayerCase("fullconvmap-one-to-one", lambda: conv_map(table_one_to_one(3), dw=2, dh=1, full=True), (3, 4, 5)),
    LayerCase("fullconvmap-full-table", lambda: conv_map(table_full(2, 3), full=True), (2, 4, 3)),
    LayerCase("subsampling-rectangular", lambda: subsampling(), (2, 3, 7, 6)),
    LayerCase("subsampling-unbatched", lambda: subsampling(kw=2, kh=2, dw=2, dh=2), (3, 6, 6)),
]
