"""Spatial max and average pooling, nn and cudnn (their output-size rules differ)."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

CASES = [
    LayerCase("maxpool-ceil-padded", lambda: tm.maxpool(3, 3, 2, 2, 1, 1, ceil=True), (2, 3, 8, 7)),
    LayerCase("maxpool-cudnn", lambda: tm.maxpool(3, 2, 2, 2, cls="cudnn.SpatialMaxPooling"), (2, 3, 7, 7)),
    LayerCase("avgpool-exclude-pad", lambda: tm.avgpool(3, 3, 2, 2, 1, 1, count_include_pad=False), (2, 3, 7, 7)),
    LayerCase("avgpool-cudnn", lambda: tm.avgpool(2, 2, 2, 2, cls="cudnn.SpatialAveragePooling"), (2, 3, 6, 6)),
]
