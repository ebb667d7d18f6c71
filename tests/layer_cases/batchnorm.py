"""Batch normalisation in 1, 2 and 3 dimensions, nn, cudnn and fbnn, current and legacy (running_std) files."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase
from t7convert.torch7.format import T7Object

M = tm.module


def _bn(cls: str, n: int, *, version: int = 2, legacy_std: bool = False, affine: bool = True):
    m = tm.batchnorm(n, legacy_std=legacy_std, affine=affine, spatial=cls.endswith("SpatialBatchNormalization"))
    return M(cls, 1 if legacy_std else version, **m.fields)


def volumetric_bn(n: int, cls: str = "nn.VolumetricBatchNormalization") -> T7Object:
    return M(cls, 2, **tm.batchnorm(n).fields)


CASES = [
    LayerCase("bn-spatial", lambda: _bn("nn.SpatialBatchNormalization", 3), (2, 3, 4, 4)),
    LayerCase("bn-spatial-legacy-std", lambda: _bn("nn.SpatialBatchNormalization", 3, legacy_std=True), (2, 3, 4, 4)),
    LayerCase("bn-cudnn-spatial", lambda: _bn("cudnn.SpatialBatchNormalization", 3), (2, 3, 4, 4)),
    LayerCase("bn-fbnn-spatial", lambda: _bn("fbnn.SpatialBatchNormalization", 3, legacy_std=True), (2, 3, 4, 4)),
    LayerCase("bn-1d", lambda: _bn("nn.BatchNormalization", 5), (3, 5)),
    LayerCase("bn-1d-no-affine", lambda: _bn("nn.BatchNormalization", 5, affine=False), (3, 5)),
    LayerCase("bn-cudnn-1d", lambda: _bn("cudnn.BatchNormalization", 5), (3, 5)),
    LayerCase("bn-fbnn-1d", lambda: _bn("fbnn.BatchNormalization", 5, legacy_std=True), (3, 5)),
    LayerCase("bn-volumetric", lambda: volumetric_bn(3), (2, 3, 2, 3, 4)),
    LayerCase("bn-cudnn-volumetric", lambda: volumetric_bn(2, cls="cudnn.VolumetricBatchNormalization"),
              (2, 2, 3, 3, 3)),
    LayerCase("bn-spatial-one-sample", lambda: tm.batchnorm(3), (3, 4, 5)),
]
