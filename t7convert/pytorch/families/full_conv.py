"""Full convolutions: ``torch.nn.ConvTranspose2d``/``3d`` with ``output_padding`` = Torch7's adj, taking
also Torch7's table input ``{x, target}``, whose last sizes set each adj to ``(target + 2*pad - k) % d``
(nn.SpatialFullConvolution's calculateAdj)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds


def _adjusted_for_target(conv: nn.modules.conv._ConvTransposeNd, x: list, transpose) -> torch.Tensor:
    """The full convolution of ``x[0]`` with each adj taken from the size of the target ``x[1]``."""
    if len(x) < 2:
        raise T7ConvertError("a full convolution's table input is {input, target}")
    inp, target = x[0], x[1]
    n = len(conv.kernel_size)
    if target.dim() < n:
        raise T7ConvertError(f"the target of a full convolution needs {n} sizes, has {target.dim()}")
    adj = tuple((t + 2 * p - k) % d for t, k, p, d in zip(target.shape[-n:], conv.kernel_size, conv.padding,
                                                            conv.stride))
    return transpose(inp, conv.weight, conv.bias, conv.stride, conv.padding, adj, conv.groups)


class FullConvolution2d(nn.ConvTranspose2d):
    def forward(self, x):  # type: ignore[override] - Torch7 also takes a table
        if isinstance(x, (list, tuple)):
            return _adjusted_for_target(self, list(x), F.conv_transpose2d)
        return super().forward(x)


class FullConvolution3d(nn.ConvTranspose3d):
    def forward(self, x):  # type: ignore[override] - Torch7 also takes a table
        if isinstance(x, (list, tuple)):
            return _adjusted_for_target(self, list(x), F.conv_transpose3d)
        return super().forward(x)


@builds("ConvTransposeNd")
def build_full_convolution(a: Record, children: list[nn.Module]) -> nn.Module:
    cls = FullConvolution2d if a.dims == 2 else FullConvolution3d
    return cls(a.in_channels, a.out_channels, tuple(a.kernel_size), tuple(a.stride),
               tuple(a.padding), tuple(a.output_padding), a.groups, a.bias, tuple(a.dilation))
