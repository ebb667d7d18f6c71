"""nn.Linear: exactly ``torch.nn.Linear``.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from t7convert.pytorch.families import builds


@builds("Linear")
def build_linear(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    return nn.Linear(a["in_features"], a["out_features"], bias=a["bias"])
