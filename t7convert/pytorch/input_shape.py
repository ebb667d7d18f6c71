"""Which input a converted model is meant for, when the user does not say (verification, parity)."""
from __future__ import annotations

import time
from typing import Any, Iterator

import torch

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.input_plan import declared_input, planned_size
from t7convert.conversion.model import ConvertedModel
from t7convert.conversion.registry import node_input_hint


class Unbatched(tuple):
    """A per-sample input shape for a model that takes one sample only (no batch dimension in front):
    Torch7's SpatialFullConvolutionMap and TemporalSubSampling accept nothing else."""


def default_input_shape(converted: ConvertedModel) -> Any:
    """An input shape (without batch) the model is meant for: 3x224x224 for ImageNet trunks, 3x32x32 for
    CIFAR, what the layers declare (the first op's feature vector or planes, through the containers
    around it: :func:`t7convert.conversion.registry.node_input_hint`; the size a final average pooling
    implies: :mod:`t7convert.conversion.input_plan`), checked by a shape-only run on the meta device;
    only when the layers leave the size open, the first common or small size that such a run maps to
    one output per input. A model that takes one sample only gets an :class:`Unbatched` shape, one that
    takes a Lua table the table spec its first op declares (a list)."""
    if converted.spec is not None:
        return (3, 224, 224) if converted.spec.stem == "imagenet" else (3, 32, 32)
    assert converted.graph is not None and converted.dag is not None
    dag = converted.dag
    hint = node_input_hint(converted.graph)
    if hint is None:  # the root's containers say nothing (an nngraph gModule): the first layer the input meets
        hint = declared_input(dag)
    if isinstance(hint, (list, dict)) or isinstance(hint, tuple) and None not in hint:
        return hint
    from t7convert.pytorch.graph_module import build_graph_module

    with torch.device("meta"):
        module = build_graph_module(dag).eval()
    if isinstance(hint, tuple):  # free sizes (a sequence's length, a volume's sides): one size for all
        candidates = [tuple(size if s is None else s for s in hint)
                      for size in dict.fromkeys([32, 16, 64, 224, 28, 8, *range(1, 65)])]
    else:
        channels = hint if isinstance(hint, int) else 3
        planned = planned_size(dag)
        common = [224, 32, 28, 64, 96, 128, 256, 299, 227, 112, 48, 16]
        sizes = ([planned] if planned else []) + [(s, s) for s in common]
        sizes += [(h, t - h) for t in range(2, 65) for h in range(1, t)]
        candidates = [(channels, h, w) for h, w in sizes]
    for batched in (True, False):
        found = _first_accepted(module, candidates, batched)
        if found is not None:
            return found if batched else Unbatched(found)
    raise T7ConvertError("could not find an input size this model accepts; give one with --input-size C,H,W")


def _first_accepted(module: torch.nn.Module, candidates: list[tuple[int, ...]], batched: bool
                    ) -> tuple[int, ...] | None:
    """The first shape a shape-only run maps to one output per input (a batch of 2, or one sample)."""
    # shape-only runs, but a large graph takes a while each; CPU time, so a loaded machine finds the same size
    deadline = time.process_time() + 15.0
    for shape in candidates:
        try:
            with torch.no_grad():
                out = module(torch.empty(*((2,) if batched else ()), *shape, device="meta"))
        except Exception:  # noqa: BLE001 - a shape this graph rejects
            out = None
        while isinstance(out, (list, tuple)) and out:  # a table output: its first tensor
            out = out[0]
        # nn.View infers a batch from the element count: a wrong size can pass as more samples
        if isinstance(out, torch.Tensor) and out.dim() >= 1 and (not batched or out.shape[0] == 2):
            return shape
        if time.process_time() > deadline:
            break
    return None


def smaller_input_shapes(converted: ConvertedModel, shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """Shapes like ``shape`` (its first dimension, the planes, kept) with the other sides halved, then
    quartered ..., down to 1, that a shape-only run accepts: what a verification too large for memory
    can fall back to. Canonical ResNets have their fixed sizes; a feature vector has nothing to shrink."""
    if converted.dag is None or converted.spec is not None or len(shape) < 2:
        return
    from t7convert.pytorch.graph_module import build_graph_module

    with torch.device("meta"):
        module = build_graph_module(converted.dag).eval()
    unbatched = isinstance(shape, Unbatched)
    seen = {tuple(shape)}
    factor = 2
    while any(d // (factor // 2) > 1 for d in shape[1:]):
        candidate = (shape[0], *(max(1, d // factor) for d in shape[1:]))
        factor *= 2
        if candidate in seen:
            continue
        seen.add(candidate)
        if _first_accepted(module, [candidate], not unbatched) is not None:
            yield Unbatched(candidate) if unbatched else candidate
