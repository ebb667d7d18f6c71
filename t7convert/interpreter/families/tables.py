"""Table containers and table ops, as nn's and dpnn's Lua code runs them (Parallel.lua,
ParallelTable.lua, MapTable.lua, DepthConcat.lua, Bottle.lua, dpnn Inception.lua and Module.lua's
toBatch/fromBatch, SplitTable.lua, SelectTable.lua, NarrowTable.lua, FlattenTable.lua, MixtureTable.lua,
ZipTable.lua, ZipTableOneToMany.lua, CSub/CMul/CDiv/CMax/CMinTable.lua, dpnn CAddTensorTable.lua,
Index.lua, MaskedSelect.lua, nn's OneHot.lua and char-rnn's util/OneHot.lua). Tables are Python lists.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def _table(x, call: Call, n: int = 0) -> list:
    if not isinstance(x, list) or len(x) < n:
        raise call.fail(f"expects a table{f' of at least {n} elements' if n else ''}")
    return x


def _tensor(x, call: Call) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise call.fail("expects a tensor in this place of its input, received a table")
    return x


def _size(a: np.ndarray) -> str:
    return "x".join(map(str, a.shape))


@layer("nn.Parallel")
def parallel(m: T7Object, x, call: Call) -> np.ndarray:
    """Module i on ``input:select(inputDimension, i)`` for every i of that dimension, then the outputs
    copied one after the other along ``outputDimension``."""
    x = _tensor(x, call)
    in_dim = integer(m, call.where, "inputDimension")
    out_dim = integer(m, call.where, "outputDimension")
    if not 1 <= in_dim <= x.ndim or x.ndim < 2:
        raise call.fail(f"inputDimension {in_dim} is out of range for a {x.ndim}-D input")
    n = x.shape[in_dim - 1]
    if n > len(call.children):
        raise call.fail(f"input has {n} slices along dimension {in_dim}, but only {len(call.children)} modules")
    outs = [_tensor(call.child(i, np.take(x, i, axis=in_dim - 1)), call) for i in range(n)]
    return _concatenate(outs, out_dim, call)


def _concatenate(outs: list[np.ndarray], dim: int, call: Call) -> np.ndarray:
    first = outs[0]
    if not 1 <= dim <= first.ndim:
        raise call.fail(f"dimension {dim} is out of range for {first.ndim}-D outputs")
    for o in outs[1:]:
        if o.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(o.shape, first.shape)) if k != dim - 1):
            raise call.fail(f"cannot join {_size(first)} and {_size(o)} along dimension {dim}")
    return np.concatenate(outs, axis=dim - 1)


@layer("nn.ParallelTable")
def parallel_table(m: T7Object, x, call: Call) -> list:
    x = _table(x, call, len(call.children))
    return [call.child(i, x[i]) for i in range(len(call.children))]


@layer("nn.MapTable")
def map_table(m: T7Object, x, call: Call) -> list:
    """``modules[i]`` on element i (the clones share ``module``'s weights; an element beyond the clones
    in the file gets a new clone of ``module``: the same computation as ``modules[1]``)."""
    x = _table(x, call)
    if not call.children:
        raise call.fail("holds no module")
    return [call.child(i if i < len(call.children) else 0, v) for i, v in enumerate(x)]


@layer("nn.DepthConcat")
def depth_concat(m: T7Object, x, call: Call) -> np.ndarray:
    """Outputs stacked along ``dimension``, each centred (offset floor((max - size) / 2)) in zeros in
    every other dimension, whose size is the largest of the outputs'."""
    dim = integer(m, call.where, "dimension")
    outs = [_tensor(call.child(i, x), call) for i in range(len(call.children))]
    if not outs:
        raise call.fail("holds no module")
    nd = outs[0].ndim
    if not 1 <= dim <= nd or any(o.ndim != nd for o in outs):
        raise call.fail(f"dimension {dim} does not fit outputs of {[o.ndim for o in outs]} dimensions")
    size = [max(o.shape[k] for o in outs) for k in range(nd)]
    size[dim - 1] = sum(o.shape[dim - 1] for o in outs)
    out = np.zeros(size, dtype=outs[0].dtype)
    offset = 0
    for o in outs:
        index = []
        for k in range(nd):
            start = offset if k == dim - 1 else (size[k] - o.shape[k]) // 2
            index.append(slice(start, start + o.shape[k]))
        out[tuple(index)] = o
        offset += o.shape[dim - 1]
    return out


@layer("nn.Bottle")
def bottle(m: T7Object, x, call: Call) -> np.ndarray:
    x = _tensor(x, call)
    n_in = integer(m, call.where, "nInputDim", default=2)
    n_out = integer(m, call.where, "nOutputDim", default=n_in)
    batch_dims = x.ndim - n_in + 1
    if batch_dims <= 1:
        return call.child(0, x)
    squeeze = int(np.prod(x.shape[:batch_dims - 1]))
    in_shape = (x.shape[batch_dims - 1] * squeeze, *x.shape[batch_dims:])
    y = _tensor(call.child(0, x.reshape(in_shape)), call)
    if y.ndim != n_out:
        raise call.fail(f"wrong number of output dims on module: expected {n_out} but got {y.ndim}")
    size = list(x.shape[:batch_dims - 1]) + [y.shape[0] // squeeze] + list(y.shape[1:])
    return y.reshape(size)


@layer("nn.Inception")
def inception(m: T7Object, x, call: Call) -> np.ndarray:
    """toBatch(input, 3), the DepthConcat, fromBatch(output, 3): for a 3-D input the output's
    dimension 3 is removed, which dpnn asserts is of size 1."""
    x = _tensor(x, call)
    online = x.ndim == 3
    y = _tensor(call.child(0, x[None] if online else x), call)
    if not online:
        return y
    if y.ndim < 3 or y.shape[2] != 1:
        raise call.fail(f"fromBatch: dimension 3 of the {_size(y)} output is not 1")
    return y.reshape(y.shape[:2] + y.shape[3:])


@layer("nn.SplitTable")
def split_table(m: T7Object, x, call: Call) -> list:
    x = _tensor(x, call)
    dim = integer(m, call.where, "dimension")
    n_input_dims = integer(m, call.where, "nInputDims", default=None)
    if dim < 0:
        dim = x.ndim + dim + 1
    elif n_input_dims is not None and x.ndim == n_input_dims + 1:
        dim += 1
    if not 1 <= dim <= x.ndim:
        raise call.fail(f"dimension {dim} is out of range for a {x.ndim}-D input")
    # ``input:select(dimension, i)``: views, so an in-place layer on one slice writes into the input
    return [x[(slice(None),) * (dim - 1) + (i,)] for i in range(x.shape[dim - 1])]


@layer("nn.SelectTable")
def select_table(m: T7Object, x, call: Call):
    x = _table(x, call)
    index = integer(m, call.where, "index")
    i = len(x) + index + 1 if index < 0 else index
    if not 1 <= i <= len(x):
        raise call.fail(f"index {index} does not exist in the input table of {len(x)}")
    return x[i - 1]


@layer("nn.NarrowTable")
def narrow_table(m: T7Object, x, call: Call) -> list:
    x = _table(x, call)
    offset = integer(m, call.where, "offset")
    length = integer(m, call.where, "length", default=1)
    if offset < 1 or offset + length - 1 > len(x):
        raise call.fail(f"elements {offset}..{offset + length - 1} of a table of {len(x)}")
    return [x[offset + i - 1] for i in range(length)]


@layer("nn.FlattenTable")
def flatten_table(m: T7Object, x, call: Call) -> list:
    out: list = []

    def walk(v) -> None:
        if isinstance(v, list):
            for e in v:
                walk(e)
        else:
            out.append(v)
    walk(_table(x, call))
    return out


@layer("nn.ZipTable")
def zip_table(m: T7Object, x, call: Call) -> list:
    out: list[list] = []
    for i, inner in enumerate(_table(x, call)):
        for j, v in enumerate(_table(inner, call)):
            while len(out) <= j:
                out.append([])
            if len(out[j]) != i:
                raise call.fail("its tables differ in length (Lua would leave holes)")
            out[j].append(v)
    return out


@layer("nn.ZipTableOneToMany")
def zip_table_one_to_many(m: T7Object, x, call: Call) -> list:
    x = _table(x, call)
    if len(x) != 2:
        raise call.fail("input must be table of element and table")
    return [[x[0], v] for v in _table(x[1], call)]


def _same(a: np.ndarray, b: np.ndarray, call: Call) -> np.ndarray:
    if a.size != b.size:
        raise call.fail(f"cannot combine {_size(a)} with {_size(b)}")
    return b.reshape(a.shape)


@layer("nn.CSubTable", "nn.CDivTable")
def csub_cdiv_table(m: T7Object, x, call: Call) -> np.ndarray:
    x = _table(x, call, 2)
    a, b = _tensor(x[0], call), _tensor(x[1], call)
    b = _same(a, b, call)
    return a - b if m.class_name == "nn.CSubTable" else a / b


@layer("nn.CMulTable", "nn.CMaxTable", "nn.CMinTable")
def cmul_cmax_cmin_table(m: T7Object, x, call: Call) -> np.ndarray:
    """A copy of the first, then for each next: multiplied (CMul), or replaced where the next is
    greater (CMax: ``mask:gt(input[i], output)``) or smaller (CMin)."""
    x = _table(x, call, 1)
    out = _tensor(x[0], call).copy()
    for v in x[1:]:
        v = _same(out, _tensor(v, call), call)
        if m.class_name == "nn.CMulTable":
            out = out * v
        elif m.class_name == "nn.CMaxTable":
            out = np.where(v > out, v, out)
        else:
            out = np.where(v < out, v, out)
    return out


@layer("nn.CAddTensorTable")
def cadd_tensor_table(m: T7Object, x, call: Call) -> list:
    x = _table(x, call, 2)
    t = _tensor(x[0], call)
    return [_same(t, _tensor(v, call), call) + t for v in _table(x[1], call)]


@layer("nn.MixtureTable")
def mixture_table(m: T7Object, x, call: Call) -> np.ndarray:
    x = _table(x, call, 2)
    gater, experts = _tensor(x[0], call), x[1]
    dim_g = 2 if gater.ndim >= 2 else 1
    dim = integer(m, call.where, "dim", default=None) or (2 if dim_g == 2 else 1)
    if isinstance(experts, list):
        if gater.shape[dim_g - 1] != len(experts):
            raise call.fail("should be one gater output per expert")
        first = _tensor(experts[0], call)
        size = [1] * (first.ndim + 1)
        if dim_g > 1:
            size[0] = gater.shape[0]
        size[dim - 1] = gater.shape[dim_g - 1]
        view = gater.reshape(size)
        out = np.zeros_like(first)
        for i, e in enumerate(experts):
            out = out + _tensor(e, call) * np.broadcast_to(np.take(view, i, axis=dim - 1), e.shape)
        return out
    experts = _tensor(experts, call)
    size = [1] * experts.ndim
    if dim_g > 1:
        size[0] = gater.shape[0]
    size[dim - 1] = gater.shape[dim_g - 1]
    return (np.broadcast_to(gater.reshape(size), experts.shape) * experts).sum(axis=dim - 1)


def _indices(v, call: Call, high: int) -> np.ndarray:
    idx = np.asarray(v)
    if idx.dtype.kind == "f":
        idx = idx.astype(np.int64)  # :long() truncates
    if idx.size and (idx.min() < 1 or idx.max() > high):
        raise call.fail(f"an index is out of range 1..{high}")
    return idx.astype(np.int64)


@layer("nn.Index")
def index(m: T7Object, x, call: Call) -> np.ndarray:
    x = _table(x, call, 2)
    t = _tensor(x[0], call)
    dim = integer(m, call.where, "dimension")
    if not 1 <= dim <= t.ndim:
        raise call.fail(f"dimension {dim} is out of range for a {t.ndim}-D tensor")
    idx = _indices(_tensor(x[1], call), call, t.shape[dim - 1])
    if idx.ndim != 1:
        raise call.fail("the indices should be a vector")
    return np.take(t, idx - 1, axis=dim - 1)


@layer("nn.MaskedSelect")
def masked_select(m: T7Object, x, call: Call) -> np.ndarray:
    x = _table(x, call, 2)
    t, mask = _tensor(x[0], call), _tensor(x[1], call)
    if t.size != mask.size:
        raise call.fail(f"mask {_size(mask)} and tensor {_size(t)} differ in size")
    return t.reshape(-1)[mask.reshape(-1) != 0]


@layer("nn.OneHot", "OneHot")
def one_hot(m: T7Object, x, call: Call) -> np.ndarray:
    """nn: the input's size plus outputSize (a 1 at each index); char-rnn: ``eye:index(1, input)``, so
    a vector of indices only."""
    n = integer(m, call.where, "outputSize")
    x = array_input(x, m, where=call.where, ndims=(1,) if m.class_name == "OneHot" else tuple(range(1, 33)))
    idx = _indices(x, call, n)
    return np.eye(n)[idx - 1]
