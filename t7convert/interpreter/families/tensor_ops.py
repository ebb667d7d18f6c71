"""Identity-at-inference modules, decorators and shape ops, as their Lua updateOutput runs them.

Each function follows its nn source line by line, in Lua's 1-based dimensions, and turns a dimension
into a NumPy axis only at the last step:

- Select/Narrow count a negative dimension from the end (``input:dim() + d + 1``); Select a negative
  index from the end of that dimension; Narrow a negative length as ``size - offset + length + 2``.
- Sum, Mean, Max and Min (``_getPositiveDimension``): a negative dimension from the end, else one more
  when the input has ``nInputDims + 1`` dimensions; the reduced dimension is selected away unless the
  result is 1-D (Max/Min: unless the input is 1-D). Mean is Sum with sizeAverage.
- Squeeze: ``dim + 1`` for a batch (``numInputDims + 1`` dimensions); without a dim, a batch of one is
  kept; Torch7's squeeze never removes the last remaining dimension.
- Unsqueeze and Transpose shift by ``input:dim() - numInputDims``; Replicate by one when the input has
  more than ``ndim`` dimensions.
- SpatialDropout/VolumetricDropout multiply by ``1 - p`` at test time; WhiteNoise adds its mean.
- nn.Copy converts to its output tensor's type (a Float output rounds to float32).
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, flag, integer, number
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object

_ANY = tuple(range(0, 33))
_NONEMPTY = tuple(range(1, 33))


def _tensor(x, m: T7Object, call: Call, ndims=_NONEMPTY) -> np.ndarray:
    return array_input(x, m, where=call.where, ndims=ndims)


def _axis(d: int, x: np.ndarray, call: Call) -> int:
    """Lua dimension d (already positive) -> a NumPy axis, or Torch7's out-of-range error."""
    if not 1 <= d <= x.ndim:
        raise call.fail(f"dimension {d} is out of range for a {x.ndim}-D input")
    return d - 1


@layer("nn.GradientReversal", "nn.ZeroGrad")
def pass_through(m: T7Object, x, call: Call):
    """``self.output = input`` (GradientReversal: ``output:set(input)``); only the gradient changes."""
    return x


@layer("nn.Contiguous")
def contiguous(m: T7Object, x, call: Call) -> np.ndarray:
    """Contiguous.lua: ``output:set(input)`` when the input is contiguous (the same tensor: an in-place
    layer after it writes into the input), else a contiguous copy."""
    x = _tensor(x, m, call, _ANY)
    return x if x.flags.c_contiguous else np.ascontiguousarray(x).copy()


@layer("nn.WhiteNoise")
def white_noise(m: T7Object, x, call: Call) -> np.ndarray:
    """With ``train == false``: a copy of the input, plus ``mean`` when it is not 0 (no noise)."""
    x = _tensor(x, m, call, _ANY)
    mean = number(m, call.where, "mean", default=0)
    return x + mean if mean != 0 else x.copy()


@layer("nn.Copy")
def copy(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor(x, m, call, _ANY)
    out = m.get("output", None)
    kind = out.dtype if isinstance(out, np.ndarray) else None
    if kind is None or kind == np.float64:
        return np.array(x, dtype=np.float64, copy=True)
    if kind == np.float32:
        return x.astype(np.float32).astype(np.float64)
    raise call.fail(f"copies into a {kind} tensor; only Float and Double outputs are supported")


@layer("nn.Decorator", "nn.DontCast", "nn.GPU")
def decorator(m: T7Object, x, call: Call):
    """``self.output = self.modules[1]:updateOutput(input)``."""
    if not call.children:  # the interpreter's own reading of `modules`
        raise call.fail("holds no module")
    return call.child(0, x)


@layer("nn.NaN")
def nan_check(m: T7Object, x, call: Call):
    """The inner module's output; dpnn's NaN raises an error when that output holds a NaN."""
    if not call.children:  # the interpreter's own reading of `modules`
        raise call.fail("holds no module")
    y = call.child(0, x)
    if isinstance(y, np.ndarray) and np.isnan(y).any():
        raise call.fail("NaN found in the output of its module (nn.NaN raises here)")
    return y


@layer("nn.Select")
def select(m: T7Object, x, call: Call) -> np.ndarray:
    """``input:select`` of a 1-D tensor is a Lua number, which ``output:resizeAs`` refuses."""
    x = _tensor(x, m, call, tuple(range(2, 33)))
    dim = integer(m, call.where, "dimension")
    index = integer(m, call.where, "index")
    if dim < 0:
        dim = x.ndim + dim + 1
    ax = _axis(dim, x, call)
    if index < 0:
        index = x.shape[ax] + index + 1
    if not 1 <= index <= x.shape[ax]:
        raise call.fail(f"index {index} is out of range for dimension {dim} of size {x.shape[ax]}")
    return np.take(x, index - 1, axis=ax).copy()


@layer("nn.Narrow")
def narrow(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor(x, m, call)
    dim = integer(m, call.where, "dimension")
    offset = integer(m, call.where, "index")
    length = integer(m, call.where, "length", default=1)
    if dim < 0:
        dim = x.ndim + dim + 1
    ax = _axis(dim, x, call)
    size = x.shape[ax]
    if length < 0:
        length = size - offset + length + 2
    if offset < 0:
        offset, length = 1, size - length
    if offset < 1 or length < 1 or offset + length - 1 > size:  # THTensor_narrow wants size > 0
        raise call.fail(f"offset {offset} and length {length} do not fit dimension {dim} of size {size}")
    index = [slice(None)] * x.ndim
    index[ax] = slice(offset - 1, offset - 1 + length)
    return x[tuple(index)].copy()


def _torch_squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
    kept = tuple(s for s in shape if s != 1)
    return kept if kept or not shape else (1,)


@layer("nn.Squeeze")
def squeeze(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor(x, m, call)
    dim = integer(m, call.where, "dim", default=None)
    num_input_dims = integer(m, call.where, "numInputDims", default=None)
    addone = False
    if num_input_dims is not None and x.ndim == num_input_dims + 1:
        if dim is not None:
            dim += 1
        elif x.shape[0] == 1:
            addone = True
    if dim is None:
        shape = _torch_squeeze(x.shape)
    else:
        ax = _axis(dim, x, call)
        shape = x.shape if x.shape[ax] != 1 or x.ndim == 1 else x.shape[:ax] + x.shape[ax + 1:]
    if addone:
        shape = (1, *shape)
    return x.reshape(shape)


@layer("nn.Unsqueeze")
def unsqueeze(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor(x, m, call, _ANY)
    pos = integer(m, call.where, "pos")
    n = integer(m, call.where, "numInputDims", default=None)
    offset = x.ndim - (x.ndim if n is None else n)
    if pos < 1 or offset < 0 or offset + pos > x.ndim + 1:
        raise call.fail(f"position {pos} (numInputDims {n}) does not fit a {x.ndim}-D input")
    cut = offset + pos - 1
    return x.reshape(x.shape[:cut] + (1,) + x.shape[cut:])


def _pairs(m: T7Object, call: Call) -> list[tuple[int, int]]:
    perms = m.get("permutations", None)
    if isinstance(perms, dict):
        perms = [perms[k] for k in sorted(k for k in perms if isinstance(k, int))]
    if not isinstance(perms, list):
        raise call.fail("field 'permutations' should be a list of dimension pairs")
    out = []
    for p in perms:
        if isinstance(p, dict):
            p = [p.get(1), p.get(2)]
        p = list(np.asarray(p, dtype=object).reshape(-1)) if isinstance(p, (list, np.ndarray)) else None
        if p is None or len(p) != 2 or not all(isinstance(v, (int, float, np.integer, np.floating))
                                               and not isinstance(v, bool) and float(v) == int(v) for v in p):
            raise call.fail(f"permutation {p!r} is not a pair of dimensions")
        out.append((int(p[0]), int(p[1])))
    return out


@layer("nn.Transpose")
def transpose(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor(x, m, call)
    n = integer(m, call.where, "numInputDims", default=None)
    offset = 0 if n is None else x.ndim - n
    for a, b in _pairs(m, call):
        x = np.swapaxes(x, _axis(a + offset, x, call), _axis(b + offset, x, call))
    return np.ascontiguousarray(x).copy()


@layer("nn.Replicate")
def replicate(m: T7Object, x, call: Call) -> np.ndarray:
    """A stride-0 view: size nfeatures at the new dimension ``rdim``."""
    x = _tensor(x, m, call, _ANY)
    nf = integer(m, call.where, "nfeatures")
    dim = integer(m, call.where, "dim", default=1)
    ndim = integer(m, call.where, "ndim", default=None)
    if dim < 1 or dim > x.ndim + 1:
        raise call.fail(f"not enough input dimensions to replicate along dimension {dim}")
    rdim = dim + (1 if ndim is not None and x.ndim > ndim else 0)
    sizes = list(x.shape)
    sizes.insert(rdim - 1, nf)
    strides = list(x.strides)
    strides.insert(rdim - 1, 0)
    return np.lib.stride_tricks.as_strided(x, shape=sizes, strides=strides, writeable=False).copy()


def _positive_dimension(m: T7Object, x: np.ndarray, call: Call) -> int:
    dim = integer(m, call.where, "dimension", default=1)
    n = integer(m, call.where, "nInputDims", default=None)
    if dim < 0:
        dim = x.ndim + dim + 1
    elif n is not None and x.ndim == n + 1:
        dim += 1
    if dim > x.ndim:
        raise call.fail("dimension exceeds input dimensions")
    return dim


@layer("nn.Sum", "nn.Mean")
def sum_mean(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor(x, m, call)
    dim = _positive_dimension(m, x, call)
    ax = _axis(dim, x, call)
    average = flag(m, "sizeAverage", default=m.class_name == "nn.Mean")
    out = x.sum(axis=ax, keepdims=True)
    if average:
        out = out / x.shape[ax]
    squeeze_it = m.get("squeeze", None) is None or flag(m, "squeeze")
    if squeeze_it and out.ndim > 1:
        out = np.take(out, 0, axis=ax)
    return out


@layer("nn.Max", "nn.Min")
def max_min(m: T7Object, x, call: Call) -> np.ndarray:
    """torch.max/min along the dimension (values; indices are not an output)."""
    x = _tensor(x, m, call)
    ax = _axis(_positive_dimension(m, x, call), x, call)
    if x.shape[ax] == 0:
        raise call.fail("cannot reduce an empty dimension")
    out = (np.max if m.class_name == "nn.Max" else np.min)(x, axis=ax, keepdims=True)
    return np.take(out, 0, axis=ax) if x.ndim > 1 else out


@layer("nn.SpatialDropout", "nn.VolumetricDropout")
def spatial_dropout(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor(x, m, call)
    if flag(m, "stochastic_inference"):
        raise call.fail("stochastic inference drops channels at random at test time")
    p = number(m, call.where, "p", default=0.5)
    return x * (1 - p)


@layer("nn.Collapse")
def collapse(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor(x, m, call)
    n = integer(m, call.where, "nInputDim")
    x = np.ascontiguousarray(x)
    return x.reshape(x.shape[0], -1) if x.ndim > n else x.reshape(-1)
