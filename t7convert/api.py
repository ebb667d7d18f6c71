"""The Python API behind the command line: convert a ``.t7`` model, save it, load it back.

``convert`` reads the file (lazily: only the weights it maps are ever paged in), converts every module
with the per-family converters, maps fb.resnet.torch/ResNeXt graphs onto torchvision's layout (unless
``generic``), verifies the result against the independent reference execution of the Torch7 graph, and
only then writes the output, atomically.

Converted files load with ``torch.load(path, weights_only=True)``: a canonical ``.pth`` is a bare
torchvision state_dict (its architecture is derivable from the keys and shapes); a generic one is
``{"t7convert": {...architecture as plain data...}, "state_dict": {...}}``; safetensors files carry the
same description in their metadata.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .atomic import atomic_output, check_writable
from .canonical import ResNetSpec
from .canonical.from_state_dict import spec_from_state_dict
from .canonical.resnet import ResNet
from .conversion import FORMAT_VERSION, ConvertedModel, convert_file
from .errors import T7ConvertError
from .graph import Node
from .layers import build

__all__ = ["convert", "convert_file", "load", "save", "module_from_state", "stage_modules", "ConvertedModel",
           "ConversionReport", "VerificationError", "default_input_shape"]

Progress = Callable[..., None]
"""``progress(message, done=None, total=None)``: a step began, or ``done`` of ``total`` units are finished."""


def _tensors(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(np.ascontiguousarray(v))
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


def module_from_state(info: dict[str, Any], state: dict[str, Any]) -> nn.Module:
    """Build the eval-mode module a converted model's description (:meth:`ConvertedModel.info`, or a
    file's stored copy of it) names, on the given tensors (numpy arrays are wrapped, not copied)."""
    state = _tensors(state)
    kind = info.get("kind")
    with torch.device("meta"):
        if kind == "canonical":
            module: nn.Module = ResNet(ResNetSpec.from_dict(info["resnet"]))
        elif kind == "generic":
            module = build(Node.from_spec(info["graph"]))
        else:
            raise T7ConvertError(f"unknown architecture kind {kind!r} in a converted file")
    state = _with_bn_counters(state)
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise T7ConvertError(f"the weights do not fit the stored architecture: {str(e).splitlines()[0]}") from None
    module.eval()
    module.t7convert_info = info  # type: ignore[attr-defined]
    return module


def default_input_shape(converted: ConvertedModel) -> tuple[int, ...]:
    """An input shape (without batch) the model is meant for: 3x224x224 for ImageNet trunks, 3x32x32 for
    CIFAR, a feature vector when the graph starts with a Linear layer, the size its final average
    pooling implies (its kernel times the strides before it), else the first size (common ones first,
    then small ones) that a shape-only run on the meta device maps to one output per input."""
    if converted.spec is not None:
        return (3, 224, 224) if converted.spec.stem == "imagenet" else (3, 32, 32)
    assert converted.graph is not None
    first = _first_layer(converted.graph)
    if first is not None and first.op == "Linear":
        return (int(first.attrs["in_features"]),)
    if first is not None and first.op == "BatchNorm" and not first.attrs["spatial"]:
        return (int(first.attrs["num_features"]),)
    channels = 3
    if first is not None and first.op == "Conv2d":
        channels = int(first.attrs["in_channels"])
    elif first is not None and first.op == "BatchNorm":
        channels = int(first.attrs["num_features"])
    with torch.device("meta"):
        module = build(converted.graph).eval()

    def accepts(h: int, w: int) -> bool:
        try:
            with torch.no_grad():
                out = module(torch.empty(2, channels, h, w, device="meta"))
        except Exception:  # noqa: BLE001 - a shape this graph rejects
            return False
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


# --- saving and loading --------------------------------------------------------------------------
def check_output(output: str, source: str | None = None, *, force: bool = False) -> None:
    """Refuse an output that exists (without ``force``), is the input itself, or cannot be written:
    checked before converting and verifying, so that no work is lost on it."""
    if source is not None and os.path.exists(output) and os.path.samefile(output, source):
        raise T7ConvertError(f"{output} is the file being converted; choose another output")
    if os.path.exists(output) and not force:
        raise T7ConvertError(f"{output} exists; pass --force to overwrite it")
    check_writable(output)


def save(converted: ConvertedModel, output: str, *, fmt: str | None = None, force: bool = False) -> int:
    """Write the converted model atomically; returns the file size. Refuses to overwrite without force."""
    fmt = fmt or ("safetensors" if output.endswith(".safetensors") else "pth")
    if fmt not in ("pth", "safetensors"):
        raise T7ConvertError(f"unknown output format {fmt!r} (pth or safetensors)")
    check_output(output, converted.source or None, force=force)
    state = _with_bn_counters(_tensors(converted.state))
    with atomic_output(output) as tmp:
        if fmt == "safetensors":
            from safetensors.torch import save_file
            save_file(_unshared(state), tmp, metadata={"t7convert": json.dumps(converted.info())})
        else:
            payload: Any = state if converted.kind == "canonical" else {"t7convert": converted.info(), "state_dict": state}
            torch.save(payload, tmp)
    return os.path.getsize(output)


def _unshared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors stores each tensor on its own: a module Torch7 shared between places (one weight
    tensor under two keys) is written twice."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for k, v in state.items():
        v = v.contiguous()
        key = (v.data_ptr(), v.numel())
        out[k] = v.clone() if key in seen and v.numel() else v
        seen.add(key)
    return out


def load(path: str, *, device: str | torch.device | None = None, generic: bool = False) -> nn.Module:
    """An eval-mode module from a .t7 file, or from a file t7convert converted (see :func:`t7convert.load`)."""
    from . import load as front_door

    return front_door(path, device=device, generic=generic)


def load_converted(path: str, kind: str) -> nn.Module:
    """The module of a file t7convert wrote: ``kind`` "torch" (.pth) or "safetensors"."""
    return _load_torch_file(path) if kind == "torch" else _load_safetensors(path)


def _load_torch_file(path: str) -> nn.Module:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds on bad archives
        raise T7ConvertError(f"{path}: not a readable PyTorch checkpoint: {str(e).splitlines()[0][:200]}") from None
    if isinstance(obj, dict) and isinstance(obj.get("t7convert"), dict) and isinstance(obj.get("state_dict"), dict):
        return _module_for(path, obj["t7convert"], obj["state_dict"])
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _module_for(path, None, obj)
    raise T7ConvertError(f"{path}: a PyTorch checkpoint that t7convert did not write and cannot interpret")


def _load_safetensors(path: str) -> nn.Module:
    from safetensors import safe_open
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
        info = json.loads(meta["t7convert"]) if "t7convert" in meta else None
    except Exception as e:  # noqa: BLE001 - safetensors and json raise many kinds on damaged files
        raise T7ConvertError(f"{path}: not a readable safetensors file: {str(e)[:200]}") from None
    return _module_for(path, info, state)


def _module_for(path: str, info: Any, state: dict[str, Any]) -> nn.Module:
    """The module a converted file describes: its stored architecture, or one derived from a bare
    torchvision-layout state_dict. Anything malformed in it is the file's fault, said with its name."""
    try:
        if info is None:
            spec = spec_from_state_dict(state)
            info = {"format": FORMAT_VERSION, "architecture": spec.torchvision_name, "title": spec.title,
                    "kind": "canonical", "resnet": spec.to_dict()}
        if not isinstance(info, dict):
            raise T7ConvertError("its t7convert description is not a table")
        return module_from_state(info, state)
    except T7ConvertError as e:
        raise T7ConvertError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError, RuntimeError) as e:
        raise T7ConvertError(f"{path}: not a model t7convert can rebuild ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None


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
    # generic graphs: each module built from a node knows the Torch7 path it came from (a module inside
    # an unwrapped DataParallelTable answers for the table's path, not its own position)
    return [(source, sub) for sub in module.modules()
            if (source := getattr(sub, "t7_source", "")) and source.count("modules[") <= 2
            and source not in rewritten]


@dataclass
class ConversionReport:
    """What ``convert`` did, for the summary the command prints (and ``--json``)."""

    source: str
    output: str | None
    converted: ConvertedModel
    output_bytes: int = 0
    verification: Any = None          # a parity report, or None when not verified
    input_shape: tuple[int, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        c = self.converted
        v = self.verification
        return {"source": self.source, "output": self.output, "kind": c.kind, "title": c.title,
                "torchvision": c.spec.torchvision_name if c.spec else None,
                "architecture": c.architecture if c.kind == "canonical" else None,
                "not_canonical": c.not_canonical, "parameters": c.parameters, "dropped": dict(c.dropped),
                "notes": c.notes, "output_bytes": self.output_bytes, "input_shape": self.input_shape,
                "verification": v.to_dict() if v is not None else None}


def convert(path: str, output: str | None = None, *, fmt: str | None = None, generic: bool = False,
            force: bool = False, verify: bool = True, input_shape: tuple[int, ...] | None = None,
            batch: int = 1, rtol: float = 1e-5, seed: int = 0,
            progress: Progress | None = None) -> ConversionReport:
    """Convert ``path``; verify against the reference execution (unless ``verify=False``); write ``output``.

    A verification beyond ``rtol`` raises :class:`VerificationError` and writes nothing. ``progress``
    is told each step, and during verification how many layers of how many have run.
    """
    step = progress or (lambda _msg, _done=None, _total=None: None)
    if output is not None:
        check_output(output, path, force=force)
    step("reading and converting")
    converted = convert_file(path, generic=generic)
    report = ConversionReport(source=path, output=output, converted=converted)
    if verify:
        from .parity import random_input, verify as run_parity

        shape = tuple(input_shape) if input_shape else default_input_shape(converted)
        report.input_shape = shape
        x = random_input(shape, batch, seed)  # what `t7convert parity --seed` draws too
        message = "verifying against the reference execution of the Torch7 graph"
        report.verification = run_parity(converted.module(), converted.t7_model, x, rtol=rtol,
                                         progress=lambda done, total: step(message, done, total))
        if not report.verification.ok:
            raise VerificationError(report)
    if output is not None:
        step(f"writing {output}")
        report.output_bytes = save(converted, output, fmt=fmt, force=force)
    return report


class VerificationError(T7ConvertError):
    """The converted model does not reproduce the Torch7 graph; nothing was written."""

    def __init__(self, report: ConversionReport) -> None:
        self.report = report
        v = report.verification
        where = getattr(v, "first_divergence", None)
        super().__init__(f"verification failed: the converted model differs from the Torch7 graph"
                         + (f", first at {where}" if where else "") + "; nothing was written")
