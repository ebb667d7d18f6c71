"""Reference execution of nn.VolumetricConvolution, cudnn.VolumetricConvolution and
nn.VolumetricDilatedConvolution.

THNN's VolumetricConvolutionMM / VolumetricDilatedConvolution unfold the zero-padded (C, T, H, W)
volume (``vol2col``: offset (kt, kh, kw) picks ``x[t*dT - padT + kt*dilationT, ...]``) and multiply by
the weight viewed as (nOut, nIn*kT*kH*kW); bias optional. 4-D input is one volume, 5-D a batch.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.families.spatial_conv_more import at_least, axes_fields, batch_of, check_planes, correlate, shaped
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


@layer("nn.VolumetricConvolution", "cudnn.VolumetricConvolution", "nn.VolumetricDilatedConvolution")
def volumetric_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    xb, batched = batch_of(x, m, call, (4, 5))
    n_in, n_out = at_least(m, call, "nInputPlane", 1), at_least(m, call, "nOutputPlane", 1)
    kernel = axes_fields(m, call, "k", "THW", 1)
    w = shaped(m, call, "weight", (n_out, n_in, *kernel))
    b = shaped(m, call, "bias", (n_out,), required=False)
    dilated = m.class_name == "nn.VolumetricDilatedConvolution"
    dilation = axes_fields(m, call, "dilation", "THW", 1, 1) if dilated else (1, 1, 1)
    check_planes(call, xb, n_in)
    out = correlate(xb, w, axes_fields(m, call, "d", "THW", 1, 1), axes_fields(m, call, "pad", "THW", 0, 0),
                    dilation, call)
    if b is not None:
        out += b.reshape(1, -1, 1, 1, 1)
    return out if batched else out[0]
