"""Which input a converted model is meant for, when the user does not say (verification, parity)."""
from __future__ import annotations

import time

import torch

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.model import ConvertedModel
from t7convert.conversion.registry import input_hint
from t7convert.conversion.tree import Node
from t7convert.pytorch.graph_module import build_graph_module


def default_input_shape(converted: ConvertedModel) -> tuple[int, ...]:
    """An input shape (without batch) the model is meant for: 3x224x224 for ImageNet trunks, 3x32x32 for
    CIFAR, what the first layer declares (:func:`t7convert.conversion.registry.expects_input`: a
    Linear's or a fixed View's feature vector, a convolution's planes), the size its final average
    pooling implies (its kernel times the strides before it), else the first size (common ones first,
    then small ones) that a shape-only run on the meta device maps to one output per input."""
    if converted.spec is not None:
        return (3, 224, 224) if converted.spec.stem == "imagenet" else (3, 32, 32)
    assert converted.graph is not None
    first = _first_layer(converted.graph)
    hint = input_hint(first.op, first.attrs) if first is not None else None
    if isinstance(hint, tuple):
        return hint
    channels = hint if isinstance(hint, int) else 3
    with torch.device("meta"):
        module = build_graph_module(converted.dag).eval()

    def accepts(h: int, w: int) -> bool:
        try:
            with torch.no_grad():
                out = module(torch.empty(2, channels, h, w, device="meta"))
        except Exception:  # noqa: BLE001 - a shape this graph rejects
            return False
        while isinstance(out, list) and out:  # a table of outputs (SplitTable): its first tensor
            out = out[0]
        # nn.View infers a batch from the element count: a wrong size can pass as more samples
        return isinstance(out, torch.Tensor) and out.dim() >= 1 and out.shape[0] == 2

    planned = _planned_size(converted.graph)
    common = [224, 32, 28, 64, 96, 128, 256, 299, 227, 112, 48, 16]
    candidates = ([planned] if planned else []) + [(s, s) for s in common]
    candidates += [(h, t - h) for t in range(2, 65) for h in range(1, t)]
    deadline = time.monotonic() + 15.0  # shape-only runs, but a large graph takes a while each
    for h, w in candidates:
        if accepts(h, w):
            return (channels, h, w)
        if time.monotonic() > deadline:
            break
    raise T7ConvertError("could not find an input size this model accepts; give one with --input-size C,H,W")


def _planned_size(graph: Node) -> tuple[int, int] | None:
    """The input size a trunk's last top-level average pooling implies: its kernel times the strides
    of everything before it (224 for ImageNet ResNets, 32 for CIFAR ones)."""
    if graph.op != "Sequential":
        return None
    sh = sw = 1
    found = None
    for child in graph.children:
        if child.op == "Pool2d" and child.attrs["kind"] == "avg":
            found = (child.attrs["kernel"][0] * sh, child.attrs["kernel"][1] * sw)
        h, w = _strides(child)
        sh, sw = sh * h, sw * w
    return found


def _strides(node: Node) -> tuple[int, int]:
    """How much a module shrinks height and width (along the first branch of tables)."""
    if node.op in ("Conv2d", "Pool2d"):
        return tuple(node.attrs["stride"])  # type: ignore[return-value]
    if node.op in ("ConcatTable", "Concat"):
        return _strides(node.children[0]) if node.children else (1, 1)
    sh = sw = 1
    for child in node.children:
        h, w = _strides(child)
        sh, sw = sh * h, sw * w
    return sh, sw


def _first_layer(node: Node) -> Node | None:
    """The first module the input meets (through Sequentials and the first branch of tables)."""
    while node.op in ("Sequential", "ConcatTable", "Concat"):
        if not node.children:
            return None
        node = node.children[0]
    return node

