"""Table containers and table ops: Parallel, ParallelTable, MapTable, DepthConcat, Bottle, dpnn's
Inception; SplitTable, SelectTable, NarrowTable, FlattenTable, MixtureTable, ZipTable(OneToMany), the
element-wise CSub/CMul/CDiv/CMax/CMinTable, dpnn's CAddTensorTable, Index, MaskedSelect, OneHot (nn's
and char-rnn's global ``OneHot``).

In the stored DAG (:mod:`t7convert.conversion.dag`) the containers' children are nodes of their own
(stages for parity): Parallel selects slice i for child i and joins (``Select`` ... ``CatTable``),
(``ParallelJoin`` also checks that the input has one slice per child:
Torch7 runs as many children as there are slices, and fails on a slice without a child; fewer slices
than children fail here at the ``Select`` of a missing slice, where Torch7 would join fewer outputs),
ParallelTable gives child i element ``[x, i]`` and makes a ``Table``, DepthConcat joins with
``DepthCatTable``, Bottle and Inception wrap their child between a node that folds the input's leading
dimensions (``BottleIn``, ``ToBatch``) and one that unfolds the child's output (``BottleOut``,
``FromBatch``, which read the container's input too). MapTable stays one module (``MapTable``
holding its single child): it applies that module to however many elements the table has, as
MapTable.lua's clones sharing one set of weights do. Table ops are plain nodes taking and giving lists.
Dimensions stay Torch7's, 1-based, resolved per input by the torch modules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from t7convert.conversion.dag import Lowering, Ref, lowers
from t7convert.conversion.families.containers import VECTOR_SAMPLE, first_child_input, sample_rank
from t7convert.conversion.families.tensor_ops import SelectRecord
from t7convert.conversion.fields import constructor_call, integer, optional_integer
from t7convert.conversion.records import record
from t7convert.conversion.registry import converts, describes, expects_input, expects_input_of_children
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

_VECTOR = VECTOR_SAMPLE  # the sample a table element gets when nothing tells its size (containers.py)


def _children(m: T7Object, ctx) -> list[Node]:
    return [ctx.child(c, i) for i, c in enumerate(m.children, 1)]


def _positive(m: T7Object, ctx, name: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ctx.fail(m, f"{name} {value} must be positive")
    return value


# --- containers ------------------------------------------------------------------------------------
@converts("nn.Parallel")
def parallel(m: T7Object, ctx) -> Node:
    """Parallel.lua: child i runs on ``input:select(inputDimension, i)``; the outputs are joined along
    ``outputDimension`` (both absolute, batch included)."""
    in_dim = _positive(m, ctx, "inputDimension", integer(m, ctx, "inputDimension"))
    out_dim = _positive(m, ctx, "outputDimension", integer(m, ctx, "outputDimension"))
    return Node("Parallel", {"in_dim": in_dim, "out_dim": out_dim}, children=_children(m, ctx))


@converts("nn.ParallelTable")
def parallel_table(m: T7Object, ctx) -> Node:
    return Node("ParallelTable", children=_children(m, ctx))


@converts("nn.MapTable")
def map_table(m: T7Object, ctx) -> Node:
    """The clones in ``modules`` share ``module``'s weights: the one module is the model."""
    module = m.get("module")
    if not isinstance(module, T7Object):
        kids = m.children
        if not kids:
            raise ctx.fail(m, "has no module")
        module = kids[0]
    return Node("MapTable", children=[ctx.child(module, 1)])


@converts("nn.DepthConcat")
def depth_concat(m: T7Object, ctx) -> Node:
    dim = _positive(m, ctx, "dimension", integer(m, ctx, "dimension"))
    return Node("DepthConcat", {"dim": dim}, children=_children(m, ctx))


@converts("nn.Bottle")
def bottle(m: T7Object, ctx) -> Node:
    """Bottle.lua: inputs of more than ``nInputDim`` dimensions have their leading ones folded into
    the first, the module runs, and its ``nOutputDim``-dimensional output is unfolded."""
    n_in = _positive(m, ctx, "nInputDim", integer(m, ctx, "nInputDim", default=2))
    n_out = _positive(m, ctx, "nOutputDim", integer(m, ctx, "nOutputDim", default=n_in))
    kids = m.children
    if not kids:
        raise ctx.fail(m, "has no module")
    return Node("Bottle", {"n_input_dim": n_in, "n_output_dim": n_out}, children=[ctx.child(kids[0], 1)])


@converts("nn.Inception")
def inception(m: T7Object, ctx) -> Node:
    """dpnn Inception: a Decorator around its DepthConcat(2) (``modules[1]``; the ``transfer`` and
    ``pool`` fields are templates or the same objects as in the graph). A 3-D input is run as a batch
    of one and ``fromBatch(output, 3)`` then removes dimension 3, as dpnn does."""
    kids = m.children
    if not kids:
        raise ctx.fail(m, "has no DepthConcat")
    return Node("Inception", children=[ctx.child(kids[0], 1)])


@lowers("Parallel")
def _lower_parallel(g: Lowering, node: Node, x: Ref) -> Ref:
    outs = []
    for i, child in enumerate(node.children, 1):
        part = g.add(Node("Select", SelectRecord(dim=node.attrs["in_dim"], index=i), source=node.source), [x])
        outs.append(g.lower(child, part))
    join = {"dim": node.attrs["out_dim"], "in_dim": node.attrs["in_dim"], "n": len(node.children)}
    return g.add(Node("ParallelJoin", join, source=node.source), [g.table(outs, node.source), x])


@lowers("ParallelTable")
def _lower_parallel_table(g: Lowering, node: Node, x: Ref) -> Ref:
    return g.table([g.lower(child, [x[0], i] if len(x) == 1 else _item(g, x, i))
                    for i, child in enumerate(node.children)], node.source)


def _item(g: Lowering, x: Ref, i: int) -> Ref:
    """Element ``i`` of a value that is itself an element of a table (a nested table)."""
    return g.add(Node("SelectTable", SelectTableRecord(index=i + 1)), [x])


@lowers("DepthConcat")
def _lower_depth_concat(g: Lowering, node: Node, x: Ref) -> Ref:
    parts = g.table([g.lower(child, x) for child in node.children], node.source)
    return g.add(Node("DepthCatTable", DepthCatTableRecord(dim=node.attrs["dim"]), source=node.source), [parts])


@lowers("Bottle")
def _lower_bottle(g: Lowering, node: Node, x: Ref) -> Ref:
    folded = g.add(Node("BottleIn", BottleInRecord(n_input_dim=node.attrs["n_input_dim"]), source=node.source), [x])
    y = g.lower(node.children[0], folded)
    return g.add(Node("BottleOut", dict(node.attrs), source=node.source), [y, x])


@lowers("Inception")
def _lower_inception(g: Lowering, node: Node, x: Ref) -> Ref:
    batch = g.add(Node("ToBatch", ToBatchRecord(n_dim=3), source=node.source), [x])
    y = g.lower(node.children[0], batch)
    return g.add(Node("FromBatch", FromBatchRecord(n_dim=3, batch_dim=3), source=node.source), [y, x])


# --- table ops -------------------------------------------------------------------------------------
@converts("nn.SplitTable")
def split_table(m: T7Object, ctx) -> Node:
    """The slices along ``dimension`` (negative: from the end; shifted by one for a batch when the input
    has ``nInputDims + 1`` dimensions)."""
    return Node("SplitTable", SplitTableRecord(dim=integer(m, ctx, "dimension"), n_input_dims=optional_integer(m, ctx, "nInputDims")))


@converts("nn.SelectTable")
def select_table(m: T7Object, ctx) -> Node:
    index = m.get("index")
    if not isinstance(index, (int, float)) or isinstance(index, bool) or not math.isfinite(index) \
            or int(index) != index or index == 0 or abs(index) > 1 << 24:
        raise ctx.fail(m, f"index {ascii(index)[:40]} is not a non-zero whole number (at most 2^24 in size)")
    return Node("SelectTable", SelectTableRecord(index=int(index)))


@converts("nn.NarrowTable")
def narrow_table(m: T7Object, ctx) -> Node:
    offset = _positive(m, ctx, "offset", integer(m, ctx, "offset"))
    length = _positive(m, ctx, "length", integer(m, ctx, "length", default=1))
    return Node("NarrowTable", NarrowTableRecord(offset=offset, length=length))


@converts("nn.FlattenTable")
def flatten_table(m: T7Object, ctx) -> Node:
    return Node("FlattenTable")


@converts("nn.MixtureTable")
def mixture_table(m: T7Object, ctx) -> Node:
    """MixtureTable.lua: ``{gater, experts}`` -> the gate-weighted sum of the experts; ``dim`` (nil: 2,
    1 for an unbatched gater) is the experts' dimension when they are one tensor."""
    return Node("MixtureTable", MixtureTableRecord(dim=_positive(m, ctx, "dim", integer(m, ctx, "dim", default=None))))


@converts("nn.ZipTable")
def zip_table(m: T7Object, ctx) -> Node:
    return Node("ZipTable")


@converts("nn.ZipTableOneToMany")
def zip_table_one_to_many(m: T7Object, ctx) -> Node:
    return Node("ZipTableOneToMany")


_ELEMENTWISE = {"nn.CSubTable": "sub", "nn.CMulTable": "mul", "nn.CDivTable": "div", "nn.CMaxTable": "max",
                "nn.CMinTable": "min"}


@converts(*_ELEMENTWISE)
def elementwise_table(m: T7Object, ctx) -> Node:
    """CSub/CDiv use elements 1 and 2; CMul, CMax and CMin fold all elements into a copy of the first
    (CMax/CMin replace where the next element is greater/smaller: a NaN never replaces)."""
    return Node("ElementwiseTable", ElementwiseTableRecord(fn=_ELEMENTWISE[m.class_name]))


@converts("nn.CAddTensorTable")
def cadd_tensor_table(m: T7Object, ctx) -> Node:
    return Node("CAddTensorTable")


@converts("nn.Index")
def index(m: T7Object, ctx) -> Node:
    """``{tensor, LongTensor}`` -> ``tensor:index(dimension, indices)``."""
    return Node("Index", IndexRecord(dim=_positive(m, ctx, "dimension", integer(m, ctx, "dimension"))))


@converts("nn.MaskedSelect")
def masked_select(m: T7Object, ctx) -> Node:
    return Node("MaskedSelect")


@converts("nn.OneHot", "OneHot")
def one_hot(m: T7Object, ctx) -> Node:
    """nn.OneHot: the input's size plus ``outputSize``; char-rnn's OneHot (util/OneHot.lua): rows of the
    identity for a vector of indices. Both put a 1 at the 1-based index."""
    n = _positive(m, ctx, "outputSize", integer(m, ctx, "outputSize"))
    return Node("OneHot", OneHotRecord(n=n, vector_only=m.class_name == "OneHot"))


# --- the input a model starting with these expects -------------------------------------------------
@expects_input_of_children("DepthConcat", "Inception")
def _branches_input(attrs: dict, children: list[Node], hint: Callable[[Node], Any]) -> Any:
    """Their branches all take the same input, as a Concat's do: the first that declares it."""
    return first_child_input(attrs, children, hint)


def _element(h: Any) -> Any:
    """A table element's spec from its consumer's hint: a sample shape, or planes of images whose sides
    are left free (the input finder searches them: t7convert.pytorch.input_shape)."""
    if isinstance(h, int):
        return (h, None, None)
    return _VECTOR if h is None else h


@expects_input_of_children("ParallelTable")
def _parallel_table_input(attrs: dict, children: list[Node], hint: Callable[[Node], Any]) -> Any:
    return [_element(hint(c)) for c in children]


@expects_input_of_children("MapTable")
def _map_table_input(attrs: dict, children: list[Node], hint: Callable[[Node], Any]) -> Any:
    return [_element(hint(children[0]))] * 2


@expects_input_of_children("Parallel")
def _parallel_input(attrs: dict, children: list[Node], hint: Callable[[Node], Any]) -> Any:
    """A child's sample (batch first) with the children's dimension put back at ``in_dim``."""
    h = hint(children[0]) if children else None
    if not isinstance(h, tuple) or not 2 <= attrs["in_dim"] <= len(h) + 2:
        return None
    sample = list(h)
    sample.insert(attrs["in_dim"] - 2, len(children))
    return tuple(sample)


@expects_input_of_children("Bottle")
def _bottle_input(attrs: dict, children: list[Node], hint: Callable[[Node], Any]) -> Any:
    h = hint(children[0]) if children else None
    return (3, *h) if isinstance(h, tuple) and len(h) + 1 == attrs["n_input_dim"] else None


@expects_input("SplitTable")
def _split_input(attrs: dict) -> Any:
    return (3,) * sample_rank(attrs["dim"], attrs.get("n_input_dims"))


@expects_input("ElementwiseTable")
def _pair_input(attrs: dict) -> Any:
    return [_VECTOR, _VECTOR]


@expects_input("SelectTable")
def _select_input(attrs: dict) -> Any:
    return [_VECTOR] * max(abs(attrs["index"]), 2)


@expects_input("NarrowTable")
def _narrow_input(attrs: dict) -> Any:
    return [_VECTOR] * (attrs["offset"] + attrs["length"] - 1)


@expects_input("FlattenTable")
def _flatten_input(attrs: dict) -> Any:
    return [_VECTOR, [_VECTOR, [_VECTOR]], _VECTOR]


@expects_input("MixtureTable")
def _mixture_input(attrs: dict) -> Any:
    return [(3,), [_VECTOR] * 3] if attrs.get("dim") in (None, 2) else None


@expects_input("ZipTable")
def _zip_input(attrs: dict) -> Any:
    return [[_VECTOR, _VECTOR], [_VECTOR, _VECTOR]]


@expects_input("ZipTableOneToMany", "CAddTensorTable")
def _one_to_many_input(attrs: dict) -> Any:
    return [_VECTOR, [_VECTOR, _VECTOR, _VECTOR]]


@expects_input("Index")
def _index_input(attrs: dict) -> Any:
    """No batch: the indices (1-based, a LongTensor) pick along ``dim`` of a 5x5... tensor."""
    return [{"shape": [5] * max(attrs["dim"], 2), "batch": False},
            {"shape": [4], "dtype": "int64", "low": 1, "high": 5, "batch": False}]


@expects_input("MaskedSelect")
def _masked_select_input(attrs: dict) -> Any:
    return [(5,), {"shape": [5], "dtype": "uint8", "low": 0, "high": 1}]


@expects_input("OneHot")
def _one_hot_input(attrs: dict) -> Any:
    return {"shape": [], "dtype": "int64", "low": 1, "high": attrs["n"]}


@describes("nn.Parallel")
def _describe_parallel(m: T7Object) -> str:
    return f"{m.class_name}({m.get('inputDimension')}, {m.get('outputDimension')})"


@describes("nn.DepthConcat", "nn.SplitTable", "nn.Index")
def _describe_dimension(m: T7Object) -> str:
    return f"{m.class_name}({m.get('dimension')})"


@describes("nn.SelectTable")
def _describe_select(m: T7Object) -> str:
    return f"{m.class_name}({m.get('index')})"


@describes("nn.NarrowTable")
def _describe_narrow(m: T7Object) -> str:
    return f"{m.class_name}({m.get('offset')}, {m.get('length', 1)})"


@describes("nn.OneHot", "OneHot")
def _describe_one_hot(m: T7Object) -> str:
    return f"{m.class_name}({m.get('outputSize')})"


@lowers("MapTable")
def _lower_map_table(g: Lowering, node: Node, x: Ref) -> Ref:
    return g.add_whole(node, [x])


# --- how inspect prints them: the constructor's arguments, as the fields hold them ---------------------

@describes("nn.MixtureTable")
def _describe_mixturetable(m: T7Object) -> str:
    return constructor_call(m, 'dim')


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("ParallelTable")
@dataclass(frozen=True)
class ParallelTableRecord:
    """A ParallelTable node stores no attributes (child i runs on element i). A graph lowers it to
    its children; it is stored as a node only inside a recurrent step module, which runs as a tree."""


@record("BottleIn")
@dataclass(frozen=True)
class BottleInRecord:
    """What a BottleIn node stores."""

    n_input_dim: int


@record("BottleOut")
@dataclass(frozen=True)
class BottleOutRecord:
    """What a BottleOut node stores."""

    n_input_dim: int
    n_output_dim: int


@record("CAddTensorTable")
@dataclass(frozen=True)
class CAddTensorTableRecord:
    """A CAddTensorTable node stores no attributes."""


@record("DepthCatTable")
@dataclass(frozen=True)
class DepthCatTableRecord:
    """What a DepthCatTable node stores."""

    dim: int


@record("ElementwiseTable")
@dataclass(frozen=True)
class ElementwiseTableRecord:
    """What a ElementwiseTable node stores."""

    fn: str


@record("FlattenTable")
@dataclass(frozen=True)
class FlattenTableRecord:
    """A FlattenTable node stores no attributes."""


@record("FromBatch")
@dataclass(frozen=True)
class FromBatchRecord:
    """What a FromBatch node stores."""

    batch_dim: int
    n_dim: int


@record("Index")
@dataclass(frozen=True)
class IndexRecord:
    """What a Index node stores."""

    dim: int


@record("MapTable")
@dataclass(frozen=True)
class MapTableRecord:
    """A MapTable node stores no attributes."""


@record("MaskedSelect")
@dataclass(frozen=True)
class MaskedSelectRecord:
    """A MaskedSelect node stores no attributes."""


@record("MixtureTable")
@dataclass(frozen=True)
class MixtureTableRecord:
    """What a MixtureTable node stores."""

    dim: int | None = None


@record("NarrowTable")
@dataclass(frozen=True)
class NarrowTableRecord:
    """What a NarrowTable node stores."""

    length: int
    offset: int


@record("OneHot")
@dataclass(frozen=True)
class OneHotRecord:
    """What a OneHot node stores."""

    n: int
    vector_only: bool = False


@record("ParallelJoin")
@dataclass(frozen=True)
class ParallelJoinRecord:
    """What a ParallelJoin node stores."""

    dim: int
    in_dim: int
    n: int


@record("SelectTable")
@dataclass(frozen=True)
class SelectTableRecord:
    """What a SelectTable node stores."""

    index: int


@record("SplitTable")
@dataclass(frozen=True)
class SplitTableRecord:
    """What a SplitTable node stores."""

    dim: int
    n_input_dims: int | None = None


@record("ToBatch")
@dataclass(frozen=True)
class ToBatchRecord:
    """What a ToBatch node stores."""

    n_dim: int


@record("ZipTable")
@dataclass(frozen=True)
class ZipTableRecord:
    """A ZipTable node stores no attributes."""


@record("ZipTableOneToMany")
@dataclass(frozen=True)
class ZipTableOneToManyRecord:
    """A ZipTableOneToMany node stores no attributes."""
