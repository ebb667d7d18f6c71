"""What the layers' declarations imply of a converted model's input (no trial runs, no torch).

Each layer family declares what it knows (``t7convert.conversion.registry``): ``@expects_input`` (what
the op takes: a Linear's or a fixed View's feature vector, a TemporalConvolution's frames, a
convolution's planes), ``@downsamples`` (how much an op shrinks height and width: a strided
convolution or pooling), ``@fixes_extent`` (an op that expects a fixed spatial extent at its input: the
final average pooling of a trunk). Walking the stored DAG in its order gives the size the final pooling
implies (its kernel times the strides before it: 224 for ImageNet ResNets, 32 for CIFAR ones), whatever
containers hold them; :mod:`t7convert.pytorch.input_shape` puts the declarations together.
"""
from __future__ import annotations

from typing import Any

from t7convert.conversion.dag import TABLE_OP
from t7convert.conversion.registry import extent_fixed, shrink


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
