"""Normalize, SpatialCrossMapLRN, LayerNormalization, InstanceNormalization and the local
Spatial{Subtractive,Divisive,Contrastive}Normalization, step by step as their Lua code runs.

The local normalisations and LayerNormalization are networks of sub-modules in Torch7; they are run
here one sub-module at a time from those sub-modules' own fields (SpatialZeroPadding, SpatialConvolution,
SpatialConvolutionMap with its connTable, Replicate with its zero stride, CSubTable/CDivTable working in
memory order), which is what makes border handling and batch quirks come out as Torch7's.
"""
from __future__ import annotations

import math

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer, number, tensor
from t7convert.interpreter.registry import ModelError, layer
from t7convert.torch7.format import T7Object


# --- Normalize (Normalize.lua) ---------------------------------------------------------------------
def normalize_rows(x: np.ndarray, p: float, eps: float) -> np.ndarray:
    """Normalize:updateOutput on a 1-D or 2-D tensor."""
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    if p == math.inf:
        norm = np.abs(rows).max(axis=1) + eps
    else:
        powered = np.abs(rows) ** p if p % 2 != 0 else rows ** p
        norm = (powered.sum(axis=1) + eps) ** (1.0 / p)
    return (rows / norm[:, None]).reshape(x.shape)


@layer("nn.Normalize")
def normalize(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    p = float(number(m, call.where, "p"))
    if not p > 0:
        raise call.fail(f"{p}-norm not supported")
    return normalize_rows(x, p, float(number(m, call.where, "eps", default=1e-10)))


# --- SpatialCrossMapLRN (SpatialCrossMapLRN.lua, the CPU branch) ------------------------------------
@layer("nn.SpatialCrossMapLRN", "cudnn.SpatialCrossMapLRN")
def cross_map_lrn(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    size = integer(m, call.where, "size")
    alpha = float(number(m, call.where, "alpha", default=1e-4))
    beta = float(number(m, call.where, "beta", default=0.75))
    # cudnn's updateOutput first does ``if self.K then self.k, self.K = self.K, nil end`` (old files)
    k_names = ("K", "k") if m.class_name.startswith("cudnn.") else ("k",)
    k = float(number(m, call.where, *k_names, default=1))
    pre_pad = (size - 1) / 2 + 1
    if size < 1 or pre_pad != int(pre_pad):
        raise call.fail(f"size {size}: the window is centred only for odd sizes")
    pre_pad = int(pre_pad)
    batch = x if x.ndim == 4 else x[None]
    channels = batch.shape[1]
    square = batch ** 2
    scale = np.zeros_like(batch)
    for c in range(1, min(pre_pad, channels) + 1):  # the first plane's window
        scale[:, 0] += square[:, c - 1]
    for c in range(2, channels + 1):  # each next window: add the plane entering, drop the one leaving
        scale[:, c - 1] = scale[:, c - 2]
        if c < channels - pre_pad + 2:
            scale[:, c - 1] += square[:, c + pre_pad - 2]
        if c > pre_pad:
            scale[:, c - 1] -= square[:, c - pre_pad - 1]
    scale = scale * (alpha / size) + k
    out = scale ** -beta * batch
    return out if x.ndim == 4 else out[0]


# --- LayerNormalization (LayerNormalization.lua: a Sequential) -------------------------------------
def _kid(container: T7Object, i: int, cls: str, where: str) -> T7Object:
    if not isinstance(container, T7Object):
        raise ModelError(f"{where}: expected a container holding an {cls}, found {type(container).__name__}")
    kids = container.fields.get("modules") if isinstance(container.fields, dict) else None
    kids = list(kids.values()) if isinstance(kids, dict) else list(kids or [])
    if i >= len(kids) or not isinstance(kids[i], T7Object) or kids[i].class_name != cls:
        raise ModelError(f"{where} ({container.class_name}): module {i + 1} is not an {cls}")
    return kids[i]


@layer("nn.LayerNormalization")
def layer_normalization(m: T7Object, x, call: Call) -> np.ndarray:
    """ConcatTable(Identity, Sequential(Mean(1, 1), Replicate(n, 1, 1))), CSubTable, Normalize(2, eps),
    MulConstant(sqrt n), [CMul(n), Add(n)], each as its Lua code computes."""
    x = array_input(x, m, where=call.where, ndims=(1, 2))
    where = call.where
    branch = _kid(_kid(m, 0, "nn.ConcatTable", where), 1, "nn.Sequential", where)
    mean_m, rep = _kid(branch, 0, "nn.Mean", where), _kid(branch, 1, "nn.Replicate", where)
    if (integer(mean_m, where, "dimension", default=1), integer(mean_m, where, "nInputDims", default=None)) != (1, 1):
        raise call.fail("its Mean is not Mean(1, 1)")
    if (integer(rep, where, "dim", default=1), integer(rep, where, "ndim", default=None)) != (1, 1):
        raise call.fail("its Replicate is not Replicate(n, 1, 1)")
    # Mean(1, 1): a row's mean for 2-D input (squeezed to N values), one value for 1-D input
    means = x.mean(axis=1) if x.ndim == 2 else x.mean(keepdims=True)
    # Replicate(n, 1, 1) of a 1-D input: an (n, len(means)) tensor whose row is the means
    replicated = np.broadcast_to(means[None, :], (integer(rep, where, "nfeatures"), means.size))
    if replicated.size != x.size:
        raise call.fail(f"CSubTable of {x.size} and {replicated.size} elements")
    _kid(m, 1, "nn.CSubTable", where)
    centred = (x.reshape(-1) - replicated.reshape(-1)).reshape(x.shape)  # memory order, as THTensor_cadd
    norm = _kid(m, 2, "nn.Normalize", where)
    out = normalize_rows(centred, float(number(norm, where, "p")), float(number(norm, where, "eps", default=1e-10)))
    out = out * float(number(_kid(m, 3, "nn.MulConstant", where), where, "constant_scalar"))
    kids = m.fields.get("modules")
    if len(kids) > 4:
        gain = tensor(_kid(m, 4, "nn.CMul", where), where, "weight").reshape(-1)
        bias = tensor(_kid(m, 5, "nn.Add", where), where, "bias").reshape(-1)
        out = out * gain + bias
    return out


# --- InstanceNormalization (fast-neural-style, texture_nets and their copies) ----------------------
def _same_type(a: T7Object, b: T7Object) -> bool:
    """Lua's ``self:type() == self.bn:type()``: the ``_type`` strings, nil equal to nil."""
    return a.get("_type") == b.get("_type")


@layer("nn.InstanceNormalization")
def instance_normalization(m: T7Object, x, call: Call) -> np.ndarray:
    """Every InstanceNormalization.lua in circulation runs ``self.bn``, an nn.SpatialBatchNormalization
    of N*C planes, on the ``(1, N*C, H, W)`` view of its input. torch/nn's BatchNormalization (since
    919eeca, 2017) passes THNN ``self.train and input:size(1) > 1``: with that batch of one, the
    statistics used are always the bn's ``running_mean``/``running_var``, never the instance's own,
    whether the module is in training or evaluate mode. Which bn runs:

    * the saved one when the input's N equals ``prev_N`` (fast-neural-style) / ``prev_batch_size``
      (texture_nets) and its ``_type`` is the module's: its running statistics (N*C) and its ``eps``;
    * else a new one: fast-neural-style's starts at mean 0 and variance 1; texture_nets' (the kind with
      ``running_mean``/``running_var`` fields) copies the module's running statistics repeated N times.

    Its weight and bias are the module's, repeated N times, unless ``affine`` is false (none). The copy
    with a ``disabled`` field returns a clone of its input when it is set. fast-neural-style's own file
    and texture_nets' read ``input:size(4)`` (4-D only); a copy accepts 3-D as N = 1.
    """
    where = call.where
    if m.get("disabled") not in (None, False):  # Lua truthiness: anything but nil and false (0 too)
        return np.array(x, dtype=np.float64, copy=True)
    texture_nets = m.get("running_mean") is not None
    x = array_input(x, m, where=where, ndims=(4,) if texture_nets else (3, 4))
    batch = x if x.ndim == 4 else x[None]
    n, c = batch.shape[:2]
    planes = integer(m, where, "nOutput", default=None)
    if planes is not None and planes != c:
        raise call.fail(f"input has {c} planes, nOutput is {planes}")
    affine = m.get("affine")
    if affine is None and texture_nets:
        raise call.fail("'affine' is nil: Torch7 leaves the inner bn's weights as SpatialBatchNormalization "
                        "drew them at random")
    affine = affine is not False
    prev = integer(m, where, "prev_batch_size" if texture_nets else "prev_N", default=-1)
    bn = m.get("bn")
    if isinstance(bn, T7Object) and n == prev and _same_type(m, bn):
        mean = tensor(bn, where, "running_mean").reshape(-1)
        var = tensor(bn, where, "running_var").reshape(-1)
        eps = float(number(bn, where, "eps"))
        if mean.size != n * c or var.size != n * c:
            raise call.fail(f"its bn holds {mean.size}/{var.size} running statistics for {n}x{c} planes")
    else:
        eps = float(number(m, where, "eps", default=1e-5))
        if texture_nets:
            mean = np.tile(tensor(m, where, "running_mean").reshape(-1), n)
            var = np.tile(tensor(m, where, "running_var").reshape(-1), n)
            if mean.size != n * c or var.size != n * c:
                raise call.fail(f"running_mean/running_var do not have {c} values")
        else:
            mean, var = np.zeros(n * c), np.ones(n * c)
    planes_view = batch.reshape(n * c, -1)
    out = (planes_view - mean[:, None]) / np.sqrt(var[:, None] + eps)
    if affine:
        weight = tensor(m, where, "weight").reshape(-1)
        bias = tensor(m, where, "bias").reshape(-1)
        if weight.size != c or bias.size != c:
            raise call.fail(f"weight/bias have {weight.size}/{bias.size} values for {c} planes")
        out = out * np.tile(weight, n)[:, None] + np.tile(bias, n)[:, None]
    return out.reshape(x.shape)


# --- local normalisations ------------------------------------------------------------------------
def _pad(m: T7Object, x: np.ndarray, where: str) -> np.ndarray:
    """SpatialZeroPadding (negative values crop), on (.., H, W)."""
    left = integer(m, where, "pad_l")
    right, top, bottom = (integer(m, where, f, default=left) for f in ("pad_r", "pad_t", "pad_b"))
    h, w = x.shape[-2:]
    x = x[..., max(0, -top):h - max(0, -bottom), max(0, -left):w - max(0, -right)]
    widths = [(0, 0)] * (x.ndim - 2) + [(max(0, top), max(0, bottom)), (max(0, left), max(0, right))]
    return np.pad(x, widths)


def _correlate(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Valid cross-correlation: x (N, I, H, W), weight (O, I, kH, kW) -> (N, O, H-kH+1, W-kW+1)."""
    kh, kw = weight.shape[2:]
    h, w = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros((x.shape[0], weight.shape[0], h, w))
    for a in range(kh):
        for b in range(kw):
            out += np.einsum("oi,niyx->noyx", weight[:, :, a, b], x[:, :, a:a + h, b:b + w])
    return out


def _convolution(m: T7Object, x: np.ndarray, where: str) -> np.ndarray:
    n_in, n_out = integer(m, where, "nInputPlane"), integer(m, where, "nOutputPlane")
    kh, kw = integer(m, where, "kH"), integer(m, where, "kW")
    if (integer(m, where, "dW", default=1), integer(m, where, "dH", default=1)) != (1, 1) or \
            integer(m, where, "padW", default=0) or integer(m, where, "padH", default=0):
        raise ModelError(f"{where} ({m.class_name}): strided or padded estimator convolution")
    weight = tensor(m, where, "weight").reshape(n_out, n_in, kh, kw)
    bias = tensor(m, where, "bias", required=False)
    out = _correlate(x, weight)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def _convolution_map(m: T7Object, x: np.ndarray, where: str) -> np.ndarray:
    """SpatialConvolutionMap: output plane o sums, over the connTable rows (i, o), plane i correlated with
    that row's kernel; plus bias[o]."""
    table = tensor(m, where, "connTable").astype(int).reshape(-1, 2)
    weight = tensor(m, where, "weight")
    bias = tensor(m, where, "bias").reshape(-1)
    kh, kw = integer(m, where, "kH"), integer(m, where, "kW")
    weight = weight.reshape(table.shape[0], kh, kw)
    out = np.zeros((x.shape[0], bias.size, x.shape[2] - kh + 1, x.shape[3] - kw + 1))
    for r, (i, o) in enumerate(table):
        out[:, o - 1] += _correlate(x[:, i - 1:i], weight[r][None, None])[:, 0]
    return out + bias.reshape(1, -1, 1, 1)


def _run_estimator(seq: T7Object, x: np.ndarray, where: str) -> np.ndarray:
    """One of the estimator Sequentials on a batch (N, planes, H, W); the Replicate over planes is kept
    as its extra dimension (N, planes, 1, H, W) so that the tables after it see Torch7's shapes."""
    kids = seq.fields.get("modules") if isinstance(seq, T7Object) and isinstance(seq.fields, dict) else None
    kids = list(kids.values()) if isinstance(kids, dict) else list(kids or [])
    for kid in kids:
        cls = kid.class_name if isinstance(kid, T7Object) else "?"
        if cls == "nn.Square":
            x = x ** 2
        elif cls == "nn.Sqrt":
            x = np.sqrt(x)
        elif cls == "nn.SpatialZeroPadding":
            x = _pad(kid, x, where)
        elif cls == "nn.SpatialConvolution":
            x = _convolution(kid, x, where)
        elif cls == "nn.SpatialConvolutionMap":
            x = _convolution_map(kid, x, where)
        elif cls == "nn.Replicate":  # Replicate(nInputPlane, 1, 3) of (N, 1, H, W): dimension 2 of 5
            x = np.broadcast_to(x[:, None], (x.shape[0], integer(kid, where, "nfeatures"), *x.shape[1:]))
        else:
            raise ModelError(f"{where}: an estimator holds {cls}")
    return x


def _table_op(a: np.ndarray, b: np.ndarray, op, where: str) -> np.ndarray:
    """CSubTable / CDivTable: the result has a's shape; the elements pair up in memory order."""
    if a.size != b.size:
        raise ModelError(f"{where}: a table operation on {a.size} and {b.size} elements")
    return op(a.reshape(-1), np.ascontiguousarray(b).reshape(-1)).reshape(a.shape)


def _subtractive(m: T7Object, x: np.ndarray, where: str) -> np.ndarray:
    est = m.get("meanestimator")
    coef = _run_estimator(est, np.ones_like(x[:1]), where)
    coef = np.broadcast_to(coef, (x.shape[0], *coef.shape[1:]))
    adjusted = _table_op(_run_estimator(est, x, where), coef, np.divide, where)
    return _table_op(x, adjusted, np.subtract, where)


def _divisive(m: T7Object, x: np.ndarray, where: str) -> np.ndarray:
    stds = _run_estimator(m.get("stdestimator"), x, where)
    coef = _run_estimator(m.get("meanestimator"), np.ones_like(x[:1]), where)
    coef = np.broadcast_to(coef, stds.shape)
    adjusted = _table_op(stds, coef, np.divide, where)
    thresholder = m.get("thresholder")
    threshold = float(number(m, where, "threshold", default=1e-4))
    value = float(number(m, where, "thresval", default=threshold))
    if isinstance(thresholder, T7Object):
        threshold = float(number(thresholder, where, "threshold"))
        value = float(number(thresholder, where, "val"))
    thresholded = np.where(adjusted > threshold, adjusted, value)
    return _table_op(x, thresholded, np.divide, where)


def _batch(x, m: T7Object, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    return x if x.ndim == 4 else x[None]


@layer("nn.SpatialSubtractiveNormalization")
def subtractive_normalization(m: T7Object, x, call: Call) -> np.ndarray:
    batch = _batch(x, m, call)
    return _subtractive(m, batch, call.where).reshape(np.shape(x))


@layer("nn.SpatialDivisiveNormalization")
def divisive_normalization(m: T7Object, x, call: Call) -> np.ndarray:
    batch = _batch(x, m, call)
    return _divisive(m, batch, call.where).reshape(np.shape(x))


@layer("nn.SpatialContrastiveNormalization")
def contrastive_normalization(m: T7Object, x, call: Call) -> np.ndarray:
    batch = _batch(x, m, call)
    normalizer = m.get("normalizer")
    sub = _kid(normalizer, 0, "nn.SpatialSubtractiveNormalization", call.where)
    div = _kid(normalizer, 1, "nn.SpatialDivisiveNormalization", call.where)
    return _divisive(div, _subtractive(sub, batch, call.where), call.where).reshape(np.shape(x))
