"""Dilated, volumetric, unpooling, fractional, LP, adaptive and temporal poolings: other arguments than
the catalog's, ceil mode with padding, unbatched inputs."""
from __future__ import annotations

import numpy as np
import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def dilated(kw, kh, dw, dh, pw, ph, dilw, dilh, ceil=False):
    return M("nn.SpatialDilatedMaxPooling", kW=kw, kH=kh, dW=dw, dH=dh, padW=pw, padH=ph, dilationW=dilw,
             dilationH=dilh, ceil_mode=ceil)


def vol(cls, k, d, p=(0, 0, 0), dil=None, ceil=False):
    f = dict(kT=k[0], kW=k[1], kH=k[2], dT=d[0], dW=d[1], dH=d[2], padT=p[0], padW=p[1], padH=p[2], ceil_mode=ceil)
    if dil is not None:
        f.update(dilationT=dil[0], dilationW=dil[1], dilationH=dil[2])
    return M(cls, 2, **f)


def unpool(pw=0, ph=0, k=2, ceil=False):
    pool = tm.maxpool(k, k, k, k, pw, ph, ceil=ceil)
    return tm.sequential(pool, tm.relu(), M("nn.SpatialMaxUnpooling", pooling=pool))


def vol_unpool():
    pool = vol("nn.VolumetricMaxPooling", (2, 2, 2), (2, 2, 2))
    return tm.sequential(pool, M("nn.VolumetricMaxUnpooling", pooling=pool))


def fractional(cls, pools, samples, **sizes):
    return M(cls, **pools, **sizes, randomSamples=samples, newRandomPool=True)


def uniform(*shape):
    return np.random.default_rng(5).uniform(size=shape).astype(np.float32)


def lp(p, kw, kh, dw, dh):
    first = M("nn.Square") if p == 2 else M("nn.Power", pow=p)
    last = M("nn.Sqrt", eps=0) if p == 2 else M("nn.Power", pow=1 / p)
    return M("nn.SpatialLPPooling", kW=kw, kH=kh, dW=dw, dH=dh, modules=[
        first, tm.avgpool(kw, kh, dw, dh), M("nn.MulConstant", constant_scalar=kw * kh, inplace=False), last])


CASES = [
    LayerCase("dilated-max-ceil-padded", lambda: dilated(3, 3, 2, 2, 1, 1, 2, 2, ceil=True), (2, 3, 9, 8)),
    LayerCase("dilated-max-unbatched-rectangular", lambda: dilated(3, 2, 1, 2, 0, 1, 2, 1), (3, 9, 8)),
    LayerCase("volumetric-max-ceil-padded", lambda: vol("nn.VolumetricMaxPooling", (3, 3, 3), (2, 2, 2), (1, 1, 1),
                                                       ceil=True), (2, 2, 5, 6, 7)),
    LayerCase("volumetric-max-unbatched", lambda: vol("nn.VolumetricMaxPooling", (2, 2, 2), (2, 1, 2)), (2, 4, 5, 4)),
    LayerCase("volumetric-dilated-max-padded", lambda: vol("nn.VolumetricDilatedMaxPooling", (4, 3, 4), (1, 2, 1),
                                                          (2, 1, 2), dil=(2, 2, 1)), (1, 2, 9, 8, 7)),
    LayerCase("volumetric-avg", lambda: M("nn.VolumetricAveragePooling", kT=2, kW=2, kH=3, dT=1, dW=2, dH=2),
              (2, 2, 5, 6, 7)),
    LayerCase("volumetric-avg-unbatched", lambda: M("nn.VolumetricAveragePooling", kT=2, kW=2, kH=2, dT=2, dW=2, dH=2),
              (2, 4, 4, 5)),
    LayerCase("spatial-unpool-odd-size", lambda: unpool(), (2, 3, 6, 7)),
    LayerCase("spatial-unpool-ceil-padded", lambda: unpool(1, 1, k=3, ceil=True), (2, 2, 7, 8)),
    LayerCase("spatial-unpool-unbatched", lambda: unpool(), (3, 4, 6)),
    LayerCase("volumetric-unpool", lambda: vol_unpool(), (1, 2, 4, 5, 4)),
    LayerCase("volumetric-unpool-unbatched", lambda: vol_unpool(), (2, 4, 4, 5)),
    LayerCase("spatial-fractional-fixed", lambda: fractional(
        "nn.SpatialFractionalMaxPooling", dict(poolSizeW=2, poolSizeH=3), uniform(2, 3, 2), outW=4, outH=3),
        (2, 3, 7, 8)),
    LayerCase("spatial-fractional-ratio-unbatched", lambda: fractional(
        "nn.SpatialFractionalMaxPooling", dict(poolSizeW=2, poolSizeH=2), uniform(1, 3, 2), ratioW=0.5, ratioH=0.7),
        (3, 9, 8)),
    LayerCase("volumetric-fractional-fixed", lambda: fractional(
        "nn.VolumetricFractionalMaxPooling", dict(poolSizeT=2, poolSizeW=3, poolSizeH=2), uniform(2, 2, 3),
        outT=3, outW=3, outH=4), (2, 2, 7, 8, 6)),
    LayerCase("spatial-lp-2", lambda: lp(2, 2, 3, 1, 2), (2, 3, 7, 6)),
    LayerCase("spatial-lp-3", lambda: lp(3, 2, 2, 2, 2), (2, 3, 6, 6), positive=True),
    LayerCase("feature-lp-batch-4d", lambda: M("nn.FeatureLPPooling", width=3, stride=2, power=2, batch_mode=True),
              (2, 8, 3, 3)),
    LayerCase("feature-lp-unbatched", lambda: M("nn.FeatureLPPooling", width=2, stride=1, power=3, batch_mode=False),
              (9, 2), positive=True),
    LayerCase("adaptive-max", lambda: M("nn.SpatialAdaptiveMaxPooling", W=2, H=3), (2, 3, 7, 5)),
    LayerCase("adaptive-avg-unbatched", lambda: M("nn.SpatialAdaptiveAveragePooling", W=3, H=5), (3, 7, 9)),
    LayerCase("temporal-max", lambda: M("nn.TemporalMaxPooling", kW=3, dW=2), (2, 9, 4)),
    LayerCase("temporal-max-unbatched", lambda: M("nn.TemporalMaxPooling", kW=2, dW=2), (9, 4)),
    LayerCase("dynamic-k-max-factor", lambda: M("nn.TemporalDynamicKMaxPooling", minK=2, factor=0.5), (2, 7, 3)),
    LayerCase("dynamic-k-max-unbatched", lambda: M("nn.TemporalDynamicKMaxPooling", minK=3, factor=0), (7, 3)),
]
