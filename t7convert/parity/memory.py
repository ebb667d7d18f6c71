"""How much memory a verification will need, planned from shapes before anything runs.

A verification runs the converted module (float32) and the reference execution (float64 NumPy, which
keeps what it compares and, per convolution, pads its input and unfolds it into columns, as THNN's
SpatialConvolutionMM does). A 517-byte convolution with ``padW = padH = 15000`` asks for a 3x30224x30224
float64 padded input (22 GB): the kernel's OOM killer would end the process without a word. So the
converted module is first run on the meta device (shapes only, no memory), each module's input and
output shapes are recorded, and the bytes both sides need are added up; past the budget the run is
refused in one line. Every input is planned: a tensor of a shape, token indices, a table of them. A dry
run that fails is a refusal too (:class:`UnplannedError`): an input the model cannot take would fail in
the verification anyway, after the reference had allocated what its layers asked for (an ``nn.Concat``
of a padded convolution and an Identity: 25 GB), and a layer that computes on values must say what it
does on the meta device (shapes only), as LookupTable's index check does.
"""
from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any, Iterable

from t7convert.common.errors import T7ConvertError

if TYPE_CHECKING:
    from torch import nn

#: the default budget: this fraction of the memory available when the run starts
DEFAULT_FRACTION = 0.5
_SIZE = re.compile(r"^\s*(\d{1,20}(?:\.\d{1,20})?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE | re.ASCII)
#: 2^60 bytes (an exabyte): past any machine, and still an exact integer
_MOST = 1 << 60


def parse_memory_limit(text: str | None) -> int | None:
    """``--memory-limit``: ``8GB``, ``500MB``, ``2.5G``, or a number of bytes; None: the default."""
    if text is None or text == "":
        return None
    m = _SIZE.match(str(text))
    if not m:
        raise T7ConvertError(f"--memory-limit {str(text)[:40]!r}: expected a size such as 8GB or 500MB")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    value = float(m.group(1)) * scale
    if not value <= _MOST:
        raise T7ConvertError(f"--memory-limit {str(text)[:40]!r}: more than {_MOST:,} bytes")
    return int(value)


def available_memory() -> int | None:
    """Bytes the system can give now (Linux's MemAvailable; else the physical memory), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_budget() -> int | None:
    free = available_memory()
    return None if free is None else int(free * DEFAULT_FRACTION)


def _numel(value: Any) -> int:
    if hasattr(value, "numel") and hasattr(value, "shape"):
        return int(value.numel())
    if isinstance(value, (list, tuple)):
        return sum(_numel(v) for v in value)
    return 0


def _first_shape(value: Any) -> tuple[int, ...] | None:
    if hasattr(value, "numel") and hasattr(value, "shape"):
        return tuple(value.shape)
    if isinstance(value, (list, tuple)) and value:
        return _first_shape(value[0])
    return None


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    values = tuple(value)
    return (values[0], values[-1]) if values else (0, 0)


def _window_bytes(module: "nn.Module", inputs: Any, output: Any) -> int:
    """The reference's transient float64 buffers for a windowed layer: the padded input, and for a
    convolution the unfolded columns (input planes x kernel x output positions)."""
    kernel, padding = getattr(module, "kernel_size", None), getattr(module, "padding", None)
    shape, out = _first_shape(inputs), _first_shape(output)
    if kernel is None or padding is None or not isinstance(padding, (int, tuple, list)) or not shape or not out:
        return 0
    if len(shape) < 3 or len(out) < 2:
        return 0
    (ph, pw), (kh, kw) = _pair(padding), _pair(kernel)
    lead = math.prod(shape[:-2])
    padded = lead * (shape[-2] + 2 * ph) * (shape[-1] + 2 * pw)
    columns = lead * kh * kw * out[-2] * out[-1] if getattr(module, "weight", None) is not None else 0
    return 8 * (padded + columns)


class UnplannedError(T7ConvertError):
    """The converted module does not run on the meta device on the planned input: nothing is run."""


def _meta_input(value: Any) -> Any:
    """A shape (batch included), or an input as the verification will draw it (an array, a table of
    them), as meta tensors of the same shapes and dtypes."""
    import numpy as np
    import torch

    if isinstance(value, tuple) and all(isinstance(d, int) for d in value):
        return torch.empty(value, device="meta")
    if isinstance(value, np.ndarray):
        return torch.empty(value.shape, dtype=torch.from_numpy(np.empty(0, value.dtype)).dtype, device="meta")
    if isinstance(value, torch.Tensor):
        return torch.empty(tuple(value.shape), dtype=value.dtype, device="meta")
    if isinstance(value, (list, tuple)):
        return [_meta_input(v) for v in value]
    raise UnplannedError(f"an input of type {type(value).__name__} cannot be planned")


def plan_bytes(info: dict[str, Any], state: dict[str, Any], shape: Any) -> int:
    """Bytes a verification on an input of ``shape`` (batch included; or the input itself, an array or a
    table of them) needs. ``info`` and ``state``: the conversion's description and tensors (only their
    shapes are used). :class:`UnplannedError` when the module does not run on it on the meta device."""
    import torch

    from t7convert.pytorch.build import module_from_state

    meta = {k: torch.empty(tuple(v.shape), dtype=torch.float32, device="meta") for k, v in state.items()}
    totals = {"outputs": 0, "window": 0}

    def record(module: "nn.Module", inputs: Any, output: Any) -> None:
        if not any(True for _ in module.children()):
            totals["outputs"] += _numel(output)
        totals["window"] = max(totals["window"], _window_bytes(module, inputs, output))

    x = _meta_input(shape)
    try:  # building is not running: a builder's exception other than the input error is a bug of ours
        module = module_from_state(info, meta)
    except T7ConvertError as e:
        raise UnplannedError(str(e)) from None
    try:
        hooks = [m.register_forward_hook(record) for m in module.modules()]
        with torch.no_grad():
            module(x)
        for h in hooks:
            h.remove()
    except T7ConvertError as e:
        raise UnplannedError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - whatever stops the dry run stops the verification
        reason = str(e).splitlines()[0][:200] if str(e) else ""
        raise UnplannedError(f"the model does not run on it ({type(e).__name__}: {reason})") from None
    inputs = _numel(x)
    # float32 outputs (torch) + float64 outputs (the reference) + the input on both sides + one window
    return 4 * totals["outputs"] + 8 * totals["outputs"] + 12 * inputs + totals["window"]


def _shape_text(value: Any) -> str:
    if isinstance(value, tuple) and all(isinstance(d, int) for d in value):
        return "x".join(map(str, value))
    shape = getattr(value, "shape", None)
    if shape is not None:
        return "x".join(map(str, shape))
    return "table" if isinstance(value, (list, tuple)) else type(value).__name__


def check_budget(info: dict[str, Any], state: dict[str, Any], shape: Any, limit: int | None = None) -> int:
    """Refuse, in one line, a verification that would need more than ``limit`` bytes (default: half the
    memory available now), or one that cannot be planned. Returns the planned bytes. ``shape``: the
    input's shape, batch included, or the input itself."""
    budget = default_budget() if limit is None else limit
    needed = plan_bytes(info, state, shape)
    if budget is not None and needed > budget:
        raise T7ConvertError(f"verification on a {_shape_text(shape)} input would need "
                             f"{_size(needed)} (the limit is {_size(budget)}); pass --no-verify or a smaller "
                             "--input (or raise --memory-limit)")
    return needed


def fit_budget(info: dict[str, Any], state: dict[str, Any], shape: Any, batch: int,
               limit: int | None, smaller: Iterable[Any]) -> tuple[Any, str | None]:
    """The input a verification the user gave no size for should run on: ``shape`` (an InputSpec of
    one tensor, batched or whole) when its plan fits the budget, else the first of ``smaller``
    (accepted shapes, largest first: a larger input exercises more of every kernel) that fits, with a
    note saying so; refused in one line when none does."""
    budget = default_budget() if limit is None else limit

    def whole(s: Any) -> tuple[int, ...]:
        return tuple(s.full_shape(batch))

    needed = plan_bytes(info, state, whole(shape))
    if budget is None or needed <= budget:
        return shape, None
    for candidate in smaller:
        try:
            n = plan_bytes(info, state, whole(candidate))
        except UnplannedError:
            continue
        if n <= budget:
            return candidate, (f"verified on a {'x'.join(map(str, whole(candidate)))} input: "
                               f"{'x'.join(map(str, whole(shape)))} would need {_size(needed)} "
                               f"(the memory limit is {_size(budget)})")
    raise T7ConvertError(f"verification on a {'x'.join(map(str, whole(shape)))} input would need "
                         f"{_size(needed)} (the limit is {_size(budget)}), and no smaller input the model "
                         "accepts fits; pass --no-verify or --input (or raise --memory-limit)")


def _size(n: int) -> str:
    if n < 1e9:
        return f"{n / 1e6:,.1f} MB"
    return f"{n / 1e9:.1f} GB" if n < 1e10 else f"{n / 1e9:,.0f} GB"
