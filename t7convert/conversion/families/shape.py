"""nn.View (sizes with -1, setNumInputDims) and nn.Reshape (batchMode)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.fields import flag, long_list, optional_integer
from t7convert.conversion.records import record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.View")
def view(m: T7Object, ctx) -> Node:
    sizes = long_list(m, ctx, "size")
    if sum(1 for s in sizes if s == -1) > 1 or any(s < -1 for s in sizes):
        raise ctx.fail(m, f"size {sizes}: only one -1 and no other negative sizes are allowed")
    return Node("View", ViewRecord(sizes=sizes, num_input_dims=optional_integer(m, ctx, "numInputDims")))


@converts("nn.Reshape")
def reshape(m: T7Object, ctx) -> Node:
    sizes = long_list(m, ctx, "size")
    return Node("Reshape", ReshapeRecord(sizes=sizes, batch_mode=flag(m, "batchMode", default=None)))


@expects_input("View", "Reshape")
def _flat_input(attrs: dict) -> tuple[int, ...] | None:
    """A model that starts by viewing its input as fixed sizes (an MNIST MLP's ``View(784)``) takes
    a vector of that many values per sample; with -1 in the sizes, the input cannot be told."""
    sizes = attrs["sizes"]
    if any(s < 0 for s in sizes) or attrs.get("num_input_dims") not in (None, 1):
        return None
    n = 1
    for s in sizes:
        n *= s
    return (n,) if n > 0 else None


@describes("nn.View")
def _describe_view(m: T7Object) -> str:
    """``nn.View(2048):setNumInputDims(3)``."""
    size = m.get("size")
    sizes = ", ".join(str(int(v)) for v in np.asarray(size).reshape(-1)) if size is not None else "?"
    n = m.get("numInputDims")
    return f"{m.class_name}({sizes})" + (f":setNumInputDims({n})" if n else "")


@describes("nn.Reshape")
def _describe_reshape(m: T7Object) -> str:
    size = m.get("size")
    sizes = "x".join(str(int(v)) for v in np.asarray(size).reshape(-1)) if size is not None else "?"
    return f"{m.class_name}({sizes})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("Reshape")
@dataclass(frozen=True)
class ReshapeRecord:
    """What a Reshape node stores."""

    sizes: list[int]
    batch_mode: bool | None = None  # batchMode: false (sizes whole), true (a batch first), nil (Torch7 decides)


@record("View")
@dataclass(frozen=True)
class ViewRecord:
    """What a View node stores."""

    sizes: list[int]
    num_input_dims: int | None = None
