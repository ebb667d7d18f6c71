"""Running the converted module with forward hooks on its Torch7-path stages (``observe``)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from t7convert.parity.inputs import flat_table

if TYPE_CHECKING:  # pragma: no cover
    import torch


# --- running the converted module ----------------------------------------------------------------
@dataclass
class Observation:
    """The converted module's output (float64) and its stages' outputs (NumPy, the module's dtype), on the CPU."""

    output: np.ndarray | None
    stages: dict[str, np.ndarray]
    seconds: float
    error: str | None = None
    observed: list[str] = field(default_factory=list)  # every path a hook was put on


def observe(module: "torch.nn.Module", x: Any, *, device: str = "cpu",
            stage_list: Iterable[tuple[str, Any]] | None = None) -> Observation:
    """Run ``module`` on ``x`` with forward hooks on its Torch7-path stages; outputs copied as produced.

    Copies are taken inside the hooks (ReLUs may be in place and would overwrite them later). A module
    that fails to run gives an Observation with ``error`` set and the stages reached so far.
    """
    import torch
    if stage_list is None:
        from t7convert.pytorch.build import stage_modules
        stage_list = stage_modules(module)
    captured: dict[str, np.ndarray] = {}

    def hook_for(path: str):
        def hook(_module, _inputs, out):
            if isinstance(out, torch.Tensor):
                kept = out.detach().to("cpu", copy=True)  # float32 stays float32: half the memory of float64
                captured[path] = (kept if kept.dtype in (torch.float32, torch.float64) else kept.float()).numpy()
        return hook

    params = next(iter(module.parameters()), None)
    dtype = params.dtype if params is not None and params.is_floating_point() else torch.float32
    module = module.to(device).eval()
    watched = [(path, sub) for path, sub in stage_list if path]
    handles = [sub.register_forward_hook(hook_for(path)) for path, sub in watched]
    start = time.perf_counter()
    def tensors(v: Any) -> Any:  # a table input is a Python list; integer tensors keep their type
        if isinstance(v, (list, tuple)):
            return [tensors(e) for e in v]
        t = torch.from_numpy(np.ascontiguousarray(v)).to(device=device)
        return t.to(dtype) if t.is_floating_point() else t

    try:
        with torch.no_grad():
            y = module(tensors(x))
        outs = flat_table(y)
        if not all(isinstance(t, torch.Tensor) for t in outs):
            raise TypeError(f"the module returned {type(y).__name__}, not a tensor or a table of tensors")
        arrays = [t.detach().to("cpu", torch.float64).numpy() for t in outs]
        output: Any = arrays if isinstance(y, (list, tuple)) else arrays[0]
        error = None
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        output, error = None, f"the converted model failed to run: {str(e).splitlines()[0][:300]}"
    finally:
        for h in handles:
            h.remove()
    return Observation(output, captured, time.perf_counter() - start, error, [p for p, _ in watched])
