"""THNN's other poolings: dilated and volumetric max pooling, volumetric average pooling, max unpooling,
fractional max pooling, SpatialLPPooling, FeatureLPPooling, adaptive pooling, temporal max and dynamic
k-max pooling.

Attributes are in PyTorch's dimension order ([H, W], [T, H, W]); Torch7's fields name W before H.
Missing fields take what the constructors give: strides the kernel, padding 0, dilation 1, ceil off
(VolumetricMaxPooling files of version < 2 read ceil_mode as false).

Max unpooling: ``nn.SpatialMaxUnpooling``'s ``pooling`` field is the encoder's very SpatialMaxPooling
(a shared reference in the file), whose ``indices``, ``iheight``, ``iwidth`` Torch7 reads at forward
time, so they are the ones that pooling computed earlier in the same forward. The converted node
names that pooling's path (found by identity among the modules converted before it); the DAG gives
the unpooling that pooling's input as a second value, from which the built module locates the maxima
again. A pooling that is not an nn.(Spatial|Volumetric)MaxPooling converted before the unpooling (one
not in the graph, or run after it: Torch7 would read stale indices from the file) is refused, as is
one whose kernel differs from its stride (the constructors refuse that).

Fractional max pooling draws random pooling regions at each forward unless ``fixPoolingRegions()``
set ``newRandomPool`` and ``randomSamples`` exist; only then is the output a function of the input
(for inputs of the samples' batch and plane count), and only then is it converted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.dag import Lowering, Ref, lowers
from t7convert.conversion.fields import MAX_LOOP, flag, integer, number
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

SPATIAL = ("H", "W")
VOLUMETRIC = ("T", "H", "W")


def _max_geometry(m: T7Object, ctx, axes: tuple[str, ...], *, dilated: bool) -> dict:
    kernel = [integer(m, ctx, f"k{a}") for a in axes]
    stride = [integer(m, ctx, f"d{a}", default=k) for a, k in zip(axes, kernel)]
    padding = [integer(m, ctx, f"pad{a}", default=0) for a in axes]
    dilation = [integer(m, ctx, f"dilation{a}", default=1) if dilated else 1 for a in axes]
    if min(kernel + stride + dilation) < 1:
        raise ctx.fail(m, f"kernel {kernel}, stride {stride} and dilation {dilation} ({'x'.join(axes)}) must be positive")
    if any(p < 0 or p > k // 2 for p, k in zip(padding, kernel)):
        raise ctx.fail(m, f"padding {padding} must be between 0 and half the kernel {kernel} ({'x'.join(axes)})")
    ceil = flag(m, "ceil_mode") and not (len(axes) == 3 and (m.version or 0) < 2)
    return {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation, "ceil_mode": bool(ceil),
            "rule": "spatial" if len(axes) == 2 else "volumetric"}


@converts("nn.SpatialDilatedMaxPooling")
def spatial_dilated_max(m: T7Object, ctx) -> Node:
    return Node("MaxPoolTHNN", MaxPoolTHNNRecord(**_max_geometry(m, ctx, SPATIAL, dilated=True)))


@converts("nn.VolumetricMaxPooling")
def volumetric_max(m: T7Object, ctx) -> Node:
    return Node("MaxPoolTHNN", MaxPoolTHNNRecord(**_max_geometry(m, ctx, VOLUMETRIC, dilated=False)))


@converts("nn.VolumetricDilatedMaxPooling")
def volumetric_dilated_max(m: T7Object, ctx) -> Node:
    return Node("MaxPoolTHNN", MaxPoolTHNNRecord(**_max_geometry(m, ctx, VOLUMETRIC, dilated=True)))


@converts("nn.VolumetricAveragePooling")
def volumetric_average(m: T7Object, ctx) -> Node:
    """updateOutput passes padding 0, floor mode and count_include_pad to THNN whatever the fields say:
    a plain average over whole windows."""
    kernel = [integer(m, ctx, f"k{a}") for a in VOLUMETRIC]
    stride = [integer(m, ctx, f"d{a}", default=k) for a, k in zip(VOLUMETRIC, kernel)]
    if min(kernel + stride) < 1:
        raise ctx.fail(m, f"kernel {kernel} and stride {stride} (TxHxW) must be positive")
    return Node("AvgPool3d", AvgPool3dRecord(kernel=kernel, stride=stride))


# --- unpooling -----------------------------------------------------------------------------------
_UNPOOLING = {"nn.SpatialMaxUnpooling": ("nn.SpatialMaxPooling", SPATIAL),
              "nn.VolumetricMaxUnpooling": ("nn.VolumetricMaxPooling", VOLUMETRIC)}


@converts(*_UNPOOLING)
def max_unpooling(m: T7Object, ctx) -> Node:
    pool_class, axes = _UNPOOLING[m.class_name]
    pooling = m.get("pooling")
    if not isinstance(pooling, T7Object) or pooling.class_name != pool_class:
        found = pooling.class_name if isinstance(pooling, T7Object) else type(pooling).__name__
        raise ctx.fail(m, f"field pooling must be the {pool_class} whose indices it reads, found {found}")
    geometry = _max_geometry(pooling, ctx, axes, dilated=False)
    if geometry["kernel"] != geometry["stride"]:
        raise ctx.fail(m, f"its pooling's kernel {geometry['kernel']} differs from its stride {geometry['stride']}")
    paths = ctx.paths_of(pooling)
    if not paths:
        raise ctx.fail(m, f"its pooling module (field pooling) is not run before it in the graph: Torch7 would "
                          f"read the indices that {pool_class} left in the file")
    attrs = {k: geometry[k] for k in ("kernel", "stride", "padding", "ceil_mode")}
    return Node("MaxUnpoolTHNN", {**attrs, "pooling": paths})


@lowers("MaxUnpoolTHNN")
def _lower_unpool(g: Lowering, node: Node, x: Ref) -> Ref:
    """Second argument: the input of the latest lowered place of the pooling module (its indices are
    the ones of that pooling's forward)."""
    order = list(g.inputs)
    placed = [p for p in node.attrs["pooling"] if p in g.inputs]
    if not placed:
        raise T7ConvertError(f"{node.source}: the pooling module this unpooling reads is not run before it")
    latest = max(placed, key=order.index)
    attrs = {k: v for k, v in node.attrs.items() if k != "pooling"}
    return g.add(Node(node.op, {**attrs, "pooling": latest}, source=node.source), [x, g.inputs[latest]])


# --- fractional ----------------------------------------------------------------------------------
@converts("nn.SpatialFractionalMaxPooling", "nn.VolumetricFractionalMaxPooling")
def fractional_max(m: T7Object, ctx) -> Node:
    """Attributes follow THNN's input layout: (H, W), or (H, W, T) for volumetric input."""
    axes = ("H", "W") if m.class_name == "nn.SpatialFractionalMaxPooling" else ("H", "W", "T")
    pool = [integer(m, ctx, f"poolSize{a}") for a in axes]
    if min(pool) < 2:
        raise ctx.fail(m, f"poolSize {pool} ({'x'.join(axes)}) must be at least 2")
    outs = [integer(m, ctx, f"out{a}", default=None) for a in axes]
    ratios = [number(m, ctx, f"ratio{a}", default=None) for a in axes]
    if any(o is not None and not 1 <= o <= MAX_LOOP for o in outs):
        raise ctx.fail(m, f"output size {outs} is not from 1 to {MAX_LOOP:,} per axis")
    if None in outs and (None in ratios or not all(0 < r < 1 for r in ratios)):
        raise ctx.fail(m, "has neither output sizes (outW, outH...) nor ratios in (0, 1)")
    samples = m.get("randomSamples")
    if not isinstance(samples, np.ndarray) or samples.size == 0 or not flag(m, "newRandomPool"):
        raise ctx.fail(m, "draws new random pooling regions at every forward in Torch7 (no fixPoolingRegions() "
                          "with saved randomSamples): its output is not a function of its input")
    if samples.ndim != 3 or samples.shape[2] != len(axes):
        raise ctx.fail(m, f"randomSamples has shape {tuple(samples.shape)}, expected (batch, planes, {len(axes)})")
    if samples.dtype.kind != "f" or not np.isfinite(samples).all():
        raise ctx.fail(m, f"randomSamples holds {samples.dtype} values that are not all finite floats")
    # kept exactly, in the attributes: THNN computes the regions in the tensor type (float or double)
    attrs: dict = {"pool": pool, "samples": samples.tolist(),
                   "precision": "float64" if samples.dtype == np.float64 else "float32"}
    if None in outs:
        attrs["ratio"] = [float(r) for r in ratios]
    else:
        attrs["output"] = outs
        if min(outs) < 1:
            raise ctx.fail(m, f"output size {outs} must be positive")
    return Node("FractionalMaxPool", FractionalMaxPoolRecord(**attrs))


@expects_input("FractionalMaxPool")
def _fractional_input(attrs: dict) -> tuple[int, ...] | int | dict:
    """The smallest input the fixed regions fit: the saved samples are for one batch size and plane
    count (another one makes Torch7 draw new regions), so for a batch of more than one the whole
    input's shape, batch included (``batch`` false: none is put in front); with ratios only, the planes."""
    batch, planes = np.shape(attrs["samples"])[:2]
    if "output" not in attrs:
        return int(planes)
    sample = (int(planes), *(o + p for o, p in zip(attrs["output"], attrs["pool"])))
    return sample if batch == 1 else {"shape": [int(batch), *sample], "batch": False}


# --- LP, adaptive, temporal ----------------------------------------------------------------------
@converts("nn.SpatialLPPooling")
def spatial_lp(m: T7Object, ctx) -> Node:
    """A Sequential subclass: p lives in its children (Square/Power, SpatialAveragePooling, MulConstant,
    Sqrt/Power), which run as they are."""
    return Node("Sequential", children=[ctx.child(c, i) for i, c in enumerate(m.children, 1)])


@converts("nn.FeatureLPPooling")
def feature_lp(m: T7Object, ctx) -> Node:
    width, stride = integer(m, ctx, "width"), integer(m, ctx, "stride")
    if not (2 <= width <= 16 and 1 <= stride <= 4):
        raise ctx.fail(m, f"width {width} must be within 2..16 and stride {stride} within 1..4 (THNN's limits)")
    power = float(number(m, ctx, "power"))
    if not math.isfinite(power) or power == 0:
        raise ctx.fail(m, f"power {power} is not a finite, non-zero number (the pooling takes the 1/power-th root)")
    return Node("FeatureLPPool", FeatureLPPoolRecord(width=width, stride=stride, power=power,
                                                     batch_mode=bool(flag(m, "batch_mode"))))


@expects_input("FeatureLPPool")
def _feature_lp_input(attrs: dict) -> int | None:
    """In batch mode an image's planes are the features: at least ``width`` of them. Without it the first
    dimension is the features, which a batched guess cannot give."""
    return attrs["width"] if attrs["batch_mode"] else None


@converts("nn.SpatialAdaptiveMaxPooling", "nn.SpatialAdaptiveAveragePooling")
def spatial_adaptive(m: T7Object, ctx) -> Node:
    h, w = integer(m, ctx, "H"), integer(m, ctx, "W")
    if min(h, w) < 1:
        raise ctx.fail(m, f"output size {w}x{h} (WxH) must be positive")
    if h * w > MAX_LOOP:
        raise ctx.fail(m, f"output size {w}x{h} (WxH) has more than {MAX_LOOP:,} bins (each is computed on its own)")
    return Node("AdaptivePool2d", AdaptivePool2dRecord(kind="max" if "Max" in m.class_name else "avg", size=[h, w]))


@converts("nn.TemporalMaxPooling")
def temporal_max(m: T7Object, ctx) -> Node:
    k = integer(m, ctx, "kW")
    d = integer(m, ctx, "dW", default=k)
    if min(k, d) < 1:
        raise ctx.fail(m, f"kernel {k} and stride {d} must be positive")
    return Node("TemporalMaxPool", TemporalMaxPoolRecord(kernel=k, stride=d))


@expects_input("TemporalMaxPool")
def _temporal_input(attrs: dict) -> tuple[int, ...]:
    """A sequence of a few windows of 4 features (the feature count does not matter to the pooling)."""
    return (attrs["kernel"] + 3 * attrs["stride"], 4)


@converts("nn.TemporalDynamicKMaxPooling")
def dynamic_k_max(m: T7Object, ctx) -> Node:
    k = integer(m, ctx, "minK")
    if k < 1:
        raise ctx.fail(m, f"minK {k} must be positive")
    return Node("DynamicKMaxPool", DynamicKMaxPoolRecord(min_k=k, factor=float(number(m, ctx, "factor", default=0))))


@expects_input("DynamicKMaxPool")
def _dynamic_k_input(attrs: dict) -> tuple[int, ...]:
    return (2 * attrs["min_k"] + 1, 4)


# --- descriptions --------------------------------------------------------------------------------
@describes("nn.SpatialDilatedMaxPooling")
def _describe_dilated(m: T7Object) -> str:
    g = m.get
    return (f"{m.class_name}({g('kW')}x{g('kH')}, {g('dW')},{g('dH')}, {g('padW', 0)},{g('padH', 0)}, "
            f"{g('dilationW', 1)},{g('dilationH', 1)})")


@describes("nn.VolumetricMaxPooling", "nn.VolumetricDilatedMaxPooling", "nn.VolumetricAveragePooling")
def _describe_volumetric(m: T7Object) -> str:
    g = m.get
    s = f"{m.class_name}({g('kT')}x{g('kW')}x{g('kH')}, {g('dT')},{g('dW')},{g('dH')}"
    if any(g(f"pad{a}", 0) for a in "TWH"):
        s += f", {g('padT')},{g('padW')},{g('padH')}"
    if m.class_name == "nn.VolumetricDilatedMaxPooling":
        s += f", {g('dilationT', 1)},{g('dilationW', 1)},{g('dilationH', 1)}"
    return s + ")"


@describes(*_UNPOOLING)
def _describe_unpooling(m: T7Object) -> str:
    pooling = m.get("pooling")
    return f"{m.class_name} associated to {pooling.class_name if isinstance(pooling, T7Object) else '?'}"


@describes("nn.SpatialFractionalMaxPooling", "nn.VolumetricFractionalMaxPooling")
def _describe_fractional(m: T7Object) -> str:
    """``nn.SpatialFractionalMaxPooling(4x4, 2,2)``: output sizes (or ratios), then pool sizes."""
    g = m.get
    axes = "WH" if m.class_name == "nn.SpatialFractionalMaxPooling" else "TWH"
    outs = "x".join(str(g(f"out{a}", g(f"ratio{a}"))) for a in axes)
    return f"{m.class_name}({outs}, {','.join(str(g(f'poolSize{a}')) for a in axes)})"


@describes("nn.SpatialLPPooling")
def _describe_lp(m: T7Object) -> str:
    return f"{m.class_name}({m.get('kW')}x{m.get('kH')}, {m.get('dW')},{m.get('dH')})"


@describes("nn.FeatureLPPooling")
def _describe_feature_lp(m: T7Object) -> str:
    g = m.get
    return f"{m.class_name}(w{g('width')} s{g('stride')} power {g('power')} batch {g('batch_mode')})"


@describes("nn.SpatialAdaptiveMaxPooling", "nn.SpatialAdaptiveAveragePooling")
def _describe_adaptive(m: T7Object) -> str:
    return f"{m.class_name}({m.get('W')}x{m.get('H')})"


@describes("nn.TemporalMaxPooling")
def _describe_temporal(m: T7Object) -> str:
    return f"{m.class_name}({m.get('kW')}, {m.get('dW')})"


@describes("nn.TemporalDynamicKMaxPooling")
def _describe_dynamic_k(m: T7Object) -> str:
    return f"{m.class_name}(minK {m.get('minK')}, factor {m.get('factor', 0)})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("AdaptivePool2d")
@dataclass(frozen=True)
class AdaptivePool2dRecord:
    """What a AdaptivePool2d node stores."""

    kind: str
    size: list[int] = bounded(1, MAX_LOOP, length=(2, 2))  # (H, W); the builder bounds H * W by MAX_LOOP


@record("AvgPool3d")
@dataclass(frozen=True)
class AvgPool3dRecord:
    """What a AvgPool3d node stores."""

    kernel: list[int] = bounded(1, MAX_EXTENT, length=(3, 3))
    stride: list[int] = bounded(1, MAX_EXTENT, length=(3, 3))


@record("DynamicKMaxPool")
@dataclass(frozen=True)
class DynamicKMaxPoolRecord:
    """What a DynamicKMaxPool node stores."""

    factor: float
    min_k: int


@record("FeatureLPPool")
@dataclass(frozen=True)
class FeatureLPPoolRecord:
    """What a FeatureLPPool node stores."""

    batch_mode: bool
    power: float
    stride: int = bounded(1, MAX_EXTENT)
    width: int


@record("FractionalMaxPool")
@dataclass(frozen=True)
class FractionalMaxPoolRecord:
    """What a FractionalMaxPool node stores."""

    pool: list[int] = bounded(length=(2, 3))
    samples: list[Any]
    output: list[int] | None = bounded(length=(2, 3), default=None)
    precision: str = 'float32'
    ratio: list[float] | None = bounded(length=(2, 2), default=None)


@record("MaxPoolTHNN")
@dataclass(frozen=True)
class MaxPoolTHNNRecord:
    """What a MaxPoolTHNN node stores."""

    ceil_mode: bool
    dilation: list[int] = bounded(1, MAX_EXTENT, length=(2, 3))
    kernel: list[int] = bounded(1, MAX_EXTENT, length=(2, 3))
    padding: list[int] = bounded(-MAX_EXTENT, MAX_EXTENT, length=(2, 3))
    rule: str
    stride: list[int] = bounded(1, MAX_EXTENT, length=(2, 3))


@record("MaxUnpoolTHNN")
@dataclass(frozen=True)
class MaxUnpoolTHNNRecord:
    """What a MaxUnpoolTHNN node stores."""

    ceil_mode: bool
    kernel: list[int] = bounded(1, MAX_EXTENT, length=(2, 3))
    padding: list[int] = bounded(-MAX_EXTENT, MAX_EXTENT, length=(2, 3))
    pooling: list[str] | str
    stride: list[int] = bounded(1, MAX_EXTENT, length=(2, 3))


@record("TemporalMaxPool")
@dataclass(frozen=True)
class TemporalMaxPoolRecord:
    """What a TemporalMaxPool node stores."""

    kernel: int = bounded(1, MAX_EXTENT)
    stride: int = bounded(1, MAX_EXTENT)
