"""``nn.View`` and ``nn.Reshape``: reshapes that infer Torch7's batch dimension from the element count.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.pytorch.families import builds_module


class View(nn.Module):
    """``nn.View(sizes):setNumInputDims(n)``: a reshape that infers Torch7's batch dimension."""

    def __init__(self, sizes: list[int], num_input_dims: int | None = None) -> None:
        super().__init__()
        self.sizes, self.num_input_dims = list(sizes), num_input_dims
        self.num_elements = math.prod(s for s in sizes if s >= 0)

    def forward(self, x):
        nd = x.dim()
        maxdim = self.num_input_dims if self.num_input_dims is not None else nd
        inner = math.prod(x.shape[nd - maxdim:]) if maxdim > 0 else 1
        if self.num_elements == 0:
            raise T7ConvertError(f"nn.View: input {tuple(x.shape)} does not match the view {self.sizes}")
        def why() -> str:
            return f"nn.View: input {tuple(x.shape)} does not match the view {self.sizes}"
        torch._check_with(T7ConvertError, inner % self.num_elements == 0, why)  # a runtime assertion when traced
        batch = 1 if -1 in self.sizes else inner // self.num_elements
        batch *= math.prod(x.shape[: nd - maxdim]) if nd - maxdim > 0 else 1
        # the rank test first: only where the input may lack a batch does its size decide (a traced program
        # then holds for every batch size)
        if (self.num_input_dims is None or nd <= self.num_input_dims) and batch == 1:
            return x.reshape(self.sizes)
        return x.reshape([batch, *self.sizes])

    def extra_repr(self) -> str:
        return f"{self.sizes}, numInputDims={self.num_input_dims}"


class Reshape(nn.Module):
    """``nn.Reshape``: like View, with Torch7's rule for when the first dimension is a batch."""

    def __init__(self, sizes: list[int], batch_mode: bool | None = None) -> None:
        super().__init__()
        self.sizes, self.batch_mode = list(sizes), batch_mode
        self.nelement = math.prod(sizes)

    def forward(self, x):
        x = x.contiguous()
        if self.batch_mode is False or (self.batch_mode is None and x.numel() == self.nelement and x.shape[0] != 1):
            return x.reshape(self.sizes)
        return x.reshape([x.shape[0], *self.sizes])


builds_module("View", View)
builds_module("Reshape", Reshape)
