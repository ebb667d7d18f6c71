"""3-D convolutions (nn, cudnn, dilated): non-cubic kernels, strides, paddings, dilations; 4-D
(unbatched) and 5-D inputs; 2-D (MM) weights; no bias."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def vol(n_in=2, n_out=3, k=(2, 3, 2), d=(1, 2, 1), pad=(1, 0, 2), dil=None, bias=True, weight_2d=False,
        cls="nn.VolumetricConvolution"):
    """k, d, pad, dil in Torch7's (T, W, H) order."""
    kt, kw, kh = k
    w = tm.f32(n_out, n_in * kt * kh * kw, scale=0.3) if weight_2d else tm.f32(n_out, n_in, kt, kh, kw, scale=0.3)
    f = dict(nInputPlane=n_in, nOutputPlane=n_out, kT=kt, kW=kw, kH=kh, dT=d[0], dW=d[1], dH=d[2],
             padT=pad[0], padW=pad[1], padH=pad[2], weight=w)
    if dil is not None:
        f.update(dilationT=dil[0], dilationW=dil[1], dilationH=dil[2])
    if bias:
        f["bias"] = tm.f32(n_out, scale=0.1)
    return M(cls, **f)


CASES = [
    LayerCase("volconv-non-cubic", lambda: vol(), (2, 2, 4, 5, 6)),
    LayerCase("volconv-unbatched-no-bias", lambda: vol(bias=False), (2, 3, 5, 4)),
    LayerCase("volconv-2d-weight", lambda: vol(weight_2d=True), (1, 2, 3, 4, 4)),
    LayerCase("volconv-cudnn", lambda: vol(cls="cudnn.VolumetricConvolution"), (2, 2, 3, 4, 5)),
    LayerCase("voldilated", lambda: vol(dil=(2, 1, 3), cls="nn.VolumetricDilatedConvolution"), (1, 2, 5, 6, 7)),
    LayerCase("voldilated-unbatched", lambda: vol(dil=(1, 2, 2), pad=(0, 1, 1),
                                                  cls="nn.VolumetricDilatedConvolution"), (2, 3, 6, 6)),
]
