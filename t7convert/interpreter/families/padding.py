"""Padding modules from nn's Lua and THNN's C.

SpatialZeroPadding.lua: a zero output of ``H + pad_t + pad_b`` by ``W + pad_l + pad_r``; the input,
narrowed where a pad is negative, is copied into the output narrowed where a pad is positive.
SpatialReflectionPadding.c / SpatialReplicationPadding.c / VolumetricReplicationPadding.c map each
output index ``j`` to an input index: reflection ``j < p ? 2p - j : j < n + p ? j : 2(n + p - 1) - j``,
replication ``j < p ? p : j < n + p ? j : n + p - 1``, then ``- max(0, p) + max(0, -p)``.
Padding.lua: fills with ``value`` and copies the input around the inserted block.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer, number
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _sides(m: T7Object, call: Call, names: tuple[str, ...]) -> list[int]:
    first = integer(m, call.where, names[0])
    return [first] + [integer(m, call.where, n, default=first) for n in names[1:]]


@layer("nn.SpatialZeroPadding")
def spatial_zero(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    left, right, top, bottom = _sides(m, call, ("pad_l", "pad_r", "pad_t", "pad_b"))
    h, w = x.shape[-2] + top + bottom, x.shape[-1] + left + right
    if w < 1 or h < 1:
        raise call.fail("input is too small")
    out = np.zeros(x.shape[:-2] + (h, w))
    src = x[..., max(0, -top): x.shape[-2] - max(0, -bottom), max(0, -left): x.shape[-1] - max(0, -right)]
    out[..., max(0, top): h - max(0, bottom), max(0, left): w - max(0, right)] = src
    return out


def _source(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """The input index of each output index along one axis (THNN's formulas)."""
    j = np.arange(n + before + after)
    if mode == "reflect":
        ip = np.where(j < before, 2 * before - j, np.where(j < n + before, j, 2 * (n + before - 1) - j))
    else:
        ip = np.where(j < before, before, np.where(j < n + before, j, n + before - 1))
    return ip - max(0, before) + max(0, -before)


def _pad(m: T7Object, x: np.ndarray, call: Call, pads: list[int], mode: str) -> np.ndarray:
    for k in range(len(pads) // 2):
        axis = x.ndim - 1 - k
        n, before, after = x.shape[axis], pads[2 * k], pads[2 * k + 1]
        if n + before + after < 1:
            raise call.fail(f"input {x.shape} is too small for padding {pads}")
        if mode == "reflect" and max(before, after) >= n:
            raise call.fail(f"padding size {max(before, after)} should be less than the input dimension {n}")
        src = _source(n, before, after, mode)
        if src.min() < 0 or src.max() >= n:
            raise call.fail(f"padding {pads} reaches outside an input of {n}")
        x = np.take(x, src, axis=axis)
    return x


@layer("nn.SpatialReflectionPadding", "nn.SpatialReplicationPadding")
def spatial_padding(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    mode = "reflect" if m.class_name == "nn.SpatialReflectionPadding" else "replicate"
    return _pad(m, x, call, _sides(m, call, ("pad_l", "pad_r", "pad_t", "pad_b")), mode)


@layer("nn.VolumetricReplicationPadding")
def volumetric_replication(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(4, 5))
    names = ("pleft", "pright", "ptop", "pbottom", "pfront", "pback")
    return _pad(m, x, call, _sides(m, call, names), "replicate")


@layer("nn.Padding")
def padding(m: T7Object, x, call: Call) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise call.fail("expects a tensor")
    dim, pad = integer(m, call.where, "dim"), integer(m, call.where, "pad")
    n_input_dim = integer(m, call.where, "nInputDim", default=None)
    value = number(m, call.where, "value", default=0)
    index = integer(m, call.where, "index", default=1)
    if n_input_dim is not None and x.ndim != n_input_dim:
        dim += 1
    if not 1 <= dim <= x.ndim:
        raise call.fail(f"dimension {dim} is out of range for a {x.ndim}D input")
    axis, size = dim - 1, x.shape[dim - 1]
    if pad > 0:
        index = size - index + 2
    else:
        pad = -pad
    shape = list(x.shape)
    shape[axis] += pad
    out = np.full(shape, float(value))

    def part(a: np.ndarray, start: int, length: int) -> tuple:
        return tuple(slice(start, start + length) if i == axis else slice(None) for i in range(a.ndim))

    if index == 1:
        out[part(out, pad, size)] = x
    elif index == size + 1:
        out[part(out, 0, size)] = x
    elif 1 < index <= size:
        out[part(out, 0, index - 1)] = x[part(x, 0, index - 1)]
        out[part(out, index - 1 + pad, size - index + 1)] = x[part(x, index - 1, size - index + 1)]
    else:
        raise call.fail(f"index {index} is out of range for size {size}")
    return out
