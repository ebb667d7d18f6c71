"""An independent reference execution of Torch7 models, in float64 NumPy.

It interprets the parsed ``.t7`` modules directly, layer by layer, following the Lua and C code of
nn, cudnn.torch and THNN, and shares nothing with the torch.nn converters: a wrong mapping in a
converter cannot agree with itself here. ``run(model, x)`` gives the output and what each module
output (see :class:`Execution`); every class it runs is listed by :func:`supported_classes`.
Always evaluate-mode semantics: batch norm uses its running statistics, Dropout its test behaviour.

One module per layer family registers its Torch7 class names (``@layer("nn.ReLU", ...)``); importing
this package imports them all. No torch import anywhere in here.
"""
from __future__ import annotations

from t7convert.common.registry import discover
from t7convert.interpreter import families
from t7convert.interpreter.engine import Execution, child_path, depth, is_residual_block, run, unwrap
from t7convert.interpreter.registry import ModelError, layer, supported_classes

discover(families)

__all__ = ["run", "Execution", "supported_classes", "layer", "ModelError", "unwrap", "child_path", "depth",
           "is_residual_block"]
