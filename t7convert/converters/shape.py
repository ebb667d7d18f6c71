"""nn.View (sizes with -1, setNumInputDims) and nn.Reshape (batchMode)."""
from __future__ import annotations

from ..format import T7Object
from ..graph import Node
from ._fields import long_list
from .registry import converts


@converts("nn.View")
def view(m: T7Object, ctx) -> Node:
    sizes = long_list(m, ctx, "size")
    if sum(1 for s in sizes if s == -1) > 1 or any(s < -1 for s in sizes):
        raise ctx.fail(m, f"size {sizes}: only one -1 and no other negative sizes are allowed")
    n = m.get("numInputDims")
    return Node("View", {"sizes": sizes, "num_input_dims": None if n is None else int(n)})


@converts("nn.Reshape")
def reshape(m: T7Object, ctx) -> Node:
    sizes = long_list(m, ctx, "size")
    batch_mode = m.get("batchMode")
    return Node("Reshape", {"sizes": sizes, "batch_mode": None if batch_mode is None else bool(batch_mode)})
