"""ReLU and Threshold (exactly ``torch.nn.ReLU`` and ``torch.nn.Threshold``), Identity, MulConstant,
Torch7's dropouts in both modes, Scale (files converted before they were), and Torch7's SoftMax/LogSoftMax
over planes or the last dimension.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.pytorch.families import builds_module


class MulConstant(nn.Module):
    def __init__(self, scalar: float) -> None:
        super().__init__()
        self.scalar = scalar

    def forward(self, x):
        return x * self.scalar

    def extra_repr(self) -> str:
        return repr(self.scalar)


class Dropout(nn.Module):
    """Torch7's nn.Dropout, fbnn.Dropout, nn.SpatialDropout and nn.VolumetricDropout, in both modes, as
    ``train()``/``eval()`` select (a converted model starts in eval mode).

    Training: the input times a Bernoulli(1 - p) mask, drawn per element (``shared_dims`` 0) or per plane
    of a sample (SpatialDropout: one draw shared by the last 2 dimensions, VolumetricDropout 3), divided
    by 1 - p with ``v2`` (Dropout.lua's default since 2015). Evaluation: the identity with ``v2``, else
    times 1 - p. p = 0 leaves the input alone in both modes. torch.nn.Dropout is v2 only, which is why a
    v1 file's fine-tuning needs this module rather than it."""

    def __init__(self, p: float, v2: bool, shared_dims: int = 0, torch7_class: str = "nn.Dropout") -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise T7ConvertError(f"a converted {torch7_class} has p {p!r}: it must be 0 <= p < 1")
        if shared_dims not in (0, 2, 3):
            raise T7ConvertError(f"a converted {torch7_class} shares its mask over {shared_dims!r} dimensions")
        self.p, self.v2, self.shared_dims, self.torch7_class = float(p), bool(v2), shared_dims, str(torch7_class)

    def _mask_shape(self, x) -> tuple[int, ...]:
        if self.shared_dims == 0:
            return tuple(x.shape)
        rank = x.dim()
        if rank not in (self.shared_dims + 1, self.shared_dims + 2):
            raise T7ConvertError(f"{self.torch7_class} in training takes {self.shared_dims + 1}-D or "
                                 f"{self.shared_dims + 2}-D input, got {tuple(x.shape)}")
        return tuple(x.shape[: rank - self.shared_dims]) + (1,) * self.shared_dims

    def forward(self, x):
        if self.p == 0:
            return x
        keep = 1.0 - self.p
        if not self.training:
            return x if self.v2 else x * keep
        mask = torch.empty(self._mask_shape(x), dtype=x.dtype, device=x.device).bernoulli_(keep)
        if self.v2:
            mask = mask / keep
        return x * mask

    def _get_name(self) -> str:
        return f"Dropout[{self.torch7_class}]"

    def extra_repr(self) -> str:
        keep = 1.0 - self.p
        per = {0: "per element", 2: "per plane", 3: "per volume"}[self.shared_dims]
        if self.v2:
            how = f"train: mask {per} / {keep:g}; eval: identity"
        else:
            how = f"train: mask {per}, not rescaled; eval: x * {keep:g}"
        return f"p={self.p:g}, {how}"


class Scale(nn.Module):
    """Dropout at test time, in files converted before dropouts were (``Dropout`` above): the identity
    (``v2``) or a multiplication by ``1 - p``. Such a file does not say p, so it cannot drop in training."""

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


builds_module("ReLU", nn.ReLU)
builds_module("Threshold", nn.Threshold)
builds_module("Identity", nn.Identity)
builds_module("MulConstant", MulConstant)
builds_module("Dropout", Dropout)
builds_module("Scale", Scale)
builds_module("SoftMax", SoftMax)
