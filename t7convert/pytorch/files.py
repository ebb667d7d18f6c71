"""Saving converted models (``.pth`` or safetensors, atomically) and loading them back.

Converted files load with ``torch.load(path, weights_only=True)``: a canonical ``.pth`` is a bare
torchvision state_dict (its architecture is derivable from the keys and shapes); a generic one is
``{"t7convert": {...architecture as plain data...}, "state_dict": {...}}``; safetensors files carry the
same description in their metadata.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from typing import Any, Callable

import torch
from torch import nn

from t7convert.common.atomic import atomic_output, check_replaceable, check_writable
from t7convert.common.errors import T7ConvertError
from t7convert.common.inputs import NotRegularFile, check_regular, open_regular
from t7convert.conversion.description import FORMAT_VERSION, DescriptionError, check_description, plain_copy
from t7convert.conversion.model import ConvertedModel, converted_kind
from t7convert.conversion.resnet_spec import ResNetSpec
from t7convert.pytorch.build import module_from_state, tensor_view_key, torch_state
from t7convert.pytorch.from_state_dict import spec_from_state_dict

_EXTENSIONS = {".pth": "pth", ".pt": "pth", ".safetensors": "safetensors", ".onnx": "onnx", ".pt2": "pt2"}
#: formats written by t7convert.export (imported only for them); "source" is a folder of model.py and weights
EXPORT_FORMATS = ("onnx", "pt2", "source")
FORMATS = ("pth", "safetensors", *EXPORT_FORMATS)


def check_format(output: str, fmt: str | None = None) -> str:
    """The format to write ``output`` in: ``fmt``, else the one its extension names, else pth. A format
    that contradicts the extension (a safetensors file named .pth), or an extension no format has
    (``model.xyz``), is refused."""
    suffix = os.path.splitext(output)[1]
    named = _EXTENSIONS.get(suffix.lower())
    if fmt is None:
        if suffix and named is None:
            raise T7ConvertError(f"{output}: unknown output suffix {suffix!r}: name it .pth, .safetensors, .onnx or "
                                 ".pt2, or pass --format source to write a folder")
        return named or "pth"
    if fmt not in FORMATS:
        raise T7ConvertError(f"unknown output format {fmt!r} ({', '.join(FORMATS)})")
    if named is not None and named != fmt:
        wanted = {"pth": ".pth", "safetensors": ".safetensors", "onnx": ".onnx", "pt2": ".pt2", "source": ""}[fmt]
        suggestion = os.path.splitext(output)[0] + wanted
        raise T7ConvertError(f"{output}: the name says {named} but the format asked for is {fmt}; "
                             f"name it {suggestion}, or ask for {named}")
    return fmt


def check_input(path: str) -> None:
    """Refuse, before anything else, an input that is already a PyTorch or safetensors file (converted?)."""
    try:
        with open_regular(path) as f:
            head = f.read(64)
    except NotRegularFile as e:
        raise T7ConvertError(f"{path}: cannot read: {e.strerror}") from None
    except OSError:
        return  # the reader says what is wrong with it
    kind = converted_kind(head)
    if kind is not None:
        what = "a PyTorch checkpoint" if kind == "torch" else "a safetensors"
        raise T7ConvertError(f"{path} is {what} file (already converted?); t7convert converts .t7 files "
                             "(load this one with t7convert.load or torch.load)")


def check_not_source(output: str, source: str | None) -> None:
    """Refuse the input itself as the output (said before anything else about the output's name)."""
    if source is not None and os.path.exists(output) and os.path.samefile(output, source):
        raise T7ConvertError(f"{output} is the file being converted; choose another output")


def check_output(output: str, source: str | None = None, *, force: bool = False) -> None:
    """Refuse an output that exists (without ``force``), is the input itself, or cannot be written:
    checked before converting and verifying, so that no work is lost on it."""
    check_not_source(output, source)
    if os.path.lexists(output) and not force:
        raise T7ConvertError(f"{output} exists; pass --force to overwrite it")
    check_replaceable(output)
    check_writable(output)


def save(converted: ConvertedModel, output: str, *, fmt: str | None = None, force: bool = False,
         before_publish: Callable[[], None] | None = None, provenance: dict[str, str] | None = None) -> int:
    """Write the converted model atomically; returns the file size. Refuses to overwrite without force.
    ``before_publish`` is called once the bytes are written, before the rename: its error writes nothing.
    ``provenance`` (:mod:`t7convert.export.provenance`): kept in the description (a generic .pth), in the
    state_dict's ``_metadata`` (a canonical .pth stays a bare torchvision state_dict), or in the metadata."""
    fmt = check_format(output, fmt)
    if fmt in EXPORT_FORMATS:
        raise T7ConvertError(f"{output}: {fmt} outputs are verified as they are written: write them with "
                             "t7convert.convert(path, output)")
    check_output(output, converted.source or None, force=force)
    state = torch_state(converted.state)
    info = plain_copy(converted.info())
    try:  # what is written is what load accepts: the description's limits are checked here too
        check_description(info, len(state))
    except DescriptionError as e:
        raise T7ConvertError(f"{output}: not written, t7convert could not load it back: {e}") from None
    with atomic_output(output, exclusive=not force) as tmp:
        try:
            _write(converted, state, tmp, fmt, provenance)
        except T7ConvertError:
            raise
        except Exception as e:  # noqa: BLE001 - torch (RuntimeError) and safetensors (SafetensorError) on a full disk
            raise T7ConvertError(f"cannot write {output}: {_write_failure(e, tmp, state)}") from None
        if before_publish is not None:
            before_publish()
    return os.path.getsize(output)


PROVENANCE_KEY = "t7convert_provenance"


def _write(converted: ConvertedModel, state: dict[str, torch.Tensor], tmp: str, fmt: str,
           provenance: dict[str, str] | None = None) -> None:
    info = plain_copy(converted.info())  # as checked in save(): nothing in it shared
    if provenance:
        info["provenance"] = dict(provenance)
    if fmt == "safetensors":
        from safetensors.torch import save_file
        unique, aliases = _unshared(state)
        meta = {"t7convert": json.dumps(info)}
        if aliases:
            meta["t7convert_aliases"] = json.dumps(aliases)
        if provenance:
            meta[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True)
        save_file(unique, tmp, metadata=meta)
    elif converted.kind == "canonical":
        payload = OrderedDict(state)
        if provenance:  # beside torch's own per-module versions, which no key of a ResNet reads
            payload._metadata = {PROVENANCE_KEY: dict(provenance)}  # type: ignore[attr-defined]
        torch.save(payload, tmp)
    else:
        torch.save({"t7convert": info, "state_dict": state}, tmp)


def _write_failure(error: BaseException, tmp: str, state: dict[str, torch.Tensor]) -> str:
    """Why writing failed, in words: torch says "unexpected pos 1408 vs 1302" when the disk is full, so
    the free space of the folder is what tells."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    needed = sum(t.numel() * t.element_size() for t in state.values())
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(tmp)))
        free = st.f_bavail * st.f_frsize
    except (OSError, AttributeError):
        free = None
    if "No space left" in str(error) or (free is not None and free < needed + (1 << 20)):
        return f"no space left on the device (it needs about {needed / 1e6:,.1f} MB)"
    return f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"


def _unshared(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """safetensors refuses tensors that share memory: a module Torch7 shared between places (one
    weight tensor under two keys) is stored once, and the other keys are recorded as its aliases
    (``{alias: stored key}`` in the metadata), so that loading shares it again."""
    first: dict[tuple, str] = {}
    out: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    for k, v in state.items():
        v = v.contiguous()
        key = tensor_view_key(v)
        if v.numel() and key in first:
            aliases[k] = first[key]
            continue
        first.setdefault(key, k)
        out[k] = v
    return out, aliases


def load_converted(path: str, kind: str) -> nn.Module:
    """The module of a file t7convert wrote: ``kind`` "torch" (.pth) or "safetensors"."""
    return _load_torch_file(path) if kind == "torch" else _load_safetensors(path)


def _load_torch_file(path: str) -> nn.Module:
    try:
        check_regular(path)
    except OSError as e:
        raise T7ConvertError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=_is_zip(path))
    except Exception as e:  # noqa: BLE001 - torch raises many kinds on bad archives
        raise T7ConvertError(f"{path}: not a readable PyTorch checkpoint: {str(e).splitlines()[0][:200]}") from None
    if isinstance(obj, dict) and isinstance(obj.get("t7convert"), dict) and isinstance(obj.get("state_dict"), dict):
        return _module_for(path, obj["t7convert"], obj["state_dict"])
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _module_for(path, None, obj)
    raise T7ConvertError(f"{path}: a PyTorch checkpoint that t7convert did not write and cannot interpret")


def _is_zip(path: str) -> bool:
    """torch.save's archive (mapped, not read); a legacy raw-pickle checkpoint
    (``_use_new_zipfile_serialization=False``) cannot be mapped and is read as it is, still weights only."""
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _load_safetensors(path: str) -> nn.Module:
    from safetensors import safe_open
    try:
        check_regular(path)
    except OSError as e:
        raise T7ConvertError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
        info = json.loads(meta["t7convert"]) if "t7convert" in meta else None
        aliases = json.loads(meta.get("t7convert_aliases", "{}"))
        if not isinstance(aliases, dict) or not all(isinstance(v, str) and v in state for v in aliases.values()):
            raise ValueError("its t7convert_aliases metadata names tensors the file does not hold")
        for alias, stored in aliases.items():
            state[str(alias)] = state[stored]
    except Exception as e:  # noqa: BLE001 - safetensors and json raise many kinds on damaged files
        raise T7ConvertError(f"{path}: not a readable safetensors file: {str(e)[:200]}") from None
    return _module_for(path, info, state)


def _check_storage(state: dict[str, Any]) -> None:
    """Every entry is a plain, contiguous tensor, as t7convert writes them. ``torch.load`` accepts expanded
    (stride-0) and overlapping tensors, and ``load_state_dict(assign=True)`` keeps them: a few KB of file
    would then stand for gigabytes of weights the first computation materialises."""
    for key, value in state.items():
        where = str(key)[:80]
        if not isinstance(value, torch.Tensor):
            raise T7ConvertError(f"its state_dict entry {where} is a {type(value).__name__}, not a tensor")
        if value.layout is not torch.strided or value.is_quantized:
            raise T7ConvertError(f"its state_dict entry {where} is a {value.layout} tensor, not a dense one")
        if not value.is_contiguous():
            raise T7ConvertError(f"its state_dict entry {where} is not contiguous (shape {tuple(value.shape)}, "
                                 f"strides {value.stride()}): an expanded or overlapping tensor, which "
                                 "t7convert never writes")


def _module_for(path: str, info: Any, state: dict[str, Any]) -> nn.Module:
    """The module a converted file describes: its stored architecture, or one derived from a bare
    torchvision-layout state_dict. Anything malformed in it is the file's fault, said with its name."""
    try:
        _check_storage(state)
        if info is None:
            spec = spec_from_state_dict(state)
            info = {"format_version": FORMAT_VERSION, "architecture": spec.torchvision_name, "title": spec.title,
                    "kind": "canonical", "resnet": spec.to_dict()}
        return module_from_state(check_description(info, len(state)), state)
    except T7ConvertError as e:
        raise T7ConvertError(f"{path}: {e}") from None
    except (ValueError, RuntimeError) as e:  # torch refusing values or shapes; a KeyError is our bug
        raise T7ConvertError(f"{path}: not a model t7convert can rebuild ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None



def describe_converted(path: str, kind: str) -> dict[str, Any]:
    """What a file t7convert wrote says of itself (``inspect`` on a .pth or safetensors file): its
    architecture's title, kind, description (graph size), data config, the checkpoint's extras and its
    provenance (writer, source file), the tensors it holds. A bare torchvision-layout state_dict has no
    description: its architecture is derived from its keys and shapes, as ``load`` does. Damage is the
    file's fault, said in one line (the description is checked as ``load`` checks it)."""
    state, info = _read_for_description(path, kind)
    try:
        _check_storage(state)
        if info is None:
            try:
                spec = spec_from_state_dict(state)
            except T7ConvertError as e:  # someone's own torch.save: not ours to describe, and not a .t7
                what = "a PyTorch checkpoint" if kind == "torch" else "a safetensors file"
                raise T7ConvertError(f"{what} that t7convert did not write ({e}), not a Torch7 file: load it "
                                     "with torch.load(path, weights_only=True)" if kind == "torch" else
                                     f"{what} that t7convert did not write ({e}), not a Torch7 file") from None
            info = {"format_version": FORMAT_VERSION, "architecture": spec.torchvision_name, "title": spec.title,
                    "kind": "canonical", "resnet": spec.to_dict(), "writer": None}
        checked = check_description(info, len(state))
    except T7ConvertError as e:
        raise T7ConvertError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError, RuntimeError) as e:
        raise T7ConvertError(f"{path}: not a file t7convert can describe ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    seen: set[Any] = set()
    parameters = 0
    for t in state.values():
        key = tensor_view_key(t)
        if key not in seen:
            seen.add(key)
            parameters += t.numel() if t.is_floating_point() else 0
    graph = checked.get("graph") if isinstance(checked.get("graph"), dict) else None
    spec = ResNetSpec.from_dict(checked["resnet"]) if isinstance(checked.get("resnet"), dict) else None
    return {"torchvision_call": spec.torchvision_call if spec else None,
            "timm": spec.timm_name if spec else None,"file": path, "format": "pth" if kind == "torch" else "safetensors",
            "file_size": os.path.getsize(path), "kind": checked.get("kind"),
            "title": info.get("title") or checked.get("title"), "architecture": info.get("architecture"),
            "described": "writer" in info and info["writer"] is not None,
            "writer": info.get("writer"), "source": info.get("source"), "format_version": info.get("format_version"),
            "nodes": len(graph.get("nodes", [])) if graph else None,
            "data_config": info.get("data_config"), "checkpoint": info.get("checkpoint"),
            "rewritten_stages": info.get("rewritten_stages"), "tensors": len(state), "values": parameters}


def _read_for_description(path: str, kind: str) -> tuple[dict[str, Any], Any]:
    if kind == "torch":
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=_is_zip(path))
        except Exception as e:  # noqa: BLE001 - torch raises many kinds on bad archives
            raise T7ConvertError(f"{path}: not a readable PyTorch checkpoint: {str(e).splitlines()[0][:200]}") from None
        if isinstance(obj, dict) and isinstance(obj.get("t7convert"), dict) and isinstance(obj.get("state_dict"), dict):
            return obj["state_dict"], obj["t7convert"]
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj, None
        raise T7ConvertError(f"{path}: a PyTorch checkpoint that t7convert did not write and cannot describe")
    from safetensors import safe_open
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
        info = json.loads(meta["t7convert"]) if "t7convert" in meta else None
    except Exception as e:  # noqa: BLE001 - safetensors and json raise many kinds on damaged files
        raise T7ConvertError(f"{path}: not a readable safetensors file: {str(e)[:200]}") from None
    return state, info


def format_converted(d: dict[str, Any]) -> str:
    """``describe_converted``'s answer as ``inspect`` prints it."""
    out = [f"{d['file']}: {d['file_size']:,} bytes, a {d['format']} file written by t7convert"
           if d["described"] else f"{d['file']}: {d['file_size']:,} bytes, a bare torchvision-layout state_dict "
                                  f"({d['format']}; no description: the architecture is derived from its keys)"]
    title = d["title"] or d["architecture"] or "?"
    if d["kind"] == "canonical":
        out.append(f"architecture: {title}" + ("" if "torchvision layout" in title else " (torchvision layout)"))
    else:
        nodes = f" ({d['nodes']} node{'' if d['nodes'] == 1 else 's'} in its stored graph)" if d["nodes"] else ""
        out.append(f"architecture: {title}{nodes}")
    if d["torchvision_call"]:
        out.append(f"torchvision: {d['torchvision_call']}.load_state_dict(state)"
                   + (f"; timm: timm.create_model({d['timm']!r})" if d["timm"] else ""))
    if d["writer"] or d["source"]:
        out.append(f"provenance: {d['writer'] or 'an unknown writer'}, from {d['source'] or 'an unnamed file'}"
                   + (f" (description format {d['format_version']})" if d["format_version"] else ""))
    if d["data_config"]:
        out.append("data config: " + json.dumps(d["data_config"], sort_keys=True)[:400])
    for key, value in sorted((d.get("provenance") or {}).items()):
        out.append(f"  {key}: {value}"[:400])
    if d["checkpoint"]:
        ck = d["checkpoint"]
        extras = {k: v for k, v in ck.items() if k not in ("tokens", "indices")}
        tokens = f", a vocabulary of {len(ck['tokens'])} tokens" if isinstance(ck.get("tokens"), list) else ""
        out.append(f"checkpoint: {json.dumps(extras, sort_keys=True)[:300]}{tokens}")
    if d["rewritten_stages"]:
        out.append("rewritten stages: " + ", ".join(map(str, d["rewritten_stages"]))[:400])
    out.append(f"tensors: {d['tensors']:,}, {d['values']:,} floating-point values (weights and buffers)")
    return "\n".join(out)
