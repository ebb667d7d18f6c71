"""Full convolutions, 2-D and 3-D, nn and cudnn: adj, non-square kernels/strides/paddings, no bias,
groups (cudnn), unbatched inputs, the legacy volumetric weight layout."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def full2d(n_in=3, n_out=4, kw=3, kh=4, dw=2, dh=3, pw=1, ph=2, adjw=1, adjh=2, bias=True, groups=1,
           cls="nn.SpatialFullConvolution"):
    f = dict(nInputPlane=n_in, nOutputPlane=n_out, kW=kw, kH=kh, dW=dw, dH=dh, padW=pw, padH=ph, adjW=adjw,
             adjH=adjh, weight=tm.f32(n_in, n_out // groups, kh, kw, scale=0.3))
    if groups != 1:
        f["groups"] = groups
    if bias:
        f["bias"] = tm.f32(n_out, scale=0.1)
    return M(cls, **f)


def full3d(n_in=2, n_out=3, k=(2, 3, 2), d=(2, 1, 2), pad=(1, 0, 1), adj=(1, 0, 1), bias=True,
           cls="nn.VolumetricFullConvolution", legacy=False):
    """k, d, pad, adj in Torch7's (T, W, H) order."""
    kt, kw, kh = k
    f = dict(nInputPlane=n_in, nOutputPlane=n_out, kT=kt, kW=kw, kH=kh, dT=d[0], dW=d[1], dH=d[2])
    if legacy:  # before adj existed: padding pT, pW, pH and the weight stored (nOut, nIn, ...)
        f.update(pT=pad[0], pW=pad[1], pH=pad[2], weight=tm.f32(n_out, n_in, kt, kh, kw, scale=0.3))
    else:
        f.update(padT=pad[0], padW=pad[1], padH=pad[2], adjT=adj[0], adjW=adj[1], adjH=adj[2],
                 weight=tm.f32(n_in, n_out, kt, kh, kw, scale=0.3))
    if bias:
        f["bias"] = tm.f32(n_out, scale=0.1)
    return M(cls, **f)


CASES = [
    LayerCase("fullconv-adj-rectangular", lambda: full2d(), (2, 3, 4, 5)),
    LayerCase("fullconv-unbatched-no-bias", lambda: full2d(bias=False, adjw=0, adjh=1), (3, 3, 4)),
    LayerCase("fullconv-old-file-without-adj", lambda: M("nn.SpatialFullConvolution", **{
        k: v for k, v in full2d().fields.items() if k not in ("adjW", "adjH")}), (2, 3, 4, 4)),
    LayerCase("fullconv-cudnn", lambda: full2d(cls="cudnn.SpatialFullConvolution"), (2, 3, 3, 4)),
    LayerCase("fullconv-cudnn-groups", lambda: full2d(4, 6, groups=2, cls="cudnn.SpatialFullConvolution"),
              (2, 4, 3, 3)),
    LayerCase("volfullconv-adj", lambda: full3d(), (2, 2, 3, 4, 3)),
    LayerCase("volfullconv-unbatched-no-bias", lambda: full3d(bias=False), (2, 3, 2, 4)),
    LayerCase("volfullconv-legacy-layout", lambda: full3d(legacy=True), (1, 2, 3, 3, 2)),
    LayerCase("volfullconv-cudnn", lambda: full3d(cls="cudnn.VolumetricFullConvolution"), (1, 2, 2, 3, 3)),
]
