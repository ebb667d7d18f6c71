"""Up-sampling (nearest, align-corners linear, fixed sizes, 5-D) and PixelShuffle, unbatched inputs too."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

M = tm.module

CASES = [
    LayerCase("nearest-3", lambda: M("nn.SpatialUpSamplingNearest", scale_factor=3), (2, 3, 3, 4)),
    LayerCase("nearest-unbatched", lambda: M("nn.SpatialUpSamplingNearest", scale_factor=2), (3, 3, 4)),
    LayerCase("bilinear-scale", lambda: M("nn.SpatialUpSamplingBilinear", scale_factor=3), (2, 3, 5, 4)),
    LayerCase("bilinear-fixed-size-unbatched", lambda: M("nn.SpatialUpSamplingBilinear", owidth=7, oheight=5),
              (3, 3, 4)),
    LayerCase("upsampling-nearest-5d", lambda: M("nn.UpSampling", scale_factor=2, mode="nearest"), (1, 2, 2, 3, 3)),
    LayerCase("upsampling-linear-4d", lambda: M("nn.UpSampling", scale_factor=2, mode="linear"), (2, 3, 4, 3)),
    LayerCase("upsampling-trilinear-fixed", lambda: M("nn.UpSampling", mode="linear", odepth=4, oheight=5, owidth=3),
              (1, 2, 2, 3, 4)),
    LayerCase("pixelshuffle-3", lambda: M("nn.PixelShuffle", upscaleFactor=3, upscaleFactorSquared=9), (2, 9, 2, 3)),
    LayerCase("pixelshuffle-unbatched", lambda: M("nn.PixelShuffle", upscaleFactor=2, upscaleFactorSquared=4),
              (8, 3, 3)),
]
