"""t7convert: bring Torch7 (Lua) checkpoints, above all fb.resnet.torch ResNet and ResNeXt, into PyTorch.

The format layer (:func:`read`, :func:`write`) needs only numpy; :func:`load` and :func:`convert`
import torch when first called.
"""
from __future__ import annotations

import typing as _typing

from t7convert.common import interrupts as _interrupts

if _interrupts.is_console_script():  # before numpy's import: a Ctrl-C now is one line, not a traceback
    _interrupts.install_early()

from t7convert.common.errors import T7ConvertError, T7FileNotFoundError, T7FormatError, UnsupportedModuleError
from t7convert.common.inputs import open_regular
from t7convert.common.version import __version__
from t7convert.conversion.input_spec import InputSpec
from t7convert.torch7.format import T7Function, T7Object, T7Storage, read, read_document, write

__all__ = ["read", "read_document", "write", "load", "convert", "sample", "preprocess", "InputSpec", "T7ConvertError", "T7FormatError",
           "T7FileNotFoundError", "UnsupportedModuleError", "T7Object", "T7Storage", "T7Function", "__version__"]


def load(path: str, *, device: _typing.Any = None, generic: bool = False):
    """An eval-mode ``torch.nn.Module`` from a ``.t7`` file or a file t7convert converted.

    A ``.t7`` is parsed and converted before torch is imported, so a bad file fails fast. The module owns
    its weights (:func:`~t7convert.pytorch.build.own_memory`): the file may change or go afterwards.
    """
    from t7convert.conversion.model import convert_file, converted_kind

    try:
        with open_regular(path) as f:
            head = f.read(64)
    except FileNotFoundError:
        raise T7FileNotFoundError(f"{path}: no such file") from None
    except OSError as e:
        raise T7ConvertError(f"{path}: cannot read: {e.strerror or e}") from None
    kind = converted_kind(head)
    if kind is None:
        converted = convert_file(path, generic=generic)  # before torch is imported: a bad file fails fast
        from t7convert.pytorch.build import module_of

        module = module_of(converted)
        if "input" not in module.data_config:  # what the file implies, as a conversion would store it
            from t7convert.pytorch.input_shape import find_input
            try:
                module.data_config["input"] = find_input(converted).spec
            except T7ConvertError:
                pass  # nothing decides: data_config says nothing of the input
    else:
        from t7convert.pytorch.files import load_converted

        module = load_converted(path, kind)
    if device is not None and _torch_device(device).type != "cpu":
        return module.to(device)  # copies already
    from t7convert.pytorch.build import own_memory

    return own_memory(module.to(device) if device is not None else module)


def _torch_device(device: _typing.Any):
    import torch

    return torch.device(device)


def convert(path: str, output: str | None = None, **options: _typing.Any):
    """Convert a ``.t7`` model; see :func:`t7convert.api.convert`."""
    from t7convert.api import convert as _convert
    return _convert(path, output, **options)


def sample(path: str, **options: _typing.Any):
    """Text from a char-rnn / torch-rnn / rnn checkpoint, an iterator of strings; see
    :func:`t7convert.api.sample`."""
    from t7convert.api import sample as _sample
    return _sample(path, **options)


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
