"""Torch7's containers and table joins as torch modules: ConcatTable returns a list, CAddTable sums one,
JoinTable and Concat count dimensions from 1 and shift by a batch dimension (``nInputDims``).
"""
from __future__ import annotations

import torch
from torch import nn

from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module


class ConcatTable(nn.Module):
    """Applies every child to the same input; returns the list of outputs (Torch7's ``nn.ConcatTable``)."""

    def __init__(self, modules: list[nn.Module]) -> None:
        super().__init__()
        for i, m in enumerate(modules):  # named 0, 1... like nn.Sequential, so state_dict keys match nodes
            self.add_module(str(i), m)

    def forward(self, x):
        return [m(x) for m in self.children()]

    def _get_name(self) -> str:
        return "ConcatTable"


class CAddTable(nn.Module):
    """Sums a list of tensors (``nn.CAddTable``)."""

    def forward(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


def _join_dim(dim: int, n_input_dims: int | None, first: torch.Tensor) -> int:
    """Torch7's 1-based join dimension -> 0-based, as JoinTable:_getPositiveDimension does."""
    if dim < 0:
        return first.dim() + dim
    if n_input_dims is not None and first.dim() == n_input_dims + 1:
        dim += 1
    return dim - 1


class JoinTable(nn.Module):
    """Concatenates a list of tensors along Torch7's ``dimension`` (``nn.JoinTable``)."""

    def __init__(self, dim: int, n_input_dims: int | None = None) -> None:
        super().__init__()
        self.dim, self.n_input_dims = dim, n_input_dims

    def forward(self, xs):
        return torch.cat(list(xs), _join_dim(self.dim, self.n_input_dims, xs[0]))

    def extra_repr(self) -> str:
        return f"dimension={self.dim}, nInputDims={self.n_input_dims}"


class Concat(nn.Module):
    """Applies every child to the input and concatenates along the absolute 1-based ``dim`` (``nn.Concat``)."""

    def __init__(self, dim: int, modules: list[nn.Module]) -> None:
        super().__init__()
        self.dim = dim
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def forward(self, x):
        return torch.cat([m(x) for m in self.children()], self.dim - 1)

    def extra_repr(self) -> str:
        return f"dimension={self.dim}"


class CatTable(nn.Module):
    """Concatenates a table of tensors along Torch7's absolute 1-based ``dim`` (the join of ``nn.Concat``,
    whose branches the DAG runs as nodes of their own)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, xs):
        return torch.cat(list(xs), self.dim - 1)

    def extra_repr(self) -> str:
        return f"dimension={self.dim}"


@builds("Sequential")
def build_sequential(a: Record, children: list[nn.Module]) -> nn.Module:
    return nn.Sequential(*children)


@builds("ConcatTable")
def build_concat_table(a: Record, children: list[nn.Module]) -> nn.Module:
    return ConcatTable(children)


builds_module("CAddTable", CAddTable)
builds_module("JoinTable", JoinTable)
builds_module("CatTable", CatTable)


@builds("Concat")
def build_concat(a: Record, children: list[nn.Module]) -> nn.Module:
    return Concat(a.dim, children)
