"""fast-neural-style's ShaveImage and the memory-efficient DenseNet's DenseConnectLayerCustom (see the
converters' family file for their sources)."""
from __future__ import annotations

import torch
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds


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
