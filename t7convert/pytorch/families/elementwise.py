"""Identity, MulConstant, Scale (a BN-free affine) and Torch7's SoftMax/LogSoftMax over planes or the last dimension.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from t7convert.pytorch.families import builds_module


class MulConstant(nn.Module):
    def __init__(self, scalar: float) -> None:
        super().__init__()
        self.scalar = scalar

    def forward(self, x):
        return x * self.scalar

    def extra_repr(self) -> str:
        return repr(self.scalar)


class Scale(nn.Module):
    """Dropout at test time: the identity (``v2``) or a multiplication by ``1 - p`` (Torch7's v1 default)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x if self.factor == 1.0 else x * self.factor

    def extra_repr(self) -> str:
        return repr(self.factor)


class SoftMax(nn.Module):
    """Torch7's SoftMax/LogSoftMax pick the dimension from the input's rank: nn's over the planes
    (1-D/3-D: dimension 0, else 1), cudnn's (``over="instance"``) over all of a sample's values."""

    def __init__(self, log: bool = False, over: str = "planes") -> None:
        super().__init__()
        self.log, self.over = log, over

    def forward(self, x):
        if self.over == "instance" and x.dim() >= 3:
            batch = x.dim() == 4
            flat = x.reshape(x.shape[0], -1) if batch else x.reshape(1, -1)
            out = F.log_softmax(flat, 1) if self.log else F.softmax(flat, 1)
            return out.reshape(x.shape)
        dim = 0 if x.dim() in (1, 3) else 1
        return F.log_softmax(x, dim) if self.log else F.softmax(x, dim)

    def _get_name(self) -> str:
        return "LogSoftMax" if self.log else "SoftMax"


builds_module("Identity", nn.Identity)
builds_module("MulConstant", MulConstant)
builds_module("Scale", Scale)
builds_module("SoftMax", SoftMax)
