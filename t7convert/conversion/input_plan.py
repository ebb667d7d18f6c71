"""Which input a converted model is meant for, read from its layers (no trial runs, no torch).

Each layer family declares what it knows (``t7convert.conversion.registry``): ``@expects_input`` (the
op met first tells the input: a Linear's or a fixed View's feature vector, a TemporalConvolution's frame
size, a convolution's planes), ``@downsamples`` (how much an op shrinks height and width: a strided
convolution or pooling), ``@fixes_extent`` (an op that expects a fixed spatial extent at its input: the
final average pooling of a trunk). Walking the stored DAG in its order then gives the first layer and
the size the final pooling implies (its kernel times the strides before it: 224 for ImageNet ResNets,
32 for CIFAR ones), whatever containers hold them.
"""
from __future__ import annotations

from typing import Any

from t7convert.conversion.dag import TABLE_OP
from t7convert.conversion.registry import extent_fixed, input_hint, shrink


def first_layer(dag: dict[str, Any]) -> dict[str, Any] | None:
    """The first layer node the input meets (the lowering keeps Torch7's order: first child first)."""
    for node in dag["nodes"]:
        if node["op"] != TABLE_OP:
            return node
    return None


def declared_input(dag: dict[str, Any]) -> tuple[int, ...] | int | None:
    """What the first layer declares: a whole per-sample shape, a number of planes, or None."""
    node = first_layer(dag)
    return None if node is None else input_hint(node["op"], node.get("attrs", {}))


def planned_size(dag: dict[str, Any]) -> tuple[int, int] | None:
    """The (H, W) the last extent-fixing op implies, through the downsampling of everything before it
    along each value's first input."""
    strides: dict[str, tuple[int, int]] = {"input": (1, 1)}
    planned = None
    for node in dag["nodes"]:
        args = node["args"]
        before = strides.get(args[0][0], (1, 1)) if args else (1, 1)
        attrs = node.get("attrs", {})
        if node["op"] != TABLE_OP:
            extent = extent_fixed(node["op"], attrs)
            if extent is not None:
                planned = (extent[0] * before[0], extent[1] * before[1])
            sh, sw = shrink(node["op"], attrs)
            before = (before[0] * sh, before[1] * sw)
        strides[node["name"]] = before
    return planned
