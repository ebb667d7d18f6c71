"""Spatial convolutions: nn.SpatialConvolution(MM), cudnn.SpatialConvolution with groups.

Torch7 names kernel, stride and padding as (W, H) fields (kW, kH, dW, dH, padW, padH); torch.nn takes
(H, W). Weights are (nOut, nIn/groups, kH, kW); SpatialConvolutionMM of old files keeps them 2-D
(nOut, nIn*kH*kW), and some cudnn versions 5-D (groups, nOut/groups, ...): same memory order, so a
reshape by element count is exact. Convolutions saved without bias (cudnn >= 4 in fb.resnet.torch) have
``bias`` nil. fbcunn's fbnn.SpatialConvolution keeps cudnn's weights and names its padding padLeft/padUp.
"""
from __future__ import annotations

from dataclasses import dataclass

from t7convert.conversion.fields import integer, tensor
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, downsamples, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.SpatialConvolution", "nn.SpatialConvolutionMM", "cudnn.SpatialConvolution", "fbnn.SpatialConvolution")
def spatial_convolution(m: T7Object, ctx) -> Node:
    n_in, n_out = integer(m, ctx, "nInputPlane"), integer(m, ctx, "nOutputPlane")
    kw, kh = integer(m, ctx, "kW"), integer(m, ctx, "kH")
    dw, dh = integer(m, ctx, "dW", default=1), integer(m, ctx, "dH", default=1)
    # before padW/padH existed, one `padding` field applied to both; Torch7's backCompatibility lets it win
    if m.get("padding") is not None:
        pw = ph = integer(m, ctx, "padding")
    else:
        pw, ph = integer(m, ctx, "padW", default=0), integer(m, ctx, "padH", default=0)
    if m.class_name.startswith("fbnn."):  # fbcunn names its (symmetric) padding padLeft / padUp
        pw, ph = integer(m, ctx, "padLeft", default=pw), integer(m, ctx, "padUp", default=ph)
    groups = integer(m, ctx, "groups", default=1)
    if groups < 1 or n_in % groups or n_out % groups:
        raise ctx.fail(m, f"groups={groups} does not divide {n_in} input and {n_out} output planes")
    weight = tensor(m, ctx, "weight", shape=(n_out, n_in // groups, kh, kw))
    if m.get("weight") is not None and m.weight.ndim == 2:
        ctx.note(f"{m.class_name} 2-D weight reshaped to 4-D")
    bias = tensor(m, ctx, "bias", required=False, shape=(n_out,))
    tensors = {"weight": weight}
    if bias is not None:
        tensors["bias"] = bias
    return Node("Conv2d", Conv2dRecord(in_channels=n_in, out_channels=n_out, kernel_size=[kh, kw], stride=[dh, dw],
                                       padding=[ph, pw], groups=groups, bias=bias is not None),
                tensors)


@expects_input("Conv2d")
def _conv_input(attrs: dict) -> int:
    return int(attrs["in_channels"])


@downsamples("Conv2d")
def _conv_strides(attrs: dict) -> tuple[int, int]:
    return tuple(attrs["stride"])  # type: ignore[return-value]


@describes("nn.SpatialConvolution", "nn.SpatialConvolutionMM", "cudnn.SpatialConvolution", "fbnn.SpatialConvolution")
def _describe(m: T7Object) -> str:
    """``nn.SpatialConvolution(3 -> 64, 7x7, 2,2, 3,3)``, as Torch7 prints it (groups and a missing bias too)."""
    g = m.get
    s = f"{m.class_name}({g('nInputPlane')} -> {g('nOutputPlane')}, {g('kW')}x{g('kH')}"
    if (g("dW", 1), g("dH", 1)) != (1, 1) or g("padW", 0) or g("padH", 0):
        s += f", {g('dW', 1)},{g('dH', 1)}"
    if g("padW", 0) or g("padH", 0):
        s += f", {g('padW', 0)},{g('padH', 0)}"
    if g("groups", 1) not in (None, 1):
        s += f", groups={g('groups')}"
    return s + (")" if g("bias") is not None else ") without bias")


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("Conv2d")
@dataclass(frozen=True)
class Conv2dRecord:
    """What a Conv2d node stores."""

    bias: bool
    groups: int = bounded(1, MAX_EXTENT)
    in_channels: int = bounded(0, MAX_EXTENT)
    kernel_size: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))
    out_channels: int = bounded(0, MAX_EXTENT)
    padding: list[int] = bounded(-MAX_EXTENT, MAX_EXTENT, length=(2, 2))
    stride: list[int] = bounded(1, MAX_EXTENT, length=(2, 2))
