"""Up-sampling and PixelShuffle: SpatialUpSamplingNearest, SpatialUpSamplingBilinear, UpSampling
(nearest or linear, 4-D or 5-D), PixelShuffle.

Nearest up-sampling repeats each value ``scale_factor`` times along H and W (and T for 5-D
UpSampling). Linear up-sampling is THNN's align-corners interpolation, ``src = dst * (in - 1) / (out -
1)``, to ``in * scale_factor`` (what ``setSize`` computes, whatever the comments say) or to the fixed
``oheight``/``owidth``/``odepth`` the module was built with. SpatialUpSampling* take 3-D or 4-D input;
UpSampling 4-D (spatial) or 5-D (volumetric).
"""
from __future__ import annotations

from dataclasses import dataclass

from t7convert.conversion.fields import integer
from t7convert.conversion.records import bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


def _scale(m: T7Object, ctx) -> int:
    s = integer(m, ctx, "scale_factor")
    if s < 1:
        raise ctx.fail(m, f"scale_factor {s} must be an integer of at least 1")
    return s


def _fixed_size(m: T7Object, ctx, names: tuple[str, ...]) -> list[int]:
    sizes = [integer(m, ctx, n) for n in names]
    if min(sizes) < 1:
        raise ctx.fail(m, f"output size {dict(zip(names, sizes))} must be positive")
    return sizes


@converts("nn.SpatialUpSamplingNearest")
def spatial_nearest(m: T7Object, ctx) -> Node:
    return Node("UpsampleNearest", UpsampleNearestRecord(scale=_scale(m, ctx), ranks=[3, 4]))


@converts("nn.SpatialUpSamplingBilinear")
def spatial_bilinear(m: T7Object, ctx) -> Node:
    if m.get("scale_factor") is not None:
        return Node("UpsampleLinear", UpsampleLinearRecord(scale=_scale(m, ctx), ranks=[3, 4]))
    return Node("UpsampleLinear", UpsampleLinearRecord(size=_fixed_size(m, ctx, ("oheight", "owidth")), ranks=[3, 4]))


@converts("nn.UpSampling")
def upsampling(m: T7Object, ctx) -> Node:
    mode = m.get("mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise ctx.fail(m, f"mode {mode!r} is neither 'nearest' nor 'linear'")
    if mode == "nearest" or m.get("scale_factor") is not None:
        return Node("UpsampleNearest" if mode == "nearest" else "UpsampleLinear",
                    {"scale": _scale(m, ctx), "ranks": [4, 5]})
    size = _fixed_size(m, ctx, ("oheight", "owidth"))
    attrs: dict = {"size": size, "ranks": [4, 5]}
    if m.get("odepth") is not None:
        attrs["depth"] = _fixed_size(m, ctx, ("odepth",))[0]
    return Node("UpsampleLinear", UpsampleLinearRecord(**attrs))


@converts("nn.PixelShuffle")
def pixel_shuffle(m: T7Object, ctx) -> Node:
    r = integer(m, ctx, "upscaleFactor")
    if r < 1:
        raise ctx.fail(m, f"upscaleFactor {r} must be positive")
    return Node("PixelShuffle", PixelShuffleRecord(factor=r))


@describes("nn.SpatialUpSamplingNearest", "nn.SpatialUpSamplingBilinear", "nn.UpSampling")
def _describe(m: T7Object) -> str:
    g = m.get
    if g("scale_factor") is not None:
        return f"{m.class_name}({g('scale_factor')}" + (f"x, {g('mode')})" if m.class_name == "nn.UpSampling" else ")")
    return f"{m.class_name}({g('oheight')}, {g('owidth')})"


@expects_input("PixelShuffle")
def _shuffle_input(attrs: dict) -> int:
    """Images of r*r planes (any multiple would do; the smallest): their sides free."""
    return int(attrs["factor"]) ** 2


@describes("nn.PixelShuffle")
def _describe_shuffle(m: T7Object) -> str:
    return f"{m.class_name}({m.get('upscaleFactor')})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("PixelShuffle")
@dataclass(frozen=True)
class PixelShuffleRecord:
    """What a PixelShuffle node stores."""

    factor: int


@record("UpsampleLinear")
@dataclass(frozen=True)
class UpsampleLinearRecord:
    """What a UpsampleLinear node stores."""

    ranks: list[int] = bounded(length=(2, 2))
    depth: int | None = None
    scale: int | None = None
    size: list[int] | None = bounded(length=(2, 2), default=None)


@record("UpsampleNearest")
@dataclass(frozen=True)
class UpsampleNearestRecord:
    """What a UpsampleNearest node stores."""

    ranks: list[int] = bounded(length=(2, 2))
    scale: int
