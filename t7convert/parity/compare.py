"""Parity: is the converted PyTorch model the Torch7 model? Measured, stage by stage (``verify``).

The parts, by job: :mod:`.report` (the report types), :mod:`.metric` (the error measure and the
comparisons), :mod:`.torch7_dump` (Torch7's dumped outputs), :mod:`.inputs` (the seeded inputs),
:mod:`.hooks` (running the converted module); their names are importable from here too.

Three witnesses can be compared, pairwise:

* the converted module (PyTorch, float32, observed with forward hooks on the submodules
  :func:`t7convert.pytorch.build.stage_modules` maps to Torch7 paths);
* the reference execution (:mod:`t7convert.interpreter`: the parsed ``.t7`` graph run in float64 NumPy,
  sharing no code with the converters);
* outputs dumped by real Torch7 (``reference/dump_reference.lua``: ``{input=, output=, stages=}``, the
  stages being each top-level module's ``output`` for the first sample, read after the forward pass).

Error measure, per stage: ``max |candidate - reference|`` and that divided by ``max |reference|`` (the
relative error; infinities and ``+-FLT_MAX``, TH's ``THInf``, are left out of the scale and must match); a
stage passes when the relative error is at most ``rtol`` (1e-5 by default, what a float32 port of a float32
model achieves with margin). The first failing stage, in the order the stages complete (a block's inner stages
before the block), is where the conversion went wrong.

Torch7's stage tensors are read after the whole forward pass, so a module followed by an in-place
layer (a BatchNorm before ``ReLU(true)``) holds that layer's result; the reference execution knows
which stage's produced output each Torch7 tensor ends up equal to and compares the converted model's
stage with that one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from t7convert.interpreter import run
from t7convert.parity.hooks import (  # noqa: F401 - one import place for every part
    Observation,
    observe,
)
from t7convert.parity.inputs import (  # noqa: F401 - one import place for every part
    as_float32,
    describe_input,
    flat_table,
    model_in,
    shape_text,
)
from t7convert.parity.metric import (  # noqa: F401 - one import place for every part
    NonFiniteReference,
    check_finite_reference,
    compare_with_execution,
    compare_with_torch7,
    difference,
)
from t7convert.parity.report import (  # noqa: F401 - one import place for every part
    DEFAULT_RTOL,
    ParityReport,
    StageDiff,
)
from t7convert.parity.torch7_dump import (  # noqa: F401 - one import place for every part
    Torch7Outputs,
    read_torch7_outputs,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch


def verify(module: "torch.nn.Module", t7_model: Any, x: Any, *, rtol: float = DEFAULT_RTOL,
           device: str = "cpu", progress: Callable[[int, int], None] | None = None) -> ParityReport:
    """Compare a converted module with the reference execution of the Torch7 model it came from.

    ``t7_model``: the parsed file's root (or the module inside it); ``x``: an input batch (N, C, H, W).
    Every stage :func:`t7convert.pytorch.build.stage_modules` maps is compared, full batch. ``progress(done, total)``
    is called as the reference execution goes through the layers and once the converted model has run.
    """
    model = model_in(t7_model)
    ticks = None
    if progress is not None:
        total = sum(1 for _, m in model.walk() if not m.children) + 1
        done = iter(range(1, total + 1))
        ticks = lambda _path: progress(next(done, total), total)  # noqa: E731
    with np.errstate(all="ignore"):  # NaN/Inf are reported as such below, not as numpy warnings
        execution = run(model, x, on_leaf=ticks)
    check_finite_reference(execution, model)
    seen = observe(module, x, device=device)
    if progress is not None:
        progress(total, total)
    return compare_with_execution(seen.output, seen.stages, execution, rtol=rtol, error=seen.error,
                                  observed=seen.observed, candidate=f"converted model ({device})")
