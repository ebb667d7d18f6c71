"""Batch normalization in evaluate mode (nn and cudnn, plain, spatial and volumetric: ``BN.nDim`` 2, 4, 5).

THNN's ``BatchNormalization_updateOutput`` with ``train`` false computes, per feature f,
``(x - running_mean[f]) * invstd * weight[f] + bias[f]`` with ``invstd = 1 / sqrt(running_var[f] + eps)``;
weight and bias default to 1 and 0 when nil (``affine`` false). The feature axis is 1 for a batch and
0 for a single sample (one dimension fewer, allowed only in evaluate mode).

Files written before mid-2016 (class version < 2, or no version at all) keep ``running_std``, which is
already ``1/sqrt(var + eps)``. Torch7 converts them when reading (``BN:read``):
``running_var = running_std^-2 - eps``; we apply the same formula, so invstd goes through it too.

fbcunn's fbnn.(Spatial)BatchNormalization never had ``running_var``: its CUDA inference kernel
computes ``weight * (x - running_mean) * running_std + bias``, ``running_std`` being the inverse
standard deviation ("stddev is actually 1 / stddev"), eps unused; batch input only. Without
``affine`` its weight and bias are empty tensors.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, number, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object

_DIMS = {"nn.BatchNormalization": 2, "cudnn.BatchNormalization": 2,
         "nn.SpatialBatchNormalization": 4, "cudnn.SpatialBatchNormalization": 4,
         "nn.VolumetricBatchNormalization": 5, "cudnn.VolumetricBatchNormalization": 5}


def running_var(m: T7Object, eps: float, where: str) -> np.ndarray:
    """The running variance as Torch7 holds it after loading, legacy ``running_std`` files included."""
    legacy_std = m.get("running_std")
    if m.effective_version < 2 and legacy_std is not None:
        std = tensor(m, where, "running_std")
        return std ** -2 - eps
    return tensor(m, where, "running_var")


@layer(*_DIMS)
def batch_normalization(m: T7Object, x, call: Call) -> np.ndarray:
    n_dim = _DIMS[m.class_name]
    if m.class_name.startswith("cudnn."):  # cudnn's BN asserts input:dim() == nDim
        x = array_input(x, m, where=call.where, ndims=(n_dim,))
    else:  # nn's makeBatch adds a batch dimension to one sample, and the output keeps it
        x = array_input(x, m, where=call.where, ndims=(n_dim - 1, n_dim))
        if x.ndim == n_dim - 1:
            x = x[None]
    eps = float(number(m, call.where, "eps", default=1e-5))
    mean = tensor(m, call.where, "running_mean")
    var = running_var(m, eps, call.where)
    weight = tensor(m, call.where, "weight", required=False)
    bias = tensor(m, call.where, "bias", required=False)
    axis = 1 if x.ndim == n_dim else 0
    features = x.shape[axis]
    for name, t in (("running_mean", mean), ("running_var", var), ("weight", weight), ("bias", bias)):
        if t is not None and t.size != features:
            raise call.fail(f"{name} has {t.size} values for {features} features")
    shape = [1] * x.ndim
    shape[axis] = features
    scale = 1.0 / np.sqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    out = (x - mean.reshape(shape)) * scale.reshape(shape)
    if bias is not None:
        out += bias.reshape(shape)
    return out


_FBNN_DIMS = {"fbnn.BatchNormalization": 2, "fbnn.SpatialBatchNormalization": 4}


@layer(*_FBNN_DIMS)
def fbnn_batch_normalization(m: T7Object, x, call: Call) -> np.ndarray:
    n_dim = _FBNN_DIMS[m.class_name]
    x = array_input(x, m, where=call.where, ndims=(n_dim,))
    mean = tensor(m, call.where, "running_mean")
    invstd = tensor(m, call.where, "running_std")
    affine = m.get("affine") is not False
    weight = tensor(m, call.where, "weight", required=False) if affine else None
    bias = tensor(m, call.where, "bias", required=False) if affine else None
    features = x.shape[1]
    for name, t in (("running_mean", mean), ("running_std", invstd), ("weight", weight), ("bias", bias)):
        if t is not None and t.size != features:
            raise call.fail(f"{name} has {t.size} values for {features} features")
    shape = [1, features] + [1] * (x.ndim - 2)
    scale = invstd if weight is None else invstd * weight
    out = (x - mean.reshape(shape)) * scale.reshape(shape)
    if bias is not None:
        out += bias.reshape(shape)
    return out
