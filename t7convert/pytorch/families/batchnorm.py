"""Batch normalisation in evaluate mode: ``torch.nn.BatchNorm1d/2d`` on the running statistics.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from t7convert.pytorch.families import builds


@builds("BatchNorm")
def build_batch_norm(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    cls = nn.BatchNorm2d if a["spatial"] else nn.BatchNorm1d
    return cls(a["num_features"], eps=a["eps"], affine=a["affine"])
