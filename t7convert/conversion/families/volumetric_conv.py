"""3-D convolutions: nn.VolumetricConvolution, cudnn.VolumetricConvolution, nn.VolumetricDilatedConvolution.

Fields name the axes (T, W, H) (``kT, kW, kH, dT, dW, dH, padT, padW, padH``, and
``dilationT, dilationW, dilationH``); the nodes hold torch's (T, H, W). The weight is
(nOut, nIn, kT, kH, kW) (THNN's VolumetricConvolutionMM also takes its 2-D view (nOut,
nIn*kT*kH*kW): same memory); ``noBias()`` leaves ``bias`` nil. cudnn's class is nn's constructor
and layout. Inputs are nIn x T x H x W volumes, batched or not.
"""
from __future__ import annotations

from t7convert.conversion.families.spatial_conv_more import conv_node, geometry, planes, shaped
from t7convert.conversion.registry import converts, describes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


@converts("nn.VolumetricConvolution", "cudnn.VolumetricConvolution", "nn.VolumetricDilatedConvolution")
def volumetric_convolution(m: T7Object, ctx) -> Node:
    n_in, n_out = planes(m, ctx, "nInputPlane", "nOutputPlane")
    geo = geometry(m, ctx, "THW", dilation=m.class_name == "nn.VolumetricDilatedConvolution")
    weight = shaped(m, ctx, "weight", (n_out, n_in, *geo["kernel_size"]))
    return conv_node(m, ctx, "ConvNd", 3, n_in, n_out, geo, weight,
                     shaped(m, ctx, "bias", (n_out,), required=False))


@describes("nn.VolumetricConvolution", "cudnn.VolumetricConvolution", "nn.VolumetricDilatedConvolution")
def _describe(m: T7Object) -> str:
    """``nn.VolumetricConvolution(2 -> 3, 3x3x3, 1,1,1, 0,0,0)`` (T, W, H order, as Torch7 names them)."""
    g = m.get
    s = f"{m.class_name}({g('nInputPlane')} -> {g('nOutputPlane')}, {g('kT')}x{g('kW')}x{g('kH')}"
    prefixes = [("d", 1), ("pad", 0)] + ([("dilation", 1)] if "Dilated" in m.class_name else [])
    for prefix, default in prefixes:
        s += ", " + ",".join(str(g(f"{prefix}{a}", default)) for a in "TWH")
    return s + (")" if g("bias") is not None else ") without bias")
