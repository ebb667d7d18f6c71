"""Containers: Sequential, ConcatTable, CAddTable, Concat, JoinTable; DataParallelTable is unwrapped.

Concat's dimension is absolute (1-based, batch included); JoinTable's is shifted by one when the inputs
have ``nInputDims + 1`` dimensions, and counted from the end when negative (JoinTable's own rule).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from t7convert.conversion.fields import integer, optional_integer
from t7convert.conversion.records import record
from t7convert.conversion.registry import converts, describes, expects_input, expects_input_of_children
from t7convert.conversion.tree import Node
from t7convert.torch7.checkpoint import DATA_PARALLEL
from t7convert.torch7.format import T7Object


def _children(m: T7Object, ctx) -> list[Node]:
    return [ctx.child(c, i) for i, c in enumerate(m.children, 1)]


@converts("nn.Sequential")
def sequential(m: T7Object, ctx) -> Node:
    return Node("Sequential", children=_children(m, ctx))


@converts("nn.ConcatTable")
def concat_table(m: T7Object, ctx) -> Node:
    return Node("ConcatTable", children=_children(m, ctx))


@converts("nn.CAddTable")
def cadd_table(m: T7Object, ctx) -> Node:
    return Node("CAddTable")


@converts("nn.Concat")
def concat(m: T7Object, ctx) -> Node:
    return Node("Concat", ConcatRecord(dim=integer(m, ctx, "dimension")), children=_children(m, ctx))


@converts("nn.JoinTable")
def join_table(m: T7Object, ctx) -> Node:
    return Node("JoinTable", JoinTableRecord(dim=integer(m, ctx, "dimension"), n_input_dims=optional_integer(m, ctx, "nInputDims")))


@converts(*DATA_PARALLEL)
def data_parallel(m: T7Object, ctx) -> Node:
    """Every replica holds the same weights; the first one is the model."""
    kids = m.children
    if not kids:
        raise ctx.fail(m, "has no replica")
    ctx.note(f"{m.class_name} unwrapped to its first replica")
    return ctx.child(kids[0], 1)


@describes("nn.JoinTable", "nn.Concat")
def _describe(m: T7Object) -> str:
    return f"{m.class_name}({m.get('dimension')})"


# --- the input a model starting with these expects -------------------------------------------------
VECTOR_SAMPLE = (4,)  # the sample a table element gets when nothing tells its size


@expects_input_of_children("Sequential", "ConcatTable", "Concat")
def first_child_input(attrs: dict, children: list[Node], hint: Callable[[Node], Any]) -> Any:
    """A Sequential's first child that declares its input (the ones before, pointwise or padding layers
    that declare nothing, mostly pass it on; the input finder checks it); the branches of a Concat or
    ConcatTable all take the same input: the first that declares it."""
    for child in children:
        h = hint(child)
        if h is not None:
            return h
    return None


def sample_rank(dim: int, n_input_dims: int | None) -> int:
    """A sample rank a (dim, nInputDims) op accepts: nInputDims, else enough for an absolute dim."""
    if n_input_dims is not None:
        return max(n_input_dims, 1)
    return max(dim - 1, 1) if dim > 0 else 1


@expects_input("JoinTable")
def _join_input(attrs: dict) -> Any:
    return [(3,) * sample_rank(attrs["dim"], attrs.get("n_input_dims"))] * 2


@expects_input("CAddTable")
def _cadd_input(attrs: dict) -> Any:
    return [VECTOR_SAMPLE, VECTOR_SAMPLE]


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("CAddTable")
@dataclass(frozen=True)
class CAddTableRecord:
    """A CAddTable node stores no attributes."""


@record("CatTable")
@dataclass(frozen=True)
class CatTableRecord:
    """What a CatTable node stores."""

    dim: int


@record("Concat")
@dataclass(frozen=True)
class ConcatRecord:
    """What a Concat node stores."""

    dim: int


@record("ConcatTable")
@dataclass(frozen=True)
class ConcatTableRecord:
    """A ConcatTable node stores no attributes."""


@record("JoinTable")
@dataclass(frozen=True)
class JoinTableRecord:
    """What a JoinTable node stores."""

    dim: int
    n_input_dims: int | None = None


@record("Sequential")
@dataclass(frozen=True)
class SequentialRecord:
    """A Sequential node stores no attributes."""
