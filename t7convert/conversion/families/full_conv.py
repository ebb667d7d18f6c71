"""Full (transposed) convolutions: nn/cudnn.SpatialFullConvolution, nn/cudnn.VolumetricFullConvolution.

The weight is (nInputPlane, nOutputPlane, kH, kW) / (nIn, nOut, kT, kH, kW), torch's ConvTranspose
layout; the output is ``(in - 1)*d - 2*pad + k + adj`` along each axis, ``adj`` (adjW, adjH, adjT,
default 0 in files that predate them) being torch's ``output_padding``; THNN (and nn's constructor)
refuse an adj not smaller than its stride. ``noBias()`` leaves ``bias`` nil.

- A table input ``{x, target}`` takes each adj from the target's last sizes,
  ``(target + 2*pad - k) % d`` (their calculateAdj): the node keeps the kernel, the module does that.
- VolumetricFullConvolution's backCompatibility: a file without ``adjW`` holds its weight as
  (nOut, nIn, ...) (it transposes it on load) and may name its padding ``pT, pW, pH``. THNN takes its
  kernel from the weight's shape.
- cudnn.SpatialFullConvolution is nn's (same constructor and layout); a ``groups`` field (default 1)
  splits the planes as torch's ``groups`` does, with weight (nIn, nOut/groups, kH, kW).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.families.spatial_conv_more import ConvGeometry, conv_node, geometry, planes, shaped
from t7convert.conversion.fields import integer, tensor
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


def _adjustments(m: T7Object, ctx, axes: str, stride: list[int]) -> list[int]:
    adj = [integer(m, ctx, f"adj{a}", default=0) for a in axes]
    for a, v, d in zip(axes, adj, stride):
        if not 0 <= v < d:
            raise ctx.fail(m, f"field adj{a} is {v}: it must be at least 0 and smaller than d{a}={d}")
    return adj


def _full_convolution(m: T7Object, ctx, axes: str, *, legacy: bool) -> Node:
    n_in, n_out = planes(m, ctx, "nInputPlane", "nOutputPlane")
    geo = geometry(m, ctx, axes, legacy_padding=legacy)
    groups = integer(m, ctx, "groups", default=1)
    if groups < 1 or n_in % groups or n_out % groups:
        raise ctx.fail(m, f"groups={groups} does not divide {n_in} input and {n_out} output planes")
    shape = (n_in, n_out // groups, *geo["kernel_size"])
    weight = tensor(m, ctx, "weight")
    if legacy and m.get("adjW") is None and weight.ndim == len(shape):
        weight = weight.transpose(1, 0, *range(2, weight.ndim))  # backCompatibility's transpose(1, 2)
    if weight.size != int(np.prod(shape)) or (weight.ndim == len(shape) and weight.shape != shape):
        raise ctx.fail(m, f"weight has shape {tuple(weight.shape)}, expected {shape}")
    weight = weight.reshape(shape)
    geo["output_padding"] = _adjustments(m, ctx, axes, geo["stride"])
    return conv_node(m, ctx, "ConvTransposeNd", len(axes), n_in, n_out, geo, weight,
                     shaped(m, ctx, "bias", (n_out,), required=False), groups=groups)


@converts("nn.SpatialFullConvolution", "cudnn.SpatialFullConvolution")
def spatial_full_convolution(m: T7Object, ctx) -> Node:
    return _full_convolution(m, ctx, "HW", legacy=False)


@converts("nn.VolumetricFullConvolution", "cudnn.VolumetricFullConvolution")
def volumetric_full_convolution(m: T7Object, ctx) -> Node:
    return _full_convolution(m, ctx, "THW", legacy=m.class_name.startswith("nn."))


@expects_input("ConvTransposeNd")
def _full_input(attrs: dict) -> int | tuple:
    return int(attrs["in_channels"]) if attrs["dims"] == 2 else (int(attrs["in_channels"]), None, None, None)


@describes("nn.SpatialFullConvolution", "cudnn.SpatialFullConvolution", "nn.VolumetricFullConvolution",
           "cudnn.VolumetricFullConvolution")
def _describe(m: T7Object) -> str:
    """``nn.SpatialFullConvolution(3 -> 4, 3x3, 2,2, 1,1, 1,1)``: planes, kernel, stride, padding, adj."""
    g = m.get
    axes = "TWH" if "Volumetric" in m.class_name else "WH"
    s = f"{m.class_name}({g('nInputPlane')} -> {g('nOutputPlane')}, " + "x".join(str(g(f"k{a}")) for a in axes)
    for prefix, default in (("d", 1), ("pad", 0), ("adj", 0)):
        s += ", " + ",".join(str(g(f"{prefix}{a}", default)) for a in axes)
    return s + (")" if g("bias") is not None else ") without bias")


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("ConvTransposeNd")
@dataclass(frozen=True)
class ConvTransposeNdRecord(ConvGeometry):
    """What a ConvTransposeNd node stores: the geometry, and torch's output_padding (Torch7's adj)."""

    output_padding: list[int] = bounded(0, MAX_EXTENT, length=(1, 3))
