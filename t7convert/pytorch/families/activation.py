"""ReLU and Threshold: exactly ``torch.nn.ReLU`` and ``torch.nn.Threshold``.
"""
from __future__ import annotations

from torch import nn

from t7convert.pytorch.families import builds_module

builds_module("ReLU", nn.ReLU)
builds_module("Threshold", nn.Threshold)
