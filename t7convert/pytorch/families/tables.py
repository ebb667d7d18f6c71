"""Torch7's table ops and the pieces of its table containers as torch modules. A Lua table is a
Python list; dimensions are Torch7's (1-based), resolved per input as the Lua code does.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module


def _dim0(dim: int, nd: int, what: str) -> int:
    if not 1 <= dim <= nd:
        raise T7ConvertError(f"{what}: dimension {dim} is out of range for a {nd}-D input")
    return dim - 1


def _sym_max(values: list):
    out = values[0]
    for v in values[1:]:
        out = torch.sym_max(out, v)
    return out


class DepthCatTable(nn.Module):
    """DepthConcat's join: every non-join dimension padded with zeros to the largest size, a smaller
    output placed at offset ``floor((max - size) / 2)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, xs):
        first = xs[0]
        d = _dim0(self.dim, first.dim(), "nn.DepthConcat")
        if any(x.dim() != first.dim() for x in xs):
            raise T7ConvertError("nn.DepthConcat: its modules' outputs differ in rank")
        # zero padding, before = floor((max - size) / 2), then a concatenation: no branch on a size, so
        # that a traced program (torch.export, ONNX) holds for every size
        size = [_sym_max([x.shape[k] for x in xs]) for k in range(first.dim())]
        parts = []
        for x in xs:
            pad: list = []
            for k in reversed(range(x.dim())):
                before = 0 if k == d else (size[k] - x.shape[k]) // 2
                after = 0 if k == d else size[k] - x.shape[k] - before
                pad += [before, after]
            parts.append(F.pad(x, pad) if any(not isinstance(p, int) or p for p in pad) else x)
        return torch.cat(parts, d)

    def extra_repr(self) -> str:
        return f"dimension={self.dim}"


class ParallelJoin(nn.Module):
    """nn.Parallel's join along ``dim`` (absolute), after checking the input had one slice per child
    along ``in_dim`` (Torch7 fails on a slice that has no child)."""

    def __init__(self, dim: int, in_dim: int, n: int) -> None:
        super().__init__()
        self.dim, self.in_dim, self.n = dim, in_dim, n

    def forward(self, xs, x):
        if x.shape[self.in_dim - 1] != self.n:
            raise T7ConvertError(f"nn.Parallel: the input has {x.shape[self.in_dim - 1]} slices along dimension "
                                 f"{self.in_dim} for {self.n} modules")
        return torch.cat(list(xs), _dim0(self.dim, xs[0].dim(), "nn.Parallel"))

    def extra_repr(self) -> str:
        return f"outputDimension={self.dim}, inputDimension={self.in_dim}, modules={self.n}"


class BottleIn(nn.Module):
    """Bottle: an input of more than ``n_input_dim`` dimensions has its leading ones folded into one."""

    def __init__(self, n_input_dim: int) -> None:
        super().__init__()
        self.n_input_dim = n_input_dim

    def forward(self, x):
        lead = x.dim() - self.n_input_dim + 1
        return x.reshape(-1, *x.shape[lead:]) if lead > 1 else x


class BottleOut(nn.Module):
    """Bottle: the module's output (``n_output_dim`` dimensions) unfolded into the input's leading ones."""

    def __init__(self, n_input_dim: int, n_output_dim: int) -> None:
        super().__init__()
        self.n_input_dim, self.n_output_dim = n_input_dim, n_output_dim

    def forward(self, y, x):
        lead = x.dim() - self.n_input_dim + 1
        if lead <= 1:
            return y
        if y.dim() != self.n_output_dim:
            raise T7ConvertError(f"nn.Bottle: wrong number of output dims on module; expected "
                                 f"{self.n_output_dim} but got {y.dim()}")
        squeeze = math.prod(x.shape[:lead - 1])
        return y.reshape(*x.shape[:lead - 1], y.shape[0] // squeeze, *y.shape[1:])


class ToBatch(nn.Module):
    """dpnn's toBatch: an input of ``n_dim`` dimensions becomes a batch of one."""

    def __init__(self, n_dim: int) -> None:
        super().__init__()
        self.n_dim = n_dim

    def forward(self, x):
        return x.unsqueeze(0) if x.dim() == self.n_dim else x


class FromBatch(nn.Module):
    """dpnn's fromBatch(output, batch_dim) after toBatch: removes dimension ``batch_dim`` (which must be
    of size 1) when the input had ``n_dim`` dimensions. Inception passes 3, not the batch's 1."""

    def __init__(self, n_dim: int, batch_dim: int) -> None:
        super().__init__()
        self.n_dim, self.batch_dim = n_dim, batch_dim

    def forward(self, y, x):
        if x.dim() != self.n_dim:
            return y
        d = self.batch_dim - 1
        if y.dim() <= d or y.shape[d] != 1:
            raise T7ConvertError(f"dpnn fromBatch: dimension {self.batch_dim} of the output is not of size 1")
        return y.squeeze(d)


class MapTable(nn.Module):
    """One module applied to every element of a table (MapTable.lua's clones share its weights)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.add_module("0", module)

    def forward(self, xs):
        module = self.get_submodule("0")
        return [module(x) for x in xs]


class SplitTable(nn.Module):
    def __init__(self, dim: int, n_input_dims: int | None) -> None:
        super().__init__()
        self.dim, self.n_input_dims = dim, n_input_dims

    def forward(self, x):
        dim = self.dim
        if dim < 0:
            dim = x.dim() + dim + 1
        elif self.n_input_dims is not None and x.dim() == self.n_input_dims + 1:
            dim += 1
        return list(x.unbind(_dim0(dim, x.dim(), "nn.SplitTable")))


def _lua_index(index: int, n: int, what: str) -> int:
    i = n + index if index < 0 else index - 1
    if not 0 <= i < n:
        raise T7ConvertError(f"{what}: index {index} does not exist in a table of {n}")
    return i


class SelectTable(nn.Module):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, xs):
        return xs[_lua_index(self.index, len(xs), "nn.SelectTable")]


class NarrowTable(nn.Module):
    def __init__(self, offset: int, length: int) -> None:
        super().__init__()
        self.offset, self.length = offset, length

    def forward(self, xs):
        if self.offset + self.length - 1 > len(xs):
            raise T7ConvertError(f"nn.NarrowTable: elements {self.offset}..{self.offset + self.length - 1} "
                                 f"of a table of {len(xs)}")
        return list(xs[self.offset - 1:self.offset - 1 + self.length])


def _flatten(value, out: list) -> list:
    if isinstance(value, (list, tuple)):
        for v in value:
            _flatten(v, out)
    else:
        out.append(value)
    return out


class FlattenTable(nn.Module):
    def forward(self, xs):
        return _flatten(xs, [])


class ZipTable(nn.Module):
    """``{{a, b}, {c, d}}`` -> ``{{a, c}, {b, d}}``."""

    def forward(self, xs):
        if not all(isinstance(t, (list, tuple)) for t in xs):  # Torch7 walks each element with ipairs
            raise T7ConvertError("nn.ZipTable: the input must be a table of tables")
        width = max((len(t) for t in xs), default=0)
        return [[t[j] for t in xs if j < len(t)] for j in range(width)]


class ZipTableOneToMany(nn.Module):
    """``{e, {a, b}}`` -> ``{{e, a}, {e, b}}``."""

    def forward(self, xs):
        if len(xs) != 2:
            raise T7ConvertError("nn.ZipTableOneToMany: input must be a table of an element and a table")
        return [[xs[0], v] for v in xs[1]]


class ElementwiseTable(nn.Module):
    """CSubTable, CMulTable, CDivTable, CMaxTable, CMinTable: the others are read with the first's shape
    (TH's element-wise ops pair elements in order)."""

    def __init__(self, fn: str) -> None:
        super().__init__()
        if fn not in ("sub", "mul", "div", "max", "min"):
            raise ValueError(f"unknown table function {fn!r}")
        self.fn = fn

    def forward(self, xs):
        out = xs[0]
        rest = xs[1:2] if self.fn in ("sub", "div") else xs[1:]
        if not rest and self.fn in ("sub", "div"):
            raise T7ConvertError(f"nn.C{self.fn.capitalize()}Table needs a table of two tensors")
        for x in rest:
            x = x.reshape(out.shape)
            if self.fn == "sub":
                out = out - x
            elif self.fn == "div":
                out = out / x
            elif self.fn == "mul":
                out = out * x
            elif self.fn == "max":
                out = torch.where(x > out, x, out)
            else:
                out = torch.where(x < out, x, out)
        return out.clone() if out is xs[0] else out

    def extra_repr(self) -> str:
        return self.fn


class CAddTensorTable(nn.Module):
    """``{t, {a, b}}`` -> ``{a + t, b + t}`` of ``t``'s shape."""

    def forward(self, xs):
        t = xs[0]
        return [a.reshape(t.shape) + t for a in xs[1]]


class MixtureTable(nn.Module):
    """``{gater, experts}``: experts a table -> sum_i gate_i * expert_i; a tensor -> the gates viewed
    along ``dim`` (nil: 2, or 1 for an unbatched gater) times the experts, summed over ``dim``."""

    def __init__(self, dim: int | None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, xs):
        gater, experts = xs[0], xs[1]
        batched = gater.dim() >= 2
        dim_g = 1 if batched else 0
        dim = (self.dim or (2 if batched else 1)) - 1
        if isinstance(experts, (list, tuple)):
            if gater.shape[dim_g] != len(experts):
                raise T7ConvertError("nn.MixtureTable: should be one gater output per expert")
            size = [1] * (experts[0].dim() + 1)
            if batched:
                size[0] = gater.shape[0]
            size[dim] = gater.shape[dim_g]
            view = gater.reshape(size)
            out = torch.zeros_like(experts[0])
            for i, e in enumerate(experts):
                out = out + e * view.select(dim, i).expand_as(e)
            return out
        size = [1] * experts.dim()
        if batched:
            size[0] = gater.shape[0]
        size[dim] = gater.shape[dim_g]
        return (gater.reshape(size).expand_as(experts) * experts).sum(dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Index(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, xs):
        t, idx = xs[0], xs[1]
        d = _dim0(self.dim, t.dim(), "nn.Index")
        if idx.dim() != 1:
            raise T7ConvertError("nn.Index: the indices should be a vector")
        idx = idx.long()
        if not idx.is_meta and idx.numel():  # runtime assertions under torch.export (no data-dependent branch)
            message = lambda: f"nn.Index: an index is out of range 1..{t.shape[d]}"  # noqa: E731
            torch._check_with(T7ConvertError, idx.min().item() >= 1, message)
            torch._check_with(T7ConvertError, idx.max().item() <= t.shape[d], message)
        return t.index_select(d, idx - 1)


class MaskedSelect(nn.Module):
    """The values where the mask is non-zero, in row-major order, as a vector."""

    def forward(self, xs):
        t, mask = xs[0], xs[1]
        if t.numel() != mask.numel():
            raise T7ConvertError("nn.MaskedSelect: the mask and the tensor differ in size")
        if mask.is_meta:  # the memory plan's dry run: at most every value is selected
            return t.reshape(-1)
        return t.reshape(-1)[mask.reshape(-1) != 0]


class OneHot(nn.Module):
    """A 1 at each 1-based index, in a new last dimension of ``n`` (char-rnn's: vectors of indices only)."""

    def __init__(self, n: int, vector_only: bool) -> None:
        super().__init__()
        self.n, self.vector_only = n, vector_only

    def forward(self, x):
        if self.vector_only and x.dim() != 1:
            raise T7ConvertError("OneHot (char-rnn): expects a vector of indices")
        idx = x.long()
        if not idx.is_meta and idx.numel():  # runtime assertions under torch.export (no data-dependent branch)
            message = lambda: f"OneHot: an index is out of range 1..{self.n}"  # noqa: E731
            torch._check_with(T7ConvertError, idx.min().item() >= 1, message)
            torch._check_with(T7ConvertError, idx.max().item() <= self.n, message)
        # the output has the input's floating type (Torch7's output is a tensor of the module's type, which
        # :double() / :float() set together with the indices'); integer indices give float32
        dtype = x.dtype if x.is_floating_point() else torch.float32
        return F.one_hot(idx - 1, self.n).to(dtype)


@builds("DepthCatTable")
def build_depth_cat(a: Record, children: list[nn.Module]) -> nn.Module:
    return DepthCatTable(int(a.dim))


@builds("ParallelJoin")
def build_parallel_join(a: Record, children: list[nn.Module]) -> nn.Module:
    return ParallelJoin(int(a.dim), int(a.in_dim), int(a.n))


@builds("BottleIn")
def build_bottle_in(a: Record, children: list[nn.Module]) -> nn.Module:
    return BottleIn(int(a.n_input_dim))


@builds("BottleOut")
def build_bottle_out(a: Record, children: list[nn.Module]) -> nn.Module:
    return BottleOut(int(a.n_input_dim), int(a.n_output_dim))


@builds("ToBatch")
def build_to_batch(a: Record, children: list[nn.Module]) -> nn.Module:
    return ToBatch(int(a.n_dim))


@builds("FromBatch")
def build_from_batch(a: Record, children: list[nn.Module]) -> nn.Module:
    return FromBatch(int(a.n_dim), int(a.batch_dim))


@builds("MapTable")
def build_map_table(a: Record, children: list[nn.Module]) -> nn.Module:
    if len(children) != 1:
        raise ValueError("MapTable holds exactly one module")
    return MapTable(children[0])


@builds("SplitTable")
def build_split_table(a: Record, children: list[nn.Module]) -> nn.Module:
    return SplitTable(int(a.dim), a.n_input_dims)


@builds("SelectTable")
def build_select_table(a: Record, children: list[nn.Module]) -> nn.Module:
    return SelectTable(int(a.index))


@builds("NarrowTable")
def build_narrow_table(a: Record, children: list[nn.Module]) -> nn.Module:
    return NarrowTable(int(a.offset), int(a.length))


builds_module("FlattenTable", FlattenTable)
builds_module("ZipTable", ZipTable)
builds_module("ZipTableOneToMany", ZipTableOneToMany)
builds_module("ElementwiseTable", ElementwiseTable)
builds_module("CAddTensorTable", CAddTensorTable)
builds_module("MixtureTable", MixtureTable)


@builds("Index")
def build_index(a: Record, children: list[nn.Module]) -> nn.Module:
    return Index(int(a.dim))


builds_module("MaskedSelect", MaskedSelect)


@builds("OneHot")
def build_one_hot(a: Record, children: list[nn.Module]) -> nn.Module:
    return OneHot(int(a.n), bool(a.vector_only))


class ParallelTable(nn.Module):
    """``nn.ParallelTable`` built as a tree (inside a recurrent step module): child i on element i."""

    def __init__(self, modules: list[nn.Module]) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def forward(self, xs):
        if not isinstance(xs, (list, tuple)) or len(xs) < len(self._modules):
            raise ValueError(f"nn.ParallelTable of {len(self._modules)} modules needs a table of as many inputs")
        return [m(x) for m, x in zip(self.children(), xs)]


@builds("ParallelTable")
def build_parallel_table(a: Record, children: list[nn.Module]) -> nn.Module:
    return ParallelTable(children)
