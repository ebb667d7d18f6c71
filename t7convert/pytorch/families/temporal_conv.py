"""Convolutions over time. Torch7's sequences are time-first ((T, F) or (N, T, F)); torch's Conv1d wants
features first, so the modules transpose around it (TemporalRowConvolution's featFirst inputs are
already features-first)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module


def _features_first(x: torch.Tensor, what: str, features: int, feature_dim: int) -> torch.Tensor:
    """The (N, F, T) view of a 2-D or 3-D sequence whose features lie at ``feature_dim`` (-1 or -2)."""
    if x.dim() not in (2, 3):
        raise T7ConvertError(f"{what}: expects a 2-D or 3-D (batch) input, got {x.dim()}-D")
    if x.shape[feature_dim] != features:
        raise T7ConvertError(f"{what}: frames have {x.shape[feature_dim]} features, expected {features}")
    xb = x if x.dim() == 3 else x.unsqueeze(0)
    return xb.transpose(1, 2) if feature_dim == -1 else xb


class TemporalConvolution(nn.Conv1d):
    """nn.TemporalConvolution: Conv1d over time of (T, F) / (N, T, F) sequences."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(_features_first(x, "nn.TemporalConvolution", self.in_channels, -1)).transpose(1, 2)
        return y if x.dim() == 3 else y[0]


@builds("TemporalConv")
def build_temporal(a: Record, children: list[nn.Module]) -> nn.Module:
    return TemporalConvolution(a.in_features, a.out_features, a.kernel, a.stride)


class TemporalRowConvolution(nn.Conv1d):
    """nn.TemporalRowConvolution: each feature convolved along time with its own kernel (groups = F)."""

    def __init__(self, features: int, kernel: int, stride: int, feat_first: bool, bias: bool) -> None:
        super().__init__(features, features, kernel, stride, groups=features, bias=bias)
        self.feat_first = feat_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = -2 if self.feat_first else -1
        y = super().forward(_features_first(x, "nn.TemporalRowConvolution", self.in_channels, dim))
        y = y if self.feat_first else y.transpose(1, 2)
        return y if x.dim() == 3 else y[0]


builds_module("TemporalRowConv", TemporalRowConvolution)


class TemporalSubSampling(nn.Module):
    """nn.TemporalSubSampling: ``weight[f] * (sum over the kW frames of the window) + bias[f]``; THNN
    takes only a (T, F) input."""

    def __init__(self, features: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.weight = nn.Parameter(torch.empty(features))
        self.bias = nn.Parameter(torch.empty(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise T7ConvertError(f"nn.TemporalSubSampling: expects a 2-D (frames x features) input, got {x.dim()}-D")
        f = self.weight.shape[0]
        xf = _features_first(x, "nn.TemporalSubSampling", f, -1)
        ones = torch.ones(f, 1, self.kernel, dtype=x.dtype, device=x.device)
        sums = F.conv1d(xf, ones, stride=self.stride, groups=f)[0].t()
        return sums * self.weight + self.bias


builds_module("TemporalSubSampling", TemporalSubSampling)
