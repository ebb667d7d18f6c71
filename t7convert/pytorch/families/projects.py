"""fast-neural-style's ShaveImage, the memory-efficient DenseNet's DenseConnectLayerCustom, dpnn's Convert,
dqn's Rectifier, deepmask's SpatialSymmetricPadding and SpatialConstDiagonal, OpenNMT's table-or-tensor input (see the converters'
family file for their sources; SharpMask is a composition of its children in the graph)."""
from __future__ import annotations

import torch
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module


class ShaveImage(nn.Module):
    """``input[{{}, {}, {s+1, H-s}, {s+1, W-s}}]`` of a 4-D batch."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x):
        if x.dim() != 4:
            raise T7ConvertError(f"nn.ShaveImage takes a 4-D batch, received {tuple(x.shape)}")
        s = self.size
        h, w = x.shape[2], x.shape[3]
        if h - 2 * s < 1 or w - 2 * s < 1:
            raise T7ConvertError(f"nn.ShaveImage({s}): input {h}x{w} leaves nothing")
        return x[:, :, s:h - s, s:w - s]

    def extra_repr(self) -> str:
        return str(self.size)


class DenseConnect(nn.Module):
    """``{x, net2(net1(x))}`` for a tensor, ``{t..., net2(net1(cat(t, dim 2)))}`` for a table."""

    def __init__(self, net1: nn.Module, net2: nn.Module) -> None:
        super().__init__()
        self.add_module("0", net1)
        self.add_module("1", net2)

    def forward(self, x):
        net1, net2 = self.get_submodule("0"), self.get_submodule("1")
        if isinstance(x, (list, tuple)):
            return [*x, net2(net1(torch.cat(list(x), 1)))]
        return [x, net2(net1(x))]


class Convert(nn.Module):
    """dpnn's Convert: its converter, with a batch of one put in (and taken out) for a sample."""

    def __init__(self, converter: nn.Module, n_input_dim: int, in_batch_dim: int, out_batch_dim: int) -> None:
        super().__init__()
        self.add_module("0", converter)
        self.n_input_dim, self.in_batch_dim, self.out_batch_dim = n_input_dim, in_batch_dim, out_batch_dim

    def forward(self, x):
        converter = self.get_submodule("0")
        if x.dim() >= self.n_input_dim:
            return converter(x)
        return converter(x.unsqueeze(self.in_batch_dim - 1)).squeeze(self.out_batch_dim - 1)


@builds("Convert")
def build_convert(a: Record, children: list[nn.Module]) -> nn.Module:
    if len(children) != 1:
        raise ValueError("Convert holds one converter")
    return Convert(children[0], int(a.n_input_dim), int(a.in_batch_dim), int(a.out_batch_dim))


@builds("ShaveImage")
def build_shave_image(a: Record, children: list[nn.Module]) -> nn.Module:
    return ShaveImage(int(a.size))


@builds("DenseConnect")
def build_dense_connect(a: Record, children: list[nn.Module]) -> nn.Module:
    if len(children) != 2:
        raise ValueError("DenseConnect holds net1 and net2")
    return DenseConnect(*children)


class Rectifier(nn.Module):
    """dqn's ``(|x| + x) / 2`` in the input's own precision (NaN at -inf, inf past half the float range)."""

    def forward(self, x):
        return (x.abs() + x) / 2


class SymmetricPadding(nn.Module):
    """deepmask's SpatialSymmetricPadding: negative pads crop; the output's border rows are filled top,
    bottom, left, right in turn, each from a row (column) of the output written before it, as the Lua
    loops copy them."""

    def __init__(self, pad_l: int, pad_r: int, pad_t: int, pad_b: int) -> None:
        super().__init__()
        self.pad_l, self.pad_r, self.pad_t, self.pad_b = pad_l, pad_r, pad_t, pad_b

    def forward(self, x):
        if x.dim() != 4:
            raise T7ConvertError(f"nn.SpatialSymmetricPadding takes a 4-D batch, received {tuple(x.shape)}")
        pl, pr, pt, pb = self.pad_l, self.pad_r, self.pad_t, self.pad_b
        h, w = x.shape[2] + pt + pb, x.shape[3] + pl + pr
        kept_h = x.shape[2] + min(pt, 0) + min(pb, 0)  # what the crops (Lua narrows) leave: at least 1
        kept_w = x.shape[3] + min(pl, 0) + min(pr, 0)
        if min(h, w, kept_h, kept_w) < 1 or w < 2 * pl or w < 2 * pr or h < 2 * pt or h < 2 * pb:
            raise T7ConvertError(f"nn.SpatialSymmetricPadding({pl}, {pr}, {pt}, {pb}): input "
                                 f"{x.shape[2]}x{x.shape[3]} is too small")
        x = x[:, :, max(-pt, 0):x.shape[2] - max(-pb, 0), max(-pl, 0):x.shape[3] - max(-pr, 0)]
        rows = [None] * h  # each output row: a slice of x, or (for a pad row) the row it copies
        body = list(range(max(pt, 0), h - max(pb, 0)))
        for i, r in enumerate(body):
            rows[r] = x[:, :, i:i + 1, :]
        zero = x.new_zeros(x.shape[0], x.shape[1], 1, x.shape[3])
        rows = [zero if r is None else r for r in rows]
        for i in range(1, pt + 1):
            rows[pt - i] = rows[i + pt - 1]
        for i in range(1, pb + 1):
            rows[h - pb + i - 1] = rows[h - pb - i]
        y = torch.cat(rows, 2)
        cols = [None] * w
        for i, c in enumerate(range(max(pl, 0), w - max(pr, 0))):
            cols[c] = y[:, :, :, i:i + 1]
        zero = y.new_zeros(y.shape[0], y.shape[1], y.shape[2], 1)
        cols = [zero if c is None else c for c in cols]
        for i in range(1, pl + 1):
            cols[pl - i] = cols[i + pl - 1]
        for i in range(1, pr + 1):
            cols[w - pr + i - 1] = cols[w - pr - i]
        return torch.cat(cols, 3)

    def extra_repr(self) -> str:
        return f"l={self.pad_l}, r={self.pad_r}, t={self.pad_t}, b={self.pad_b}"


class ConstDiagonal(nn.Module):
    """deepmask's SpatialConstDiagonal: ``x * a + b``, a and b of 1 x C x 1 x 1 (a frozen batch norm)."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.register_buffer("a", torch.empty(1, planes, 1, 1))
        self.register_buffer("b", torch.empty(1, planes, 1, 1))

    def forward(self, x):
        if x.dim() != 4 or self.a.shape[1] not in (1, x.shape[1]):
            raise T7ConvertError(f"nn.SpatialConstDiagonal of {self.a.shape[1]} planes takes a 4-D batch of "
                                 f"those planes, received {tuple(x.shape)}")
        return x * self.a + self.b


class FirstIfTable(nn.Module):
    """OpenNMT's ``type(input) == 'table' and input[1] or input``."""

    def forward(self, x):
        return x[0] if isinstance(x, (list, tuple)) else x


builds_module("FirstIfTable", FirstIfTable)
builds_module("SymmetricPadding", SymmetricPadding)
builds_module("ConstDiagonal", ConstDiagonal)


@builds("Rectifier")
def build_rectifier(a: Record, children: list[nn.Module]) -> nn.Module:
    return Rectifier()
