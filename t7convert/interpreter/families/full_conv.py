"""Reference execution of nn/cudnn.SpatialFullConvolution and nn/cudnn.VolumetricFullConvolution.

THNN's SpatialFullDilatedConvolution / VolumetricFullDilatedConvolution (dilation 1): the columns
``weight^T * input`` are accumulated by ``col2im`` at ``i*d - pad + k``, then the bias is added; the
output is ``(in - 1)*d - 2*pad + k + adj``. Weight (nIn, nOut, [kT,] kH, kW); bias optional. A table
input ``{x, target}`` sets each adj to ``(targetSize + 2*pad - k) % d`` (nn's calculateAdj).

The volumetric class's backCompatibility: without ``adjW`` the weight is stored (nOut, nIn, ...) and
transposed, and the padding may be named ``pT, pW, pH``; its kernel is the weight's shape. cudnn's
classes share nn's constructor and layout; a ``groups`` field splits the planes in order (weight
(nIn, nOut/groups, ...)).
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.families.spatial_conv_more import at_least, axes_fields, batch_of, check_planes, full_convolve
from t7convert.interpreter.fields import integer, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _full(m: T7Object, x, call: Call, axes: str, *, legacy: bool) -> np.ndarray:
    target = None
    if isinstance(x, list):
        if len(x) < 2:
            raise call.fail("a table input must be {input, target}")
        x, target = x[0], x[1]
    n = len(axes)
    xb, batched = batch_of(x, m, call, (n + 1, n + 2))
    n_in, n_out = at_least(m, call, "nInputPlane", 1), at_least(m, call, "nOutputPlane", 1)
    groups = at_least(m, call, "groups", 1, 1)
    if n_in % groups or n_out % groups:
        raise call.fail(f"groups={groups} does not divide the planes {n_in} -> {n_out}")
    kernel = axes_fields(m, call, "k", axes, 1)
    stride = axes_fields(m, call, "d", axes, 1, 1)
    pad = tuple(at_least(m, call, f"pad{a}", 0, integer(m, call.where, f"p{a}", default=0) if legacy else 0)
                for a in axes)
    w = tensor(m, call.where, "weight")
    if legacy and m.get("adjW") is None and w.ndim == n + 2:
        w = w.swapaxes(0, 1)
    shape = (n_in, n_out // groups, *kernel)
    if w.size != int(np.prod(shape)) or (w.ndim == len(shape) and w.shape != shape):
        raise call.fail(f"weight has shape {'x'.join(map(str, w.shape))}, expected {'x'.join(map(str, shape))}")
    w = np.ascontiguousarray(w).reshape(shape)
    b = tensor(m, call.where, "bias", required=False)
    if b is not None and b.size != n_out:
        raise call.fail(f"bias has {b.size} values for {n_out} output planes")
    if target is None:
        adj = tuple(at_least(m, call, f"adj{a}", 0, 0) for a in axes)
    else:
        t = np.shape(target)
        if len(t) < n:
            raise call.fail(f"the target needs {n} sizes")
        adj = tuple((s + 2 * p - k) % d for s, p, k, d in zip(t[-n:], pad, kernel, stride))
    if any(a >= d for a, d in zip(adj, stride)):
        raise call.fail(f"output adjustment {adj} must be smaller than the stride {stride}")
    check_planes(call, xb, n_in)
    ci = n_in // groups
    out = np.concatenate([full_convolve(xb[:, g * ci:(g + 1) * ci], w[g * ci:(g + 1) * ci], stride, pad, adj, call)
                          for g in range(groups)], axis=1)
    if b is not None:
        out += b.reshape(1, -1, *[1] * n)
    return out if batched else out[0]


@layer("nn.SpatialFullConvolution", "cudnn.SpatialFullConvolution")
def spatial_full_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    return _full(m, x, call, "HW", legacy=False)


@layer("nn.VolumetricFullConvolution", "cudnn.VolumetricFullConvolution")
def volumetric_full_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    return _full(m, x, call, "THW", legacy=m.class_name.startswith("nn."))
