"""Which Torch7 class runs how: a table from class name to the function that executes it.

Each layer family module registers its functions with :func:`layer`, by the exact names Torch7 writes
in a file (``nn.SpatialConvolution``, ``cudnn.SpatialConvolution``...). The table is the single place
that answers "is this class covered?", so the error for an unknown class can list what is.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from t7convert.common.errors import T7ConvertError, UnsupportedModuleError
from t7convert.common.registry import Registry, broken_plugins
from t7convert.torch7.format import T7Object

if TYPE_CHECKING:  # pragma: no cover - typing only
    from t7convert.interpreter.engine import Call

LayerFn = Callable[[T7Object, Any, "Call"], Any]

LAYERS: Registry[LayerFn] = Registry("reference implementation", plugins="t7convert.reference")


class ModelError(T7ConvertError):
    """The model (or the input given to it) is one Torch7 itself would refuse to run.

    Raised with the module's path so the user can find it; the CLI turns it into exit code 2.
    """


#: ``@layer("nn.X", "cudnn.X")`` files ``fn(module, input, call) -> output`` as the execution of these classes.
layer = LAYERS.register


def supported_classes() -> list[str]:
    """Every Torch7 class name the reference execution can run, sorted."""
    return LAYERS.names()


def lookup(module: Any, path: str) -> LayerFn:
    """The function for ``module``'s class; an :class:`UnsupportedModuleError` naming it otherwise."""
    where = path or "the root"
    if not isinstance(module, T7Object):
        raise ModelError(f"{where}: expected a Torch7 module, found {type(module).__name__}")
    fn = LAYERS.get(module.class_name)
    if fn is None:
        raise UnsupportedModuleError(
            f"{where}: {module.class_name} has no reference implementation "
            f"(supported: {', '.join(supported_classes())})" + broken_plugins(LAYERS.plugins))
    return fn
