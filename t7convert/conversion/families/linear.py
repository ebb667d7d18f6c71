"""nn.Linear: weight (out, in), bias optional (``noBias()`` leaves it nil)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.fields import tensor
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.Linear")
def linear(m: T7Object, ctx) -> Node:
    weight = tensor(m, ctx, "weight")
    if weight.ndim != 2:
        raise ctx.fail(m, f"weight has shape {weight.shape}, expected (out, in)")
    out_f, in_f = weight.shape
    bias = tensor(m, ctx, "bias", required=False, shape=(out_f,))
    tensors = {"weight": weight}
    if bias is not None:
        tensors["bias"] = bias
    return Node("Linear", LinearRecord(in_features=in_f, out_features=out_f, bias=bias is not None), tensors)


@expects_input("Linear")
def _linear_input(attrs: dict) -> tuple[int, ...]:
    return (int(attrs["in_features"]),)


@describes("nn.Linear")
def _describe(m: T7Object) -> str:
    """``nn.Linear(2048 -> 1000)`` (and ``without bias``)."""
    w = m.get("weight")
    if not (isinstance(w, np.ndarray) and w.ndim == 2):
        return m.class_name
    return f"{m.class_name}({w.shape[1]} -> {w.shape[0]})" + ("" if m.get("bias") is not None else " without bias")


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("Linear")
@dataclass(frozen=True)
class LinearRecord:
    """What a Linear node stores."""

    bias: bool
    in_features: int = bounded(0, MAX_EXTENT)
    out_features: int = bounded(0, MAX_EXTENT)
