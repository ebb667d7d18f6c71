"""Padding: SpatialZeroPadding, SpatialReflectionPadding, SpatialReplicationPadding,
VolumetricReplicationPadding (negative amounts crop), and nn.Padding.

Attributes hold the amounts as ``F.pad`` orders them: left, right, top, bottom (then front, back).
The constructors default every side to the first (``pad_r = pad_r or pad_l``...). THNN's reflection and
replication kernels read a negative amount as cropping that side (``iStartX = max(0, -pad_l)``), as
SpatialZeroPadding's Lua does with ``narrow``.

``nn.Padding(dim, pad, nInputDim, value, index)`` inserts ``|pad|`` entries of ``value`` along ``dim``
(shifted by one when the input has more than ``nInputDim`` dimensions): a negative pad inserts them
before entry ``index``, a positive one before entry ``size - index + 2`` (so the default index 1
appends at the end).
"""
from __future__ import annotations

from dataclasses import dataclass

from t7convert.conversion.fields import integer, number
from t7convert.conversion.records import bounded, record
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

_SPATIAL = {"nn.SpatialZeroPadding": "constant", "nn.SpatialReflectionPadding": "reflect",
            "nn.SpatialReplicationPadding": "replicate"}


@converts(*_SPATIAL)
def spatial_padding(m: T7Object, ctx) -> Node:
    left = integer(m, ctx, "pad_l")
    pads = [left] + [integer(m, ctx, n, default=left) for n in ("pad_r", "pad_t", "pad_b")]
    return Node("PadTHNN", PadTHNNRecord(mode=_SPATIAL[m.class_name], pads=pads, ranks=[3, 4]))


@converts("nn.VolumetricReplicationPadding")
def volumetric_replication(m: T7Object, ctx) -> Node:
    left = integer(m, ctx, "pleft")
    pads = [left] + [integer(m, ctx, n, default=left) for n in ("pright", "ptop", "pbottom", "pfront", "pback")]
    return Node("PadTHNN", PadTHNNRecord(mode="replicate", pads=pads, ranks=[4, 5]))


@converts("nn.Padding")
def padding(m: T7Object, ctx) -> Node:
    dim, pad = integer(m, ctx, "dim"), integer(m, ctx, "pad")
    if dim < 1:
        raise ctx.fail(m, f"field dim is {dim}: Padding counts dimensions from 1")
    value = number(m, ctx, "value", default=0)
    return Node("PaddingTHNN", PaddingTHNNRecord(dim=dim, pad=pad, n_input_dim=integer(m, ctx, "nInputDim", default=None),
                                                 value=float(value), index=integer(m, ctx, "index", default=1)))


@describes(*_SPATIAL)
def _describe_spatial(m: T7Object) -> str:
    g = m.get
    return f"{m.class_name}(l={g('pad_l')}, r={g('pad_r')}, t={g('pad_t')}, b={g('pad_b')})"


@describes("nn.VolumetricReplicationPadding")
def _describe_volumetric(m: T7Object) -> str:
    g = m.get
    return (f"{m.class_name}(left={g('pleft')}, right={g('pright')}, top={g('ptop')}, bottom={g('pbottom')}, "
            f"front={g('pfront')}, back={g('pback')})")


@describes("nn.Padding")
def _describe_padding(m: T7Object) -> str:
    g = m.get
    return f"{m.class_name}(dim {g('dim')}, pad {g('pad')}, nInputDim {g('nInputDim')}, value {g('value', 0)})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("PadTHNN")
@dataclass(frozen=True)
class PadTHNNRecord:
    """What a PadTHNN node stores."""

    mode: str
    pads: list[int] = bounded(length=(4, 6))
    ranks: list[int] = bounded(length=(2, 2))


@record("PaddingTHNN")
@dataclass(frozen=True)
class PaddingTHNNRecord:
    """What a PaddingTHNN node stores."""

    dim: int
    index: int
    pad: int
    value: float
    n_input_dim: int | None = None
