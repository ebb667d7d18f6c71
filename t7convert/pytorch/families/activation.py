"""ReLU and Threshold: exactly ``torch.nn.ReLU`` and ``torch.nn.Threshold``.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from t7convert.pytorch.families import builds


@builds("ReLU")
def build_re_lu(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    return nn.ReLU()


@builds("Threshold")
def build_threshold(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    return nn.Threshold(a["threshold"], a["value"])
