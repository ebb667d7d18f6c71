"""t7convert: bring Torch7 (Lua) checkpoints, above all fb.resnet.torch ResNet and ResNeXt, into PyTorch.

    load(path, *, device=None, generic=False) -> torch.nn.Module
        model = t7convert.load("resnet-50.t7")            # a .t7, or a file t7convert converted
    convert(path, output=None, *, fmt=None, generic=False, force=False, verify=True, input=None,
            input_shape=None, batch=1, rtol=1e-5, seed=0, key=None, progress=None, memory_limit=None) -> ConversionReport
        report = t7convert.convert("resnet-50.t7", "resnet-50.pth")   # verified, then written atomically
    parity(t7_file, model_file=None, *, reference_file=None, image=None, input=None, input_shape=None,
           batch=None, seed=None, device="cpu", rtol=1e-5, no_module=False, progress=None, memory_limit=None) -> ParityRun
        print(t7convert.parity("resnet-50.t7", "resnet-50.pth").render())
    sample(path, *, primetext="", length=2000, temperature=1.0, sample=True, seed=123, key=None) -> Iterator[str]
        text = "".join(t7convert.sample("lm_lstm.t7", primetext="The "))
    read(path, *, all=False, long_size=None, encoding=None, max_depth=...) -> Any
        model = t7convert.read("model.t7"); model.at("modules[1]").weight
    write(path, obj, *, encoding="binary", long_size=8) -> None
        t7convert.write("mean.t7", {"mean": numpy.zeros(3, numpy.float32)})
    inspect(path) -> Inspection
        print(t7convert.inspect("model.t7").parameters)

Errors about the input raise :class:`T7ConvertError` (the command line's exit 2); a verification that
fails raises :class:`VerificationError` and writes nothing. The format layer (``read``, ``write``) needs
only numpy; ``load``, ``convert``, ``parity`` and ``sample`` import torch when first called.
"""
from __future__ import annotations

import sys as _sys
import types as _types
import typing as _typing

from t7convert.common import interrupts as _interrupts

if _interrupts.is_console_script():  # before numpy's import: a Ctrl-C now is one line, not a traceback
    _interrupts.install_early()

from t7convert.api import ConversionReport as ConversionReport
from t7convert.api import VerificationError, convert, inspect, load, parity, sample
from t7convert.common.errors import T7ConvertError
from t7convert.common.errors import T7FileNotFoundError as T7FileNotFoundError
from t7convert.common.errors import T7FormatError as T7FormatError
from t7convert.common.errors import UnsupportedModuleError as UnsupportedModuleError
from t7convert.common.version import __version__
from t7convert.conversion.input_spec import InputSpec
from t7convert.torch7.format import T7Function as T7Function
from t7convert.torch7.format import T7Object as T7Object
from t7convert.torch7.format import T7Storage as T7Storage
from t7convert.torch7.format import read, write
from t7convert.torch7.format import read_document as read_document

__all__ = ["load", "convert", "parity", "sample", "read", "write", "inspect", "InputSpec", "T7ConvertError",
           "VerificationError", "__version__"]
# also importable from here, documented where they are defined and left out of ``help(t7convert)`` and
# ``dir``: read_document, preprocess, ConversionReport, T7FormatError, T7FileNotFoundError,
# UnsupportedModuleError, T7Object, T7Storage, T7Function


class _Package(_types.ModuleType):
    """The package's module type: importing the subpackage ``t7convert.parity`` (the comparison's
    machinery) must not replace the function :func:`parity` the package exports under the same name,
    as the import system otherwise does by setting the parent's attribute."""

    def __setattr__(self, name: str, value: _typing.Any) -> None:
        if name == "parity" and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> _typing.Any:
    """``t7convert.preprocess``: fb.resnet.torch's exact transforms (:mod:`t7convert.imagenet.preprocess`),
    imported on first use so that ``import t7convert`` stays light."""
    if name == "preprocess":
        import importlib

        return importlib.import_module("t7convert.imagenet.preprocess")
    raise AttributeError(f"module 't7convert' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names only (not the modules and helpers that importing the package brings in)."""
    return sorted(__all__)
