"""nn.Linear: exactly ``torch.nn.Linear``.
"""
from __future__ import annotations

from torch import nn

from t7convert.pytorch.families import builds_module

builds_module("Linear", nn.Linear)
