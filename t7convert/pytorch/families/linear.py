"""nn.Linear: exactly ``torch.nn.Linear``.
"""
from __future__ import annotations

from torch import nn

from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds


@builds("Linear")
def build_linear(a: Record, children: list[nn.Module]) -> nn.Module:
    return nn.Linear(a.in_features, a.out_features, bias=a.bias)
