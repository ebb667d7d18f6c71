"""ReLU and Threshold: y = x if x > threshold else val (nn.ReLU is Threshold(0, 0))."""
from __future__ import annotations

from dataclasses import dataclass

from t7convert.conversion.fields import number
from t7convert.conversion.records import record
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.ReLU", "cudnn.ReLU", "nn.Threshold")
def threshold(m: T7Object, ctx) -> Node:
    # nn.ReLU's constructor always sets threshold 0; nn.Threshold's defaults it to 1e-6 (nn/Threshold.lua)
    th = float(number(m, ctx, "threshold", default=1e-6 if m.class_name == "nn.Threshold" else 0.0))
    val = float(number(m, ctx, "val", default=0.0))
    if th == 0.0 and val == 0.0:
        return Node("ReLU")
    return Node("Threshold", ThresholdRecord(threshold=th, value=val))


@describes("nn.ReLU", "cudnn.ReLU", "nn.Threshold")
def _describe(m: T7Object) -> str:
    th, val = m.get("threshold", 0), m.get("val", 0)
    return m.class_name if (th, val) == (0, 0) else f"{m.class_name}(threshold {th}, value {val})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("ReLU")
@dataclass(frozen=True)
class ReLURecord:
    """A ReLU node stores no attributes."""


@record("Threshold")
@dataclass(frozen=True)
class ThresholdRecord:
    """What a Threshold node stores."""

    threshold: float
    value: float
