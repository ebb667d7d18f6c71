"""The other 2-D convolutions of nn: dilated, depthwise, locally connected (untied weights), connection
tables (nn.SpatialConvolutionMap, nn.SpatialFullConvolutionMap) and nn.SpatialSubSampling.

Torch7 names kernel, stride, padding and dilation as (W, H) fields (``kW, kH, dW, dH, padW, padH,
dilationW, dilationH``); the nodes hold them in torch's (H, W) order. :func:`geometry` is also what
the temporal, volumetric and full convolutions read their fields with.

- SpatialDilatedConvolution (an nn.SpatialConvolution subclass): weight (nOut, nIn, kH, kW), or 2-D
  as the MM layout; output ``(H + 2*padH - dilationH*(kH-1) - 1) / dH + 1``.
- SpatialDepthWiseConvolution: ``nOutputPlane`` is the per-input multiplier m; the weight is
  (m, nIn, kH, kW) (2-D (m, nIn*kH*kW) until a first forward resizes it), the bias (m, nIn), and
  output plane ``i*m + j`` (0-based) comes from input plane i with weight[j, i]. THNN's
  SpatialDepthWiseConvolution_updateOutput (nn 8726825) takes the input's height from size[3] and its
  width from size[2], so it reads each contiguous H x W plane as W rows of H values: the node says so
  and the built module does the same (nothing changes for square inputs).
- SpatialConvolutionLocal: weight (oH, oW, nOut, nIn, kH, kW) (or its 3-D view (oH*oW, nOut,
  nIn*kH*kW)), bias (nOut, oH, oW); the input must be nIn x iH x iW, as its checkInputSize demands.
- SpatialConvolutionMap / SpatialFullConvolutionMap: ``connTable`` rows are 1-based (input, output)
  plane pairs (nn.tables.full / oneToOne / random build them), weight (nConn, kH, kW), bias
  (nOutputPlane); THNN adds, per row, the valid cross-correlation (full convolution for the Full
  class, output ``(H - 1)*dH + kH``) of the row's input plane into its output plane. No padding.
- SpatialSubSampling: one weight and one bias per plane: ``w[c] * (window sum) + b[c]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.fields import integer, tensor
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


def _at_least(m: T7Object, ctx, name: str, value: int, minimum: int) -> int:
    if value < minimum:
        raise ctx.fail(m, f"field {name} is {value}, must be at least {minimum}")
    return value


def shaped(m: T7Object, ctx, name: str, shape: tuple[int, ...], *, required: bool = True) -> np.ndarray | None:
    """A tensor field in the layout THNN views it in: another rank with the same elements is the same
    memory (the MM classes' 2-D weights, Local's 3-D view), the same rank with other sizes a mistake."""
    v = m.get(name)
    if isinstance(v, np.ndarray) and v.size and v.ndim == len(shape) and tuple(v.shape) != tuple(shape):
        raise ctx.fail(m, f"{name} has shape {tuple(v.shape)}, expected {tuple(shape)}")
    return tensor(m, ctx, name, required=required, shape=shape)


def geometry(m: T7Object, ctx, axes: str, *, padding: bool = True, dilation: bool = False,
             legacy_padding: bool = False) -> dict[str, list[int]]:
    """Kernel, stride, padding and dilation in torch's order of ``axes`` ("HW" or "THW"), from Torch7's
    ``k<A>``, ``d<A>`` (default 1), ``pad<A>`` (default 0; ``p<A>`` in files that predate it where
    ``legacy_padding``) and ``dilation<A>`` (default 1) fields; refuses sizes THNN refuses."""
    out = {"kernel_size": [_at_least(m, ctx, f"k{a}", integer(m, ctx, f"k{a}"), 1) for a in axes],
           "stride": [_at_least(m, ctx, f"d{a}", integer(m, ctx, f"d{a}", default=1), 1) for a in axes]}
    pad_names = (lambda a: (f"pad{a}", f"p{a}")) if legacy_padding else (lambda a: (f"pad{a}",))
    out["padding"] = [_at_least(m, ctx, f"pad{a}", integer(m, ctx, *pad_names(a), default=0), 0)
                      if padding else 0 for a in axes]
    out["dilation"] = [_at_least(m, ctx, f"dilation{a}", integer(m, ctx, f"dilation{a}", default=1), 1)
                       if dilation else 1 for a in axes]
    return out


def planes(m: T7Object, ctx, *names: str) -> list[int]:
    return [_at_least(m, ctx, n, integer(m, ctx, n), 1) for n in names]


def conv_node(m: T7Object, ctx, op: str, dims: int, n_in: int, n_out: int, geo: dict, weight: np.ndarray,
              bias: np.ndarray | None, groups: int = 1) -> Node:
    tensors = {"weight": np.ascontiguousarray(weight)}
    if bias is not None:
        tensors["bias"] = np.ascontiguousarray(bias)
    return Node(op, {"dims": dims, "in_channels": n_in, "out_channels": n_out, **geo, "groups": groups,
                     "bias": bias is not None}, tensors)


@converts("nn.SpatialDilatedConvolution")
def spatial_dilated_convolution(m: T7Object, ctx) -> Node:
    n_in, n_out = planes(m, ctx, "nInputPlane", "nOutputPlane")
    geo = geometry(m, ctx, "HW", dilation=True)
    weight = shaped(m, ctx, "weight", (n_out, n_in, *geo["kernel_size"]))
    return conv_node(m, ctx, "ConvNd", 2, n_in, n_out, geo, weight,
                     shaped(m, ctx, "bias", (n_out,), required=False))


@converts("nn.SpatialDepthWiseConvolution")
def spatial_depthwise_convolution(m: T7Object, ctx) -> Node:
    """Torch's grouped convolution with one group per input plane: weight (nIn*m, 1, kH, kW)."""
    n_in, mult = planes(m, ctx, "nInputPlane", "nOutputPlane")
    geo = geometry(m, ctx, "HW")
    if m.get("padding") is not None:  # updateOutput's backward compatibility: one padding for both
        geo["padding"] = [_at_least(m, ctx, "padding", integer(m, ctx, "padding"), 0)] * 2
    kh, kw = geo["kernel_size"]
    weight = shaped(m, ctx, "weight", (mult, n_in, kh, kw))
    bias = shaped(m, ctx, "bias", (mult, n_in), required=False)
    weight = weight.transpose(1, 0, 2, 3).reshape(n_in * mult, 1, kh, kw)
    bias = None if bias is None else bias.T.reshape(n_in * mult)
    return conv_node(m, ctx, "DepthWiseConv2d", 2, n_in, n_in * mult, geo, weight, bias, groups=n_in)


@converts("nn.SpatialConvolutionLocal")
def spatial_convolution_local(m: T7Object, ctx) -> Node:
    n_in, n_out = planes(m, ctx, "nInputPlane", "nOutputPlane")
    geo = geometry(m, ctx, "HW")
    (kh, kw), (dh, dw), (ph, pw) = geo["kernel_size"], geo["stride"], geo["padding"]
    ih, iw = planes(m, ctx, "iH", "iW")
    oh, ow = (ih + 2 * ph - kh) // dh + 1, (iw + 2 * pw - kw) // dw + 1
    if oh < 1 or ow < 1:
        raise ctx.fail(m, f"input {ih}x{iw} (iH x iW) is smaller than the kernel {kh}x{kw}")
    for name, want in (("oH", oh), ("oW", ow)):
        if integer(m, ctx, name, default=want) != want:
            raise ctx.fail(m, f"field {name} is {m.get(name)}, but iH, iW, kH, kW, dH, dW, padH, padW give {want}")
    weight = shaped(m, ctx, "weight", (oh, ow, n_out, n_in, kh, kw))
    bias = shaped(m, ctx, "bias", (n_out, oh, ow))
    return Node("ConvLocal2d", {"in_channels": n_in, "out_channels": n_out, "input_size": [ih, iw],
                                "output_size": [oh, ow], **{k: geo[k] for k in ("kernel_size", "stride", "padding")}},
                {"weight": weight, "bias": bias})


def _connections(m: T7Object, ctx) -> tuple[list[int], list[int], int, int]:
    """connTable's rows as 0-based (input planes, output planes), and the declared plane counts."""
    table = m.get("connTable")
    if not isinstance(table, np.ndarray) or table.ndim != 2 or table.shape[1] != 2 or table.shape[0] < 1:
        raise ctx.fail(m, "connTable must be a tensor of (input, output) rows, nConnections x 2")
    if not np.all(np.isfinite(table)) or np.any(table != np.round(table)) or table.min() < 1:
        raise ctx.fail(m, "connTable holds values that are not 1-based plane numbers")
    n_in, n_out = planes(m, ctx, "nInputPlane", "nOutputPlane")
    ins, outs = (table[:, 0].astype(np.int64) - 1).tolist(), (table[:, 1].astype(np.int64) - 1).tolist()
    if max(ins) >= n_in or max(outs) >= n_out:
        raise ctx.fail(m, f"connTable names planes beyond nInputPlane={n_in} / nOutputPlane={n_out}")
    return ins, outs, n_in, n_out


@converts("nn.SpatialConvolutionMap", "nn.SpatialFullConvolutionMap")
def spatial_convolution_map(m: T7Object, ctx) -> Node:
    ins, outs, n_in, n_out = _connections(m, ctx)
    geo = geometry(m, ctx, "HW", padding=False)
    weight = shaped(m, ctx, "weight", (len(ins), *geo["kernel_size"]))
    bias = shaped(m, ctx, "bias", (n_out,))
    return Node("ConvMap2d", ConvMap2dRecord(full=m.class_name == "nn.SpatialFullConvolutionMap", in_channels=n_in,
                                             out_channels=n_out, kernel_size=geo["kernel_size"], stride=geo["stride"],
                                             inputs=ins, outputs=outs), {"weight": weight, "bias": bias})


@converts("nn.SpatialSubSampling")
def spatial_subsampling(m: T7Object, ctx) -> Node:
    (n,) = planes(m, ctx, "nInputPlane")
    geo = geometry(m, ctx, "HW", padding=False)
    return Node("SpatialSubSampling", SpatialSubSamplingRecord(channels=n, kernel_size=geo["kernel_size"], stride=geo["stride"]),
                {"weight": shaped(m, ctx, "weight", (n,)), "bias": shaped(m, ctx, "bias", (n,))})


@expects_input("ConvNd", "DepthWiseConv2d")
def _conv_input(attrs: dict) -> int | tuple[int, ...] | None:
    """Images of the input planes (a volume's planes: see the volumetric family's shapes)."""
    return int(attrs["in_channels"]) if attrs["dims"] == 2 else (int(attrs["in_channels"]), None, None, None)


@expects_input("ConvLocal2d")
def _local_input(attrs: dict) -> tuple[int, ...]:
    return (int(attrs["in_channels"]), *map(int, attrs["input_size"]))


@expects_input("ConvMap2d", "SpatialSubSampling")
def _planes_input(attrs: dict) -> int:
    return int(attrs.get("in_channels", attrs.get("channels")))


@describes("nn.SpatialDilatedConvolution", "nn.SpatialDepthWiseConvolution", "nn.SpatialConvolutionLocal")
def _describe(m: T7Object) -> str:
    """``nn.SpatialDilatedConvolution(3 -> 4, 3x3, 1,1, 2,2, 2,2)``: planes, kernel, stride, padding
    (and dilation, the input size of the local one) as their __tostring__ print them."""
    g = m.get
    s = f"{m.class_name}({g('nInputPlane')} -> {g('nOutputPlane')}"
    if m.class_name == "nn.SpatialConvolutionLocal":
        s += f", {g('iW')}x{g('iH')}"
    s += f", {g('kW')}x{g('kH')}, {g('dW', 1)},{g('dH', 1)}, {g('padW', 0)},{g('padH', 0)}"
    if m.class_name == "nn.SpatialDilatedConvolution":
        s += f", {g('dilationW', 1)},{g('dilationH', 1)}"
    return s + (")" if g("bias") is not None else ") without bias")


@describes("nn.SpatialConvolutionMap", "nn.SpatialFullConvolutionMap", "nn.SpatialSubSampling")
def _describe_tables(m: T7Object) -> str:
    """``nn.SpatialConvolutionMap(3 -> 4, 3x3, 1,1)`` (planes, kernel, stride)."""
    g = m.get
    n_out = g("nOutputPlane", g("nInputPlane"))
    return f"{m.class_name}({g('nInputPlane')} -> {n_out}, {g('kW')}x{g('kH')}, {g('dW', 1)},{g('dH', 1)})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("ConvLocal2d")
@dataclass(frozen=True)
class ConvLocal2dRecord:
    """What a ConvLocal2d node stores."""

    in_channels: int = bounded(0, MAX_EXTENT)
    input_size: list[int] = bounded(length=(2, 2))
    kernel_size: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))
    out_channels: int = bounded(0, MAX_EXTENT)
    output_size: list[int] = bounded(length=(2, 2))
    padding: list[int] = bounded(-MAX_EXTENT, MAX_EXTENT, length=(2, 2))
    stride: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))


@record("ConvMap2d")
@dataclass(frozen=True)
class ConvMap2dRecord:
    """What a ConvMap2d node stores."""

    full: bool
    in_channels: int = bounded(0, MAX_EXTENT)
    inputs: list[int]
    kernel_size: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))
    out_channels: int = bounded(0, MAX_EXTENT)
    outputs: list[int]
    stride: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))


@dataclass(frozen=True)
class ConvGeometry:
    """What every N-d convolution record holds: planes, and kernel, stride and padding as (H, W) or
    (T, H, W) (Torch7's W-first fields reversed)."""

    in_channels: int = bounded(0, MAX_EXTENT)
    out_channels: int = bounded(0, MAX_EXTENT)
    kernel_size: list[int] = bounded(1, MAX_EXTENT, length=(1, 3))
    stride: list[int] = bounded(1, MAX_EXTENT, length=(1, 3))
    padding: list[int] = bounded(-MAX_EXTENT, MAX_EXTENT, length=(1, 3))
    dilation: list[int] = bounded(1, MAX_EXTENT, length=(1, 3))
    groups: int = bounded(1, MAX_EXTENT)
    dims: int = bounded(1, 3)
    bias: bool


@record("ConvNd", "DepthWiseConv2d")
@dataclass(frozen=True)
class ConvNdRecord(ConvGeometry):
    """What a ConvNd or DepthWiseConv2d node stores: the geometry alone."""


@record("SpatialSubSampling")
@dataclass(frozen=True)
class SpatialSubSamplingRecord:
    """What a SpatialSubSampling node stores."""

    channels: int
    kernel_size: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))
    stride: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))
