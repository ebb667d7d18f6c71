"""Convolutions over time: (T, F) and (N, T, F) sequences, strides, featFirst, no bias."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def temporal(n_in=5, n_out=4, kw=3, dw=2):
    return M("nn.TemporalConvolution", inputFrameSize=n_in, outputFrameSize=n_out, kW=kw, dW=dw,
             weight=tm.f32(n_out, kw * n_in, scale=0.3), bias=tm.f32(n_out, scale=0.1))


def row(n=5, kw=3, dw=1, feat_first=False, bias=True):
    f = dict(inputFrameSize=n, kW=kw, dW=dw, featFirst=feat_first, weight=tm.f32(n, 1, kw, scale=0.4))
    if bias:
        f["bias"] = tm.f32(n, scale=0.1)
    return M("nn.TemporalRowConvolution", **f)


CASES = [
    LayerCase("temporalconv-batch-strided", lambda: temporal(), (2, 9, 5)),
    LayerCase("temporalconv-unbatched", lambda: temporal(kw=2, dw=1), (7, 5)),
    LayerCase("temporalsubsampling", lambda: M("nn.TemporalSubSampling", inputFrameSize=4, kW=3, dW=2,
                                               weight=tm.f32(4), bias=tm.f32(4, scale=0.1)), (9, 4)),
    LayerCase("rowconv-batch", lambda: row(), (2, 8, 5)),
    LayerCase("rowconv-unbatched-strided-no-bias", lambda: row(dw=2, bias=False), (9, 5)),
    LayerCase("rowconv-feat-first", lambda: row(feat_first=True, dw=2), (2, 5, 9)),
    LayerCase("rowconv-feat-first-unbatched", lambda: row(feat_first=True), (5, 7)),
]
