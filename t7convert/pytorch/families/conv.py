"""Spatial convolutions: exactly ``torch.nn.Conv2d`` once the converter has ordered kernels as (H, W).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from t7convert.pytorch.families import builds


@builds("Conv2d")
def build_conv2d(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    return nn.Conv2d(a["in_channels"], a["out_channels"], tuple(a["kernel_size"]), tuple(a["stride"]),
                     tuple(a["padding"]), groups=a["groups"], bias=a["bias"])
