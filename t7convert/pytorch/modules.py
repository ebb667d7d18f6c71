"""Building torch modules from converted nodes: the op's builder from its layer family
(:mod:`t7convert.pytorch.families`, all discovered here), given the op's record
(:mod:`t7convert.conversion.records`), with children built first.

Where PyTorch has the exact equivalent (convolution, batch norm, linear, ReLU) the builders use it; the
families' own modules cover what differs (tables, ``nn.View``'s batch inference, pooling sizes...).
"""
from __future__ import annotations

from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.common.registry import broken_plugins, discover
from t7convert.conversion.records import declared, make
from t7convert.conversion.tree import Node
from t7convert.pytorch import families
from t7convert.pytorch.families import BUILDERS, builds

discover(families)

__all__ = ["build", "builds", "BUILDERS"]


def build(node: Node, where: str = "graph") -> nn.Module:
    """The torch module of a node tree, with freshly initialised tensors (load a state_dict into it).
    A node whose attributes do not fit its op (a damaged description) is named by its place."""
    builder = BUILDERS.get(node.op)
    if builder is None:
        raise T7ConvertError(f"unknown op {node.op[:60]!r} at {where} of the converted architecture"
                             + broken_plugins(BUILDERS.plugins))
    children = [build(c, f"{where}.children[{i}]") for i, c in enumerate(node.children)]
    # the op's record (validated with the description; converters' nodes are valid by construction), or
    # the attributes themselves for a plugin's op that declares no record
    attrs = make(node.op, node.attrs) if declared(node.op) is not None else node.attrs
    try:
        module = builder(attrs, children)
    except (ValueError, RuntimeError) as e:  # torch's own checks of the values (a KeyError is our bug)
        raise T7ConvertError(f"{where} ({node.op}) of the converted architecture has attributes torch refuses "
                             f"({str(e)[:120]})") from None
    module.t7_source = node.source  # the Torch7 path whose output this module's output equals
    return module
