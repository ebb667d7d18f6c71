"""The 2-D convolutions (nn, cudnn, fbnn, SpatialConvolutionMM's 2-D weight)."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


CASES = [
    LayerCase("conv-cudnn", lambda: tm.conv(3, 4, 3, 3, 1, 1, 1, 1), (2, 3, 7, 6)),
    LayerCase("conv-nn-strided-rectangular", lambda: tm.conv(3, 5, 3, 5, 2, 1, 1, 2, cls="nn.SpatialConvolution"),
              (2, 3, 9, 8)),
    LayerCase("conv-mm-2d-weight", lambda: M("nn.SpatialConvolutionMM", **{
        **tm.conv(2, 3, 3, 3, cls="nn.SpatialConvolutionMM").fields,
        "weight": tm.f32(3, 2 * 3 * 3, scale=0.3)}), (2, 2, 5, 5)),
    LayerCase("conv-cudnn-grouped-no-bias", lambda: tm.conv(4, 6, 3, 3, 1, 1, 1, 1, groups=2, bias=False), (2, 4, 5, 5)),
    LayerCase("conv-fbnn", lambda: M("fbnn.SpatialConvolution", **{
        k: v for k, v in tm.conv(3, 4, 3, 3, cls="fbnn.SpatialConvolution").fields.items() if k not in ("padW", "padH")},
        padLeft=1, padUp=1), (2, 3, 5, 5)),
]
