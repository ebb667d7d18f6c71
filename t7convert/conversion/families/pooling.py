"""Max and average pooling (nn and cudnn), with ceil mode, padding, count_include_pad and ``divide``.

Old files lack ``ceil_mode`` (and then also padding and count_include_pad): Torch7 reads them as
floor mode, no padding, padding counted. cudnn.SpatialAveragePooling always counts the padding (its
``count_include_pad ~= nil and count_include_pad or true`` is true whatever the field says). nn's
``divide`` false or absent (models saved before it existed) makes it a sum pooling, as
``SpatialAveragePooling:updateOutput`` does for "backward compatibility with saved models".
"""
from __future__ import annotations

from dataclasses import dataclass

from t7convert.conversion.fields import flag, integer
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, downsamples, fixes_extent
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


def _geometry(m: T7Object, ctx, *, legacy_reset: bool) -> dict:
    """Kernel, stride, padding and ceil mode. ``legacy_reset``: average pooling read from a file without
    ``ceil_mode`` gets floor mode and no padding (its backwardCompatible); max pooling keeps its padding.
    A missing stride is what the constructors default to: the kernel for max pooling, 1 for average."""
    reset = legacy_reset and m.get("ceil_mode") is None
    kh, kw = integer(m, ctx, "kH"), integer(m, ctx, "kW")
    default_h, default_w = (1, 1) if legacy_reset else (kh, kw)
    return {
        "kernel": [kh, kw],
        "stride": [integer(m, ctx, "dH", default=default_h), integer(m, ctx, "dW", default=default_w)],
        "padding": [0, 0] if reset else [integer(m, ctx, "padH", default=0), integer(m, ctx, "padW", default=0)],
        "ceil_mode": flag(m, "ceil_mode"),
        "adjust_last_window": "never" if m.class_name.startswith("cudnn.") else "if_padded",
    }


@converts("nn.SpatialMaxPooling", "cudnn.SpatialMaxPooling")
def max_pooling(m: T7Object, ctx) -> Node:
    return Node("Pool2d", {"kind": "max", **_geometry(m, ctx, legacy_reset=False)})


@converts("nn.SpatialAveragePooling", "cudnn.SpatialAveragePooling")
def average_pooling(m: T7Object, ctx) -> Node:
    attrs = {"kind": "avg", **_geometry(m, ctx, legacy_reset=True)}
    if m.class_name.startswith("cudnn."):
        if m.get("divide") is False:
            raise ctx.fail(m, "divide=false is not supported by cudnn.SpatialAveragePooling")
        attrs.update(count_include_pad=True, divide=True)
    else:
        legacy = m.get("ceil_mode") is None
        # THNN gets count_include_pad as Lua gives it (nil is false); updateOutput multiplies by kW*kH
        # unless `divide` is set: files from before the field existed (nil) hold the old sum pooling
        attrs.update(count_include_pad=True if legacy else flag(m, "count_include_pad"),
                     divide=flag(m, "divide"))
    return Node("Pool2d", Pool2dRecord(**attrs))


@describes("nn.SpatialMaxPooling", "cudnn.SpatialMaxPooling", "nn.SpatialAveragePooling", "cudnn.SpatialAveragePooling")
def _describe(m: T7Object) -> str:
    """``nn.SpatialMaxPooling(3x3, 2,2, 1,1):ceil()``."""
    g = m.get
    s = f"{m.class_name}({g('kW')}x{g('kH')}, {g('dW', 1)},{g('dH', 1)}, {g('padW', 0)},{g('padH', 0)})"
    return s + (":ceil()" if g("ceil_mode") else "")


@downsamples("Pool2d")
def _pool_strides(attrs: dict) -> tuple[int, int]:
    return tuple(attrs["stride"])  # type: ignore[return-value]


@fixes_extent("Pool2d")
def _average_extent(attrs: dict) -> tuple[int, int] | None:
    """An average pooling fixes the extent it pools over (a trunk's global pooling: 7x7 at 224)."""
    return tuple(attrs["kernel"]) if attrs["kind"] == "avg" else None  # type: ignore[return-value]


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("Pool2d")
@dataclass(frozen=True)
class Pool2dRecord:
    """What a Pool2d node stores."""

    ceil_mode: bool
    kernel: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))
    kind: str
    padding: list[int] = bounded(-MAX_EXTENT, MAX_EXTENT, length=(2, 2))
    stride: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))
    adjust_last_window: str = 'if_padded'
    count_include_pad: bool = True
    divide: bool = True
