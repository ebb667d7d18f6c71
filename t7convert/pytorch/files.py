"""Saving converted models (``.pth`` or safetensors, atomically) and loading them back.

Converted files load with ``torch.load(path, weights_only=True)``: a canonical ``.pth`` is a bare
torchvision state_dict (its architecture is derivable from the keys and shapes); a generic one is
``{"t7convert": {...architecture as plain data...}, "state_dict": {...}}``; safetensors files carry the
same description in their metadata.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable

import torch
from torch import nn

from t7convert.common.atomic import atomic_output, check_replaceable, check_writable
from t7convert.common.errors import T7ConvertError
from t7convert.conversion.description import FORMAT_VERSION, check_description
from t7convert.conversion.model import ConvertedModel, converted_kind
from t7convert.pytorch.build import module_from_state, tensor_view_key, torch_state
from t7convert.pytorch.from_state_dict import spec_from_state_dict

_EXTENSIONS = {".pth": "pth", ".pt": "pth", ".safetensors": "safetensors"}


def check_format(output: str, fmt: str | None = None) -> str:
    """The format to write ``output`` in: ``fmt``, else the one its extension names, else pth. A format
    that contradicts the extension (a safetensors file named .pth) is refused."""
    named = _EXTENSIONS.get(os.path.splitext(output)[1].lower())
    if fmt is None:
        return named or "pth"
    if fmt not in ("pth", "safetensors"):
        raise T7ConvertError(f"unknown output format {fmt!r} (pth or safetensors)")
    if named is not None and named != fmt:
        suggestion = os.path.splitext(output)[0] + (".safetensors" if fmt == "safetensors" else ".pth")
        raise T7ConvertError(f"{output}: the name says {named} but the format asked for is {fmt}; "
                             f"name it {suggestion}, or ask for {named}")
    return fmt


def check_input(path: str) -> None:
    """Refuse, before anything else, an input that is already a PyTorch or safetensors file (converted?)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return  # the reader says what is wrong with it
    kind = converted_kind(head)
    if kind is not None:
        what = "a PyTorch checkpoint" if kind == "torch" else "a safetensors"
        raise T7ConvertError(f"{path} is {what} file (already converted?); t7convert converts .t7 files "
                             "(load this one with t7convert.load or torch.load)")


def check_output(output: str, source: str | None = None, *, force: bool = False) -> None:
    """Refuse an output that exists (without ``force``), is the input itself, or cannot be written:
    checked before converting and verifying, so that no work is lost on it."""
    if source is not None and os.path.exists(output) and os.path.samefile(output, source):
        raise T7ConvertError(f"{output} is the file being converted; choose another output")
    if os.path.lexists(output) and not force:
        raise T7ConvertError(f"{output} exists; pass --force to overwrite it")
    check_replaceable(output)
    check_writable(output)


def save(converted: ConvertedModel, output: str, *, fmt: str | None = None, force: bool = False,
         before_publish: Callable[[], None] | None = None) -> int:
    """Write the converted model atomically; returns the file size. Refuses to overwrite without force.
    ``before_publish`` is called once the bytes are written, before the rename: its error writes nothing."""
    fmt = check_format(output, fmt)
    check_output(output, converted.source or None, force=force)
    state = torch_state(converted.state)
    with atomic_output(output, exclusive=not force) as tmp:
        try:
            _write(converted, state, tmp, fmt)
        except T7ConvertError:
            raise
        except Exception as e:  # noqa: BLE001 - torch (RuntimeError) and safetensors (SafetensorError) on a full disk
            raise T7ConvertError(f"cannot write {output}: {_write_failure(e, tmp, state)}") from None
        if before_publish is not None:
            before_publish()
    return os.path.getsize(output)


def _write(converted: ConvertedModel, state: dict[str, torch.Tensor], tmp: str, fmt: str) -> None:
    if fmt == "safetensors":
        from safetensors.torch import save_file
        unique, aliases = _unshared(state)
        meta = {"t7convert": json.dumps(converted.info())}
        if aliases:
            meta["t7convert_aliases"] = json.dumps(aliases)
        save_file(unique, tmp, metadata=meta)
    else:
        payload: Any = state if converted.kind == "canonical" else {"t7convert": converted.info(), "state_dict": state}
        torch.save(payload, tmp)


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

