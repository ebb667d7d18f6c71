"""nn.View and nn.Reshape: new shapes for the same data (views, as in Torch7, not copies).

View's rule for the batch dimension (View.lua ``batchsize``) is subtle and models depend on it: with
``setNumInputDims(n)`` the last n input dimensions are the sample, the rest are the batch; a -1 in the
size absorbs the remainder; and a batch of one is dropped only when the input has no more than n
dimensions. A ResNet head ``View(2048):setNumInputDims(3)`` thus turns (N, 2048, 1, 1) into (N, 2048)
and a single sample (2048, 1, 1) into (2048).
"""
from __future__ import annotations

import math

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer, sizes
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def view_shape(shape: tuple[int, ...], size: list[int], num_input_dims: int | None) -> tuple[int, ...]:
    """The shape View.lua gives an input of ``shape`` (``ValueError`` when Torch7 would fail)."""
    if sum(1 for s in size if s < 0) > 1 or any(s < -1 for s in size):
        raise ValueError(f"bad View size {size}: sizes must be positive, with at most one -1")
    ind = len(shape)
    maxdim = ind if num_input_dims is None else num_input_dims
    if maxdim > ind:
        raise ValueError(f"input of {ind} dimension(s) but setNumInputDims({num_input_dims})")
    num_elements = math.prod(s for s in size if s >= 0)
    ine = math.prod(shape[ind - maxdim:])
    if num_elements == 0 or ine % num_elements:
        raise ValueError(f"input view ({'x'.join(map(str, shape))}) and desired view "
                         f"({'x'.join(map(str, size))}) do not match")
    bsz = 1 if -1 in size else ine // num_elements
    bsz *= math.prod(shape[:ind - maxdim])
    if bsz == 1 and (num_input_dims is None or ind <= num_input_dims):
        return tuple(size)
    return (bsz, *size)


@layer("nn.View")
def view(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=tuple(range(0, 33)))
    target = view_shape(x.shape, sizes(m, call.where, "size"),
                        integer(m, call.where, "numInputDims", default=None))
    return x.reshape(target)


@layer("nn.Reshape")
def reshape(m: T7Object, x, call: Call) -> np.ndarray:
    """Reshape.lua: the whole input, or each sample of a batch (``batchMode``, else guessed)."""
    x = array_input(x, m, where=call.where, ndims=tuple(range(1, 33)))
    size = sizes(m, call.where, "size")
    batch_mode = m.get("batchMode")
    whole = batch_mode is False or (batch_mode is None and x.size == math.prod(size) and x.shape[0] != 1)
    return x.reshape(size if whole else (x.shape[0], *size))
