"""Normalize, SpatialCrossMapLRN, LayerNormalization, InstanceNormalization and the local normalisations;
the builders make the modules as their Lua constructors do (the local normalisations' estimator networks,
LayerNormalization's Sequential)."""
from __future__ import annotations

import math

import numpy as np
import torch7_models as tm

from layer_cases import LayerCase
from t7convert.torch7.format import T7Object

M = tm.module


def normalize(p: float, eps: float = 1e-10) -> T7Object:
    return M("nn.Normalize", p=p, eps=eps)


def lrn(size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0, cls: str = "nn.SpatialCrossMapLRN"):
    return M(cls, size=size, alpha=alpha, beta=beta, k=k)


def layer_norm(n: int, eps: float = 1e-10, affine: bool = True) -> T7Object:
    """LayerNormalization(n, bias, eps, affine) as its constructor builds it (a Sequential subclass)."""
    mods = [M("nn.ConcatTable", modules=[M("nn.Identity"), tm.sequential(
                M("nn.Mean", dimension=1, nInputDims=1, sizeAverage=True, squeeze=True),
                M("nn.Replicate", nfeatures=n, dim=1, ndim=1))]),
            M("nn.CSubTable"), normalize(2, eps), M("nn.MulConstant", constant_scalar=math.sqrt(n), inplace=False)]
    if affine:
        mods += [M("nn.CMul", weight=tm.f32(n), size=np.array([n], np.int64)),
                 M("nn.Add", bias=tm.f32(n), scalar=False)]
    return M("nn.LayerNormalization", modules=mods)


def _inner_bn(planes: int, eps: float, affine: bool = True) -> T7Object:
    """The ``bn`` an InstanceNormalization leaves after a forward: SpatialBatchNormalization(N*C, eps),
    running statistics away from their 0/1 start (a file trained with nn before 2017 updated them)."""
    return tm.batchnorm(planes, eps=eps, affine=affine)


def instance_norm(n: int, eps: float = 1e-5, *, saved_for: int = -1) -> T7Object:
    """fast-neural-style's InstanceNormalization(n, eps); ``saved_for``: saved after a forward on a batch
    of that many (``prev_N`` and its ``bn`` of saved_for*n planes)."""
    fields = dict(nOutput=n, eps=eps, prev_N=saved_for, weight=np.abs(tm.f32(n)) + 0.5, bias=tm.f32(n, scale=0.1))
    if saved_for > 0:
        fields["bn"] = _inner_bn(saved_for * n, eps)
    return M("nn.InstanceNormalization", **fields)


def texture_nets_instance_norm(n: int, eps: float = 1e-5, *, affine: bool = True, saved_for: int = -1) -> T7Object:
    """DmitryUlyanov/texture_nets' InstanceNormalization(n, eps, momentum, affine): running_mean/running_var
    of its own (what a new inner bn starts from), ``prev_batch_size``, ``momentum``, ``affine``."""
    fields = dict(nOutput=n, eps=eps, momentum=0.0, affine=affine, prev_batch_size=saved_for,
                  running_mean=tm.f32(n, scale=0.5), running_var=np.abs(tm.f32(n)) + 0.5)
    if affine:
        fields.update(weight=np.abs(tm.f32(n)) + 0.5, bias=tm.f32(n, scale=0.1))
    if saved_for > 0:
        fields["bn"] = _inner_bn(saved_for * n, eps, affine)
    return M("nn.InstanceNormalization", **fields)


def _convolution(planes: int, kernel: np.ndarray, bias: float = 0.0) -> T7Object:
    """SpatialConvolution(planes, 1, kW, kH) holding ``kernel`` for every plane."""
    kh, kw = kernel.shape
    weight = np.broadcast_to(kernel, (1, planes, kh, kw)).astype(np.float32)
    return M("nn.SpatialConvolution", nInputPlane=planes, nOutputPlane=1, kW=kw, kH=kh, dW=1, dH=1,
             padW=0, padH=0, weight=weight, bias=np.array([bias], np.float32))


def _estimator(planes: int, kernel: np.ndarray, *, squared: bool, bias: float = 0.0) -> T7Object:
    """meanestimator / stdestimator as the local normalisations' constructors build them."""
    ph = kernel.shape[0] // 2
    pw = kernel.shape[-1] // 2 if kernel.ndim == 2 else ph
    mods = [M("nn.SpatialZeroPadding", pad_l=pw, pad_r=pw, pad_t=ph, pad_b=ph)]
    if kernel.ndim == 2:
        mods.append(_convolution(planes, kernel, bias))
    else:  # a 1-D kernel: along the rows of each plane, then down the columns summing the planes
        table = np.repeat(np.arange(1, planes + 1, dtype=np.float32)[:, None], 2, axis=1)
        mods.append(M("nn.SpatialConvolutionMap", connTable=table, kW=kernel.size, kH=1, dW=1, dH=1,
                      nInputPlane=planes, nOutputPlane=planes,
                      weight=np.broadcast_to(kernel, (planes, 1, kernel.size)).astype(np.float32),
                      bias=np.full(planes, bias, np.float32)))
        mods.append(_convolution(planes, kernel.reshape(-1, 1), bias))
    mods.append(M("nn.Replicate", nfeatures=planes, dim=1, ndim=3))
    if squared:
        mods = [M("nn.Square")] + mods + [M("nn.Sqrt", eps=0)]
    return tm.sequential(*mods)


def subtractive(planes: int, kernel: np.ndarray, bias: float = 0.0) -> T7Object:
    k = (kernel / (kernel.sum() * planes)).astype(np.float32)
    return M("nn.SpatialSubtractiveNormalization", nInputPlane=planes, kernel=k,
             meanestimator=_estimator(planes, k, squared=False, bias=bias))


def divisive(planes: int, kernel: np.ndarray, threshold: float = 1e-4, thresval: float | None = None) -> T7Object:
    k = (kernel / (kernel.sum() * (planes if kernel.ndim == 2 else math.sqrt(planes)))).astype(np.float32)
    value = threshold if thresval is None else thresval
    return M("nn.SpatialDivisiveNormalization", nInputPlane=planes, kernel=k, threshold=threshold, thresval=value,
             meanestimator=_estimator(planes, k, squared=False), stdestimator=_estimator(planes, k, squared=True),
             thresholder=M("nn.Threshold", threshold=threshold, val=value, inplace=False))


def contrastive(planes: int, kernel: np.ndarray, threshold: float = 1e-4) -> T7Object:
    return M("nn.SpatialContrastiveNormalization", nInputPlane=planes, kernel=kernel.astype(np.float32),
             threshold=threshold, thresval=threshold,
             normalizer=tm.sequential(subtractive(planes, kernel), divisive(planes, kernel, threshold)))


GAUSS = np.exp(-((np.arange(5) - 2.0) ** 2) / 4).astype(np.float32)

CASES = [
    LayerCase("normalize-2", lambda: normalize(2), (3, 6)),
    LayerCase("normalize-3-abs", lambda: normalize(3, 1e-3), (3, 6)),
    LayerCase("normalize-1.5", lambda: normalize(1.5), (3, 6)),
    LayerCase("normalize-inf", lambda: normalize(math.inf, 0.1), (3, 6)),
    LayerCase("lrn-5", lambda: lrn(5, 1e-2, 0.75, 1.0), (2, 7, 4, 3)),
    LayerCase("lrn-3-k2", lambda: lrn(3, 0.5, 0.6, 2.0), (2, 2, 3, 3)),
    LayerCase("lrn-cudnn-old-K", lambda: M("cudnn.SpatialCrossMapLRN", size=3, alpha=0.2, beta=0.75, k=1.0, K=3.0),
              (2, 4, 3, 3)),
    LayerCase("lrn-cudnn", lambda: lrn(5, 1e-1, 0.75, 1.0, cls="cudnn.SpatialCrossMapLRN"), (2, 6, 3, 3)),
    LayerCase("layernorm", lambda: layer_norm(6), (1, 6)),
    LayerCase("layernorm-batch-quirk", lambda: layer_norm(5, 1e-5), (3, 5)),
    LayerCase("layernorm-no-affine", lambda: layer_norm(4, affine=False), (1, 4)),
    LayerCase("instancenorm", lambda: instance_norm(3), (2, 3, 5, 4)),
    LayerCase("instancenorm-saved-bn", lambda: instance_norm(3, saved_for=2), (2, 3, 5, 4)),
    LayerCase("instancenorm-3d", lambda: instance_norm(2, 1e-3), (1, 2, 3, 4)),
    LayerCase("instancenorm-texture-nets", lambda: texture_nets_instance_norm(3, saved_for=4), (2, 3, 4, 4)),
    LayerCase("instancenorm-texture-nets-saved-bn", lambda: texture_nets_instance_norm(2, saved_for=2), (2, 2, 3, 3)),
    LayerCase("instancenorm-texture-nets-no-affine", lambda: texture_nets_instance_norm(2, affine=False, saved_for=2),
              (2, 2, 3, 3)),
    LayerCase("instancenorm-disabled", lambda: M("nn.InstanceNormalization", nOutput=2, eps=1e-5, prev_N=-1,
                                                 disabled=True, affine=True, weight=tm.f32(2), bias=tm.f32(2)),
              (2, 2, 3, 3)),
    LayerCase("subtractive-2d", lambda: subtractive(3, np.ones((5, 5), np.float32)), (2, 3, 7, 6)),
    LayerCase("subtractive-1d-bias", lambda: subtractive(2, GAUSS, bias=0.3), (2, 2, 6, 7)),
    LayerCase("divisive-2d", lambda: divisive(3, np.outer(GAUSS[1:4], GAUSS), 0.5, 0.7), (2, 3, 6, 6)),
    LayerCase("divisive-1d", lambda: divisive(2, GAUSS[1:4]), (2, 2, 5, 6)),
    LayerCase("contrastive-2d", lambda: contrastive(3, np.ones((5, 5), np.float32)), (2, 3, 7, 7)),
    LayerCase("contrastive-1d", lambda: contrastive(2, GAUSS), (2, 2, 6, 5)),
]
