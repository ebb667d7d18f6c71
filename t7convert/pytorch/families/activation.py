"""ReLU and Threshold: exactly ``torch.nn.ReLU`` and ``torch.nn.Threshold``.
"""
from __future__ import annotations

from torch import nn

from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds


@builds("ReLU")
def build_re_lu(a: Record, children: list[nn.Module]) -> nn.Module:
    return nn.ReLU()


@builds("Threshold")
def build_threshold(a: Record, children: list[nn.Module]) -> nn.Module:
    return nn.Threshold(a.threshold, a.value)
