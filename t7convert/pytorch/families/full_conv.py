"""Full convolutions: ``torch.nn.ConvTranspose2d``/``3d`` with ``output_padding`` = Torch7's adj, taking
also Torch7's table input ``{x, target}``, whose last sizes set each adj to ``(target + 2*pad - k) % d``."""
from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.pytorch.families import builds


class _FullConvolution:
    """forward(x) as ConvTranspose; forward([x, target]) with the adj the target's size implies."""

    def forward(self, x):  # type: ignore[override]
        if not isinstance(x, (list, tuple)):
            return super().forward(x)  # type: ignore[misc]
        if len(x) < 2:
            raise T7ConvertError("a full convolution's table input is {input, target}")
        inp, target = x[0], x[1]
        n = len(self.kernel_size)  # type: ignore[attr-defined]
        if target.dim() < n:
            raise T7ConvertError(f"the target of a full convolution needs {n} sizes, has {target.dim()}")
        adj = tuple((t + 2 * p - k) % d for t, k, p, d in zip(target.shape[-n:], self.kernel_size,  # type: ignore
                                                                self.padding, self.stride))  # type: ignore
        fn = F.conv_transpose2d if n == 2 else F.conv_transpose3d
        return fn(inp, self.weight, self.bias, self.stride, self.padding, adj, self.groups)  # type: ignore


class FullConvolution2d(_FullConvolution, nn.ConvTranspose2d):
    pass


class FullConvolution3d(_FullConvolution, nn.ConvTranspose3d):
    pass


@builds("ConvTransposeNd")
def build_full_convolution(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    cls = FullConvolution2d if a["dims"] == 2 else FullConvolution3d
    return cls(a["in_channels"], a["out_channels"], tuple(a["kernel_size"]), tuple(a["stride"]),
               tuple(a["padding"]), tuple(a["output_padding"]), a["groups"], a["bias"], tuple(a["dilation"]))


