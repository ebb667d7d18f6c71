"""The other 2-D convolutions (dilated, depthwise, locally connected, connection tables, subsampling) and
the generic N-d convolution of the dilated and volumetric classes.

``torch.nn.Conv2d``/``Conv3d`` are exactly the dilated and volumetric convolutions; the depthwise one is
a grouped Conv2d that first reads each plane as THNN does (W rows of H values: a reshape, nothing for
square inputs); the rest are small modules with Torch7's parameters as stored (untied weights, one
weight per connection, one per plane).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def _conv_args(a: dict[str, Any]) -> tuple:
    return (a.in_channels, a.out_channels, tuple(a.kernel_size), tuple(a.stride),
            tuple(a.padding), tuple(a.dilation), a.groups, a.bias)


@builds("ConvNd")
def build_conv(a: Record, children: list[nn.Module]) -> nn.Module:
    return _CONV[a.dims](*_conv_args(a))


class DepthWiseConv2d(nn.Conv2d):
    """nn.SpatialDepthWiseConvolution: THNN (nn 8726825) takes height from size[3] and width from
    size[2], reading each contiguous H x W plane as W rows of H values before convolving."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (3, 4):
            raise T7ConvertError(f"nn.SpatialDepthWiseConvolution: expects a 3-D or 4-D input, got {x.dim()}-D")
        if x.shape[-3] != self.in_channels:
            raise T7ConvertError(f"nn.SpatialDepthWiseConvolution: input has {x.shape[-3]} planes, "
                                 f"expected {self.in_channels}")
        return super().forward(x.contiguous().reshape(*x.shape[:-2], x.shape[-1], x.shape[-2]))


@builds("DepthWiseConv2d")
def build_depthwise(a: Record, children: list[nn.Module]) -> nn.Module:
    return DepthWiseConv2d(*_conv_args(a))


def _batched(x: torch.Tensor, what: str, ndims: tuple[int, ...]) -> tuple[torch.Tensor, bool]:
    """A batched view of an input of ``ndims`` (the unbatched rank, and the batched one where the layer
    takes batches) dimensions, and whether it was batched."""
    if x.dim() not in ndims:
        raise T7ConvertError(f"{what}: expects a {' or '.join(f'{n}-D' for n in ndims)} input, got {x.dim()}-D")
    return (x, True) if len(ndims) > 1 and x.dim() == ndims[1] else (x.unsqueeze(0), False)


class ConvLocal2d(nn.Module):
    """nn.SpatialConvolutionLocal: a convolution whose kernel differs at every output position."""

    def __init__(self, in_channels: int, out_channels: int, input_size, output_size, kernel_size, stride,
                 padding) -> None:
        super().__init__()
        self.input_size, self.output_size = tuple(input_size), tuple(output_size)
        self.kernel_size, self.stride, self.padding = tuple(kernel_size), tuple(stride), tuple(padding)
        self.in_channels = in_channels
        self.weight = nn.Parameter(torch.empty(*self.output_size, out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels, *self.output_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb, batched = _batched(x, "nn.SpatialConvolutionLocal", (3, 4))
        if tuple(xb.shape[1:]) != (self.in_channels, *self.input_size):
            raise T7ConvertError(f"nn.SpatialConvolutionLocal: input {tuple(x.shape)} does not match the expected "
                                 f"{self.in_channels}x{self.input_size[0]}x{self.input_size[1]}")
        cols = F.unfold(xb, self.kernel_size, padding=self.padding, stride=self.stride)  # N, C*kH*kW, P
        oh, ow = self.output_size
        w = self.weight.reshape(oh * ow, self.weight.shape[2], -1)                      # P, O, C*kH*kW
        out = torch.einsum("pok,nkp->nop", w, cols).reshape(xb.shape[0], -1, oh, ow) + self.bias
        return out if batched else out[0]


builds_module("ConvLocal2d", ConvLocal2d)


class ConvMap2d(nn.Module):
    """nn.SpatialConvolutionMap / SpatialFullConvolutionMap: one kernel per (input, output) connection;
    each connection's plane is convolved on its own (a grouped convolution, one group per row) and
    added into its output plane, after the bias."""

    def __init__(self, full: bool, in_channels: int, out_channels: int, kernel_size, stride,
                 inputs: list[int], outputs: list[int]) -> None:
        super().__init__()
        self.full, self.in_channels, self.out_channels = full, in_channels, out_channels
        self.stride = tuple(stride)
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.weight = nn.Parameter(torch.empty(len(inputs), *kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        what = "nn.SpatialFullConvolutionMap" if self.full else "nn.SpatialConvolutionMap"
        xb, batched = _batched(x, what, (3,) if self.full else (3, 4))
        planes = xb.shape[1]
        # THNN accepts more planes than the table uses, but a batch is then read with the declared stride
        if planes < self.in_channels or (planes != self.in_channels and batched):
            raise T7ConvertError(f"{what}: input has {planes} planes, the connection table {self.in_channels}")
        picked = xb[:, torch.tensor(self.inputs, device=x.device)]
        w = self.weight.unsqueeze(1)
        if self.full:
            y = F.conv_transpose2d(picked, w, stride=self.stride, groups=len(self.inputs))
        else:
            y = F.conv2d(picked, w, stride=self.stride, groups=len(self.inputs))
        out = self.bias.view(1, -1, 1, 1).expand(y.shape[0], -1, *y.shape[2:]).contiguous()
        out = out.index_add(1, torch.tensor(self.outputs, device=x.device), y)
        return out if batched else out[0]


builds_module("ConvMap2d", ConvMap2d)


class SpatialSubSampling(nn.Module):
    """nn.SpatialSubSampling: ``weight[c] * (sum of the kH x kW window) + bias[c]`` per plane."""

    def __init__(self, channels: int, kernel_size, stride) -> None:
        super().__init__()
        self.kernel_size, self.stride = tuple(kernel_size), tuple(stride)
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb, batched = _batched(x, "nn.SpatialSubSampling", (3, 4))
        c = self.weight.shape[0]
        if xb.shape[1] != c:
            raise T7ConvertError(f"nn.SpatialSubSampling: input has {xb.shape[1]} planes, expected {c}")
        ones = torch.ones(c, 1, *self.kernel_size, dtype=x.dtype, device=x.device)
        sums = F.conv2d(xb, ones, stride=self.stride, groups=c)
        out = sums * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return out if batched else out[0]


builds_module("SpatialSubSampling", SpatialSubSampling)
