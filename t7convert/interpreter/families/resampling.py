"""Up-sampling and PixelShuffle from THNN's C and nn's Lua.

SpatialUpSamplingNearest.c: ``out[y][x] = in[y / s][x / s]`` (integer division). Bilinear
(SpatialUpSamplingBilinear.c) and trilinear: for each output index ``o``, ``r = (in - 1) / (out - 1)``
(0 when out is 1), ``src = r * o`` (both in float32, even for double tensors), ``i0 = (int) src``,
the next one only when ``i0 < in - 1``, weights ``1 - (src - i0)`` and ``src - i0``; separable over
the axes. Output sizes as ``setSize``: ``in * scale_factor``, or the module's fixed ``oheight``/``owidth``/``odepth``.
PixelShuffle.lua views (N, C*r*r, H, W) as (N, C, r, r, H, W) and permutes it to (N, C, H, r, W, r).
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _scale(m: T7Object, call: Call) -> int:
    s = integer(m, call.where, "scale_factor")
    if s < 1:
        raise call.fail("scale_factor must be greater than 1")
    return s


def _nearest(x: np.ndarray, s: int, nd: int) -> np.ndarray:
    for axis in range(x.ndim - nd, x.ndim):
        src = np.arange(x.shape[axis] * s) // s
        x = np.take(x, src, axis=axis)
    return x


def _linear_axis(x: np.ndarray, axis: int, n_out: int) -> np.ndarray:
    """One axis of the interpolation; the C computes ``r`` and ``src`` in float whatever the tensor type."""
    n_in = x.shape[axis]
    f = np.float32
    r = f(n_in - 1) / f(n_out - 1) if n_out > 1 else f(0)
    src = (r * np.arange(n_out, dtype=f)).astype(f)
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < n_in - 1)
    w1 = (src - i0.astype(f)).astype(np.float64)
    shape = [1] * x.ndim
    shape[axis] = n_out
    return np.take(x, i0, axis=axis) * (1 - w1).reshape(shape) + np.take(x, i1, axis=axis) * w1.reshape(shape)


def _linear(x: np.ndarray, sizes: list[int], call: Call) -> np.ndarray:
    if min(sizes) < 1:
        raise call.fail(f"output size {sizes} must be positive")
    for k, n_out in enumerate(sizes):
        x = _linear_axis(x, x.ndim - len(sizes) + k, n_out)
    return x


@layer("nn.SpatialUpSamplingNearest")
def spatial_nearest(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    return _nearest(x, _scale(m, call), 2)


@layer("nn.SpatialUpSamplingBilinear")
def spatial_bilinear(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    if m.get("scale_factor") is not None:
        s = _scale(m, call)
        sizes = [x.shape[-2] * s, x.shape[-1] * s]
    else:
        sizes = [integer(m, call.where, "oheight"), integer(m, call.where, "owidth")]
    return _linear(x, sizes, call)


@layer("nn.UpSampling")
def upsampling(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(4, 5))
    nd = x.ndim - 2
    mode = m.get("mode", "nearest")
    if mode == "nearest":
        return _nearest(x, _scale(m, call), nd)
    if mode != "linear":
        raise call.fail(f"unknown mode {mode!r}")
    if m.get("scale_factor") is not None:
        s = _scale(m, call)
        return _linear(x, [n * s for n in x.shape[2:]], call)
    names = (["odepth"] if nd == 3 else []) + ["oheight", "owidth"]
    if nd == 3 and m.get("odepth") is None:
        raise call.fail("No output depth dimension was supplied for volumetric upsampling")
    return _linear(x, [integer(m, call.where, n) for n in names], call)


@layer("nn.PixelShuffle")
def pixel_shuffle(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    r = integer(m, call.where, "upscaleFactor")
    xb = x if x.ndim == 4 else x[None]
    n, c, h, w = xb.shape
    if r < 1 or c % (r * r):
        raise call.fail(f"{c} channels cannot be shuffled by {r}x{r}")
    out = xb.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)
    return out if x.ndim == 4 else out[0]
