"""What every exported format shares: the verification input as tensors, the model with a table input's
tensors as positional arguments (Lua order), the comparison with the reference output, and the batch-doubled
example that makes a batch dimension dynamic where the model is per-sample."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.export import TOLERANCE


def structure(x: Any, leaves: list) -> Any:
    """The nesting of a (nested) table input as leaf indices; its tensors appended to ``leaves`` in Lua order."""
    if isinstance(x, (list, tuple)):
        return [structure(v, leaves) for v in x]
    leaves.append(x)
    return len(leaves) - 1


def rebuild(struct: Any, leaves: Sequence[Any]) -> Any:
    """The nested table back from its leaves."""
    return leaves[struct] if isinstance(struct, int) else [rebuild(s, leaves) for s in struct]


def flat(value: Any) -> list:
    """A (nested) table of outputs as its tensors in order; a tensor is itself."""
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flat(v)]
    return [value]


class Positional(nn.Module):
    """The model with its table input's tensors as positional arguments, in Lua order (exporters and
    runtimes take a flat list of tensors; the converted model takes the Lua table as a Python list)."""

    def __init__(self, model: nn.Module, struct: Any) -> None:
        super().__init__()
        self.model = model
        self.struct = struct

    def forward(self, *xs: torch.Tensor) -> Any:
        return self.model(rebuild(self.struct, xs))


def as_tensors(x: Any, dtype: torch.dtype) -> tuple[list[torch.Tensor], Any]:
    """(the input's tensors in Lua order, its structure: an int for one tensor, nested lists for a table);
    floating inputs in the model's dtype, as the verification fed them."""
    leaves: list = []
    struct = structure(x, leaves)
    out = []
    for a in leaves:
        t = torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else torch.as_tensor(a)
        out.append(t.to(dtype) if t.is_floating_point() else t)
    return out, struct


def model_dtype(module: nn.Module) -> torch.dtype:
    p = next(iter(module.parameters()), None)
    return p.dtype if p is not None and p.is_floating_point() else torch.float32


def callable_model(module: nn.Module, struct: Any) -> nn.Module:
    """What an exporter traces: the model itself for one tensor, else :class:`Positional`."""
    return module if isinstance(struct, int) else Positional(module, struct).eval()


def doubled(args: list[torch.Tensor]) -> list[torch.Tensor] | None:
    """The example with a batch of twice the size (each input repeated along dim 0), to trace a dynamic batch
    dimension (torch.export specialises a size of 1); None when the inputs share no first dimension."""
    if not args or any(a.dim() == 0 for a in args) or len({a.shape[0] for a in args}) != 1:
        return None
    return [torch.cat([a, a]) for a in args]


def rel_error(got: Any, want: Any) -> tuple[float, str]:
    """(the worst relative error of ``got`` against ``want``, "" or why they cannot be compared): max |a - b| /
    max |b| per output, NaN equal to NaN, infinities to equal infinities."""
    got_l, want_l = flat(got), flat(want)
    if len(got_l) != len(want_l):
        return float("inf"), f"{len(got_l)} outputs, the reference has {len(want_l)}"
    worst = 0.0
    for i, (a, b) in enumerate(zip(got_l, want_l)):
        a = a.detach().to("cpu", torch.float64).numpy() if isinstance(a, torch.Tensor) else np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        if a.shape != b.shape:
            return float("inf"), f"output {i + 1} has shape {list(a.shape)}, the reference {list(b.shape)}"
        if not b.size:
            continue
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        with np.errstate(invalid="ignore", over="ignore"):
            d = np.where(same, 0.0, np.abs(a - b))
        if not np.isfinite(d).all():
            return float("inf"), f"output {i + 1} has NaN or infinity where the reference has none"
        fin = np.abs(b[np.isfinite(b)])
        worst = max(worst, float(d.max()) / max(float(fin.max()) if fin.size else 0.0, 1e-12))
    return worst, ""


def check_close(what: str, got: Any, want: Any) -> float:
    """The worst relative error; a file whose output is beyond :data:`TOLERANCE` is not written."""
    err, why = rel_error(got, want)
    if why or err > TOLERANCE:
        raise T7ConvertError(f"{what} does not reproduce the reference execution ("
                             f"{why or f'relative error {err:.2e} > {TOLERANCE:g}'}); nothing was written")
    return err


def first_line(e: BaseException, n: int = 200) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:n] if text else ''}"
