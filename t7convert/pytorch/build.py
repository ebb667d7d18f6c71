"""Building the eval-mode torch module a converted model's description names, on its tensors.

Canonical descriptions build torchvision's ResNet layout; generic ones the Torch7-semantics modules of
:mod:`t7convert.pytorch.modules`. Built on the meta device, then the tensors are assigned (numpy
arrays are wrapped, not copied), so building never allocates weights twice.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.budget import view_key
from t7convert.conversion.data_config import canonical_data_config, input_of_config
from t7convert.conversion.model import ConvertedModel
from t7convert.conversion.resnet_spec import ResNetSpec
from t7convert.conversion.tree import Node
from t7convert.pytorch.resnet import ResNet

# The generic builders (every layer family, torch.fx) are imported when a generic model is built: a
# canonical conversion without verification needs none of them, and their import is a tenth of its time.


def _tensors(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Torch tensors for a state's arrays. A module Torch7 shares between places (one weight under many
    keys) gives one tensor for all of them, so that it is copied at most once and ``torch.save`` stores
    it once: one Linear used 200 times is one weight in the file, not 200."""
    out = {}
    made: dict[tuple, torch.Tensor] = {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            same = view_key(v)
            if same not in made:
                made[same] = torch.from_numpy(np.ascontiguousarray(v))
            v = made[same]
        out[k] = v
    return out


def _with_bn_counters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Add the ``num_batches_tracked`` entry torchvision's state_dicts have beside every BN's running
    statistics (0: never trained here)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        out[key] = value
        if key == "running_var" or key.endswith(".running_var"):
            counter = key[: -len("running_var")] + "num_batches_tracked"
            if counter not in state:
                out[counter] = torch.tensor(0, dtype=torch.long)
    return out


def torch_state(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The state_dict a converted model is saved as and loaded from: its arrays as tensors (one tensor
    for a weight shared between places), with torchvision's ``num_batches_tracked`` beside each BN."""
    return _with_bn_counters(_tensors(state))


def module_from_state(info: dict[str, Any], state: dict[str, Any]) -> nn.Module:
    """Build the eval-mode module a converted model's description (:meth:`ConvertedModel.info`, or a
    file's stored copy of it) names, on the given tensors (numpy arrays are wrapped, not copied)."""
    state = torch_state(state)
    kind = info.get("kind")
    with torch.device("meta"):
        if kind == "canonical":
            module: nn.Module = ResNet(ResNetSpec.from_dict(info["resnet"]))
        elif kind == "generic" and "nodes" in info["graph"]:
            from t7convert.pytorch.graph_module import build_graph_module
            module = build_graph_module(info["graph"])
        elif kind == "generic":  # t7convert 0.1's module tree (format 1)
            from t7convert.pytorch.modules import build
            module = build(Node.from_spec(info["graph"]))
        else:
            raise T7ConvertError(f"unknown architecture kind {kind!r} in a converted file")
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise T7ConvertError(f"the weights do not fit the stored architecture: {str(e).splitlines()[0]}") from None
    module.eval()
    module.t7convert_info = info  # type: ignore[attr-defined]
    module.data_config = _data_config(info, module)  # type: ignore[attr-defined]
    return module


def _data_config(info: dict[str, Any], module: nn.Module) -> dict[str, Any]:
    """What the model expects (input size, normalisation...): fb.resnet.torch's for canonical ResNets,
    the stored one for generic models (see :mod:`t7convert.conversion.data_config`)."""
    if isinstance(module, ResNet):
        spec = module.spec
        config = canonical_data_config(spec.stem, spec.num_classes)
    else:
        config = dict(info.get("data_config", {}))
    found = input_of_config(config)
    if found is not None:
        config["input"] = found  # an InputSpec (the file holds its JSON)
    else:
        config.pop("input", None)
    return config


def stage_modules(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """(Torch7 path, submodule) pairs whose outputs equal the Torch7 modules' at those paths.

    Paths are relative to the model inside the file (after unwrapping a table entry or a
    DataParallelTable), Lua 1-based: ``modules[5]``, ``modules[5].modules[2]``. They cover each top-level
    module and, one level down, each residual block, except stages an exact rewrite changed on purpose
    (``rewritten_stages``: a stem convolution whose bias now lives in the BN after it).
    """
    rewritten = set(getattr(module, "t7convert_info", {}).get("rewritten_stages", ()))
    if isinstance(module, ResNet):
        return [(path, m) for path, m in module.stage_modules() if path not in rewritten]
    if hasattr(module, "t7_stages"):  # a DAG: each Torch7 path maps to the node that outputs its value
        from t7convert.pytorch.graph_module import graph_stage_modules
        return [(path, sub) for path, sub in graph_stage_modules(module)
                if path.count("modules[") <= 2 and path not in rewritten]
    # t7convert 0.1's module trees: each module built from a node knows the Torch7 path it came from (a
    # module inside an unwrapped DataParallelTable answers for the table's path, not its own position)
    return [(source, sub) for sub in module.modules()
            if (source := getattr(sub, "t7_source", "")) and source.count("modules[") <= 2
            and source not in rewritten]


def module_of(converted: ConvertedModel) -> nn.Module:
    """The eval-mode torch module of a conversion held in memory, its tensors sharing memory with the
    state (no copy)."""
    return module_from_state(converted.info(), converted.state)


def tensor_view_key(t: torch.Tensor) -> tuple:
    """What makes two tensors the same view of the same memory (the torch twin of ``view_key``)."""
    return t.data_ptr(), tuple(t.shape), t.stride(), t.dtype


def own_memory(module: nn.Module) -> nn.Module:
    """Give ``module`` private copies of tensors that are views of a memory-mapped file (the ``.t7`` it
    was converted from, or a ``.pth`` torch mapped), so that the file changing later (truncated,
    rewritten in place) cannot end the process with SIGBUS at its next forward. Tensors that share
    memory (a module Torch7 shared between places) stay shared: one copy each."""
    copies: dict[tuple, torch.Tensor] = {}
    for sub in module.modules():
        for table in (sub._parameters, sub._buffers):
            for name, t in table.items():
                if t is None or t.device.type != "cpu" or t.is_meta:
                    continue
                key = tensor_view_key(t)
                if key not in copies:
                    copies[key] = t.detach().clone()
                copy = copies[key]
                table[name] = nn.Parameter(copy, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) \
                    else copy
    return module
