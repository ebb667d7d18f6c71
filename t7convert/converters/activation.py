"""ReLU and Threshold: y = x if x > threshold else val (nn.ReLU is Threshold(0, 0))."""
from __future__ import annotations

from ..format import T7Object
from ..graph import Node
from ._fields import number
from .registry import converts


@converts("nn.ReLU", "cudnn.ReLU", "nn.Threshold")
def threshold(m: T7Object, ctx) -> Node:
    th = float(number(m, ctx, "threshold", default=0.0))
    val = float(number(m, ctx, "val", default=0.0))
    if th == 0.0 and val == 0.0:
        return Node("ReLU")
    return Node("Threshold", {"threshold": th, "value": val})
