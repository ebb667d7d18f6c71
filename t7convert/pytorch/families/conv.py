"""Spatial convolutions: exactly ``torch.nn.Conv2d`` once the converter has ordered kernels as (H, W).
"""
from __future__ import annotations

from torch import nn

from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds


@builds("Conv2d")
def build_conv2d(a: Record, children: list[nn.Module]) -> nn.Module:
    return nn.Conv2d(a.in_channels, a.out_channels, tuple(a.kernel_size), tuple(a.stride),
                     tuple(a.padding), groups=a.groups, bias=a.bias)
