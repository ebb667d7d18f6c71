"""Torch modules of the table and index layers nngraph and language models use (see the converter's
family file): SplitTable returns a list, CMulTable/CSubTable take one, OneHot and LookupTable take
1-based indices (any dtype: Torch7 copies them into a LongTensor)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.pytorch.families import builds


class SplitTable(nn.Module):
    """``input:select(d, i)`` for every i (``nn.SplitTable``)."""

    def __init__(self, dim: int, n_input_dims: int | None) -> None:
        super().__init__()
        self.dim, self.n_input_dims = dim, n_input_dims

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        d = self.dim
        if d < 0:
            d = x.dim() + d + 1
        elif self.n_input_dims is not None and x.dim() == self.n_input_dims + 1:
            d += 1
        return list(torch.unbind(x, d - 1))


class CMulTable(nn.Module):
    """The element-wise product of a list of tensors."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class CSubTable(nn.Module):
    """``input[1] - input[2]``."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return xs[0] - xs[1]


class OneHot(nn.Module):
    """char-rnn's OneHot: N indices (1-based) -> N x size."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        return F.one_hot(x.reshape(-1).long() - 1, self.size).to(dtype)


class LookupTable(nn.Module):
    """Rows of ``weight`` for 1-based indices of any shape (``nn.LookupTable``)."""

    def __init__(self, n_index: int, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_index, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(x.long() - 1, self.weight)


@builds("SplitTable")
def build_split(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    return SplitTable(a["dim"], a.get("n_input_dims"))


@builds("CMulTable")
def build_cmul(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    return CMulTable()


@builds("CSubTable")
def build_csub(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    return CSubTable()


@builds("OneHot")
def build_one_hot(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    return OneHot(a["size"])


@builds("LookupTable")
def build_lookup(a: dict[str, Any], children: list[nn.Module]) -> nn.Module:
    return LookupTable(a["n_index"], a["size"])
