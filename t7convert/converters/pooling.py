"""Max and average pooling (nn and cudnn), with ceil mode, padding, count_include_pad and ``divide``.

Old files lack ``ceil_mode`` (and then also padding and count_include_pad): Torch7 reads them as
floor mode, no padding, padding counted. cudnn.SpatialAveragePooling always counts the padding (its
``count_include_pad ~= nil and count_include_pad or true`` is true whatever the field says). nn's
``divide`` false or absent (models saved before it existed) makes it a sum pooling, as
``SpatialAveragePooling:updateOutput`` does for "backward compatibility with saved models".
"""
from __future__ import annotations

from ..format import T7Object
from ..graph import Node
from ._fields import integer
from .registry import converts


def _geometry(m: T7Object, ctx) -> dict:
    legacy = m.get("ceil_mode") is None
    return {
        "kernel": [integer(m, ctx, "kH"), integer(m, ctx, "kW")],
        "stride": [integer(m, ctx, "dH", default=1), integer(m, ctx, "dW", default=1)],
        "padding": [0, 0] if legacy else [integer(m, ctx, "padH", default=0), integer(m, ctx, "padW", default=0)],
        "ceil_mode": bool(m.get("ceil_mode") or False),
        "adjust_last_window": "never" if m.class_name.startswith("cudnn.") else "if_padded",
    }


@converts("nn.SpatialMaxPooling", "cudnn.SpatialMaxPooling")
def max_pooling(m: T7Object, ctx) -> Node:
    return Node("Pool2d", {"kind": "max", **_geometry(m, ctx)})


@converts("nn.SpatialAveragePooling", "cudnn.SpatialAveragePooling")
def average_pooling(m: T7Object, ctx) -> Node:
    attrs = {"kind": "avg", **_geometry(m, ctx)}
    if m.class_name.startswith("cudnn."):
        if m.get("divide") is False:
            raise ctx.fail(m, "divide=false is not supported by cudnn.SpatialAveragePooling")
        attrs.update(count_include_pad=True, divide=True)
    else:
        legacy = m.get("ceil_mode") is None
        # updateOutput multiplies by kW*kH unless `divide` is set: files from before the field existed
        # (nil) hold the old sum pooling
        attrs.update(count_include_pad=True if legacy else m.get("count_include_pad") is not False,
                     divide=bool(m.get("divide")))
    return Node("Pool2d", attrs)
