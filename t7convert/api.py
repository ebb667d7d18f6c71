"""The Python API behind the command line: convert a ``.t7`` model, save it, load it back.

``convert`` reads the file (lazily: only the weights it maps are ever paged in), converts every module
with the per-family converters, maps fb.resnet.torch/ResNeXt graphs onto torchvision's layout (unless
``generic``), verifies the result against the independent reference execution of the Torch7 graph, and
only then writes the output, atomically.

Converted files load with ``torch.load(path, weights_only=True)``: a canonical ``.pth`` is a bare
torchvision state_dict (its architecture is derivable from the keys and shapes); a generic one is
``{"t7convert": {...architecture as plain data...}, "state_dict": {...}}``; safetensors files carry the
same description in their metadata.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator

from t7convert.common.errors import T7ConvertError, T7FileNotFoundError

if TYPE_CHECKING:  # torch, and the conversion, are imported by the functions that need them:
    import torch  # ``import t7convert`` stays light
    from torch import nn

    from t7convert.common.file_identity import FileIdentity
    from t7convert.conversion.inspection import Inspection
    from t7convert.conversion.model import ConvertedModel
    from t7convert.parity.run import ParityRun

__all__ = ["load", "convert", "parity", "sample", "inspect", "ConversionReport", "VerificationError"]

Progress = Callable[..., None]
"""``progress(message, done=None, total=None)``: a step began, or ``done`` of ``total`` units are finished."""


def load(path: str, *, device: str | torch.device | None = None, generic: bool = False) -> nn.Module:
    """An eval-mode ``torch.nn.Module`` from a ``.t7`` file or a file t7convert converted.

    A ``.t7`` is parsed and converted before torch is imported, so a bad file fails fast; ``generic``
    keeps Torch7's own graph rather than torchvision's ResNet layout. The module owns its weights
    (:func:`~t7convert.pytorch.build.own_memory`): the file may change or go afterwards.

    >>> model = t7convert.load("resnet-50.t7")                  # doctest: +SKIP
    >>> model = t7convert.load("model.pth", device="cuda")       # doctest: +SKIP
    """
    module, _ = _module_of_file(path, generic=generic)
    from t7convert.pytorch.build import own_memory

    if device is None:
        return own_memory(module)
    import torch

    if torch.device(device).type != "cpu":
        return module.to(device)  # copies already
    return own_memory(module.to(device))


def _module_of_file(path: str, *, generic: bool = False, key: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The module of a ``.t7`` (converted here) or of a file t7convert converted (sniffed from its first
    bytes), with its description: the one place that tells the two apart."""
    from t7convert.conversion.model import convert_file, converted_kind

    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except FileNotFoundError:
        raise T7FileNotFoundError(f"{path}: no such file") from None
    except OSError as e:
        raise T7ConvertError(f"{path}: cannot read: {e.strerror or e}") from None
    kind = converted_kind(head)
    if kind is None:
        converted = convert_file(path, generic=generic, key=key)  # before torch is imported: fails fast
        from t7convert.pytorch.build import module_of

        return module_of(converted), converted.info()
    from t7convert.pytorch.files import load_converted

    module = load_converted(path, kind)
    return module, getattr(module, "t7convert_info", None) or {}


def inspect(path: str) -> Inspection:
    """What a ``.t7`` file holds, without converting it (and without torch): its model, parameter count,
    the layers that do not run at test time, legacy fields. ``str()`` of it is ``t7convert inspect``'s tree.

    >>> print(t7convert.inspect("model.t7").parameters)          # doctest: +SKIP
    """
    from t7convert.conversion.inspection import inspect_file

    return inspect_file(path)


@dataclass
class ConversionReport:
    """What ``convert`` did, for the summary the command prints (and ``--json``)."""

    source: str
    output: str | None
    converted: ConvertedModel
    output_bytes: int = 0
    verification: Any = None          # a parity report, or None when not verified
    input_shape: Any = None           # a sample's shape, or a table input's spec (a list)
    input_text: str = ""              # the verification input of a table or index model ({3, 3x24})

    def to_json(self) -> dict[str, Any]:
        c = self.converted
        v = self.verification
        return {"source": self.source, "output": self.output, "kind": c.kind, "title": c.title,
                "torchvision": c.spec.torchvision_name if c.spec else None,
                "architecture": c.architecture if c.kind == "canonical" else None,
                "not_canonical": c.not_canonical, "parameters": c.parameters, "dropped": dict(c.dropped),
                "notes": c.notes, "output_bytes": self.output_bytes, "input_shape": self.input_shape,
                "input": self.input_text or None, "found_in": c.found_in, "table_entries": c.others,
                "checkpoint": c.checkpoint.get("project"),
                "verification": v.to_dict() if v is not None else None}

    def __str__(self) -> str:
        """A few lines, as the command prints them: what the model is, its size, the verification, the output."""
        c, v = self.converted, self.verification
        lines = [f"{self.source}: {c.title}", f"  parameters: {c.parameters:,}"]
        if v is None:
            lines.append("  verification: not run")
        else:
            from t7convert.parity.compare import describe_spec
            shape = self.input_text or (describe_spec(self.input_shape) if self.input_shape else "?")
            lines.append(f"  verification ({shape} random input): {v.summary()}")
        if self.output and self.output_bytes:
            lines.append(f"  output: {self.output} ({self.output_bytes:,} bytes)")
        else:
            lines.append("  output: not written")
        return "\n".join(lines)

    def __repr__(self) -> str:
        v = self.verification
        verified = "not verified" if v is None else ("verified" if v.ok else "verification failed")
        return (f"<ConversionReport {self.source!r} -> {self.output!r}: {self.converted.title}, "
                f"{self.converted.parameters:,} parameters, {verified}>")


def convert(path: str, output: str | None = None, *, fmt: str | None = None, generic: bool = False,
            force: bool = False, verify: bool = True, input_shape: Any = None,
            batch: int = 1, rtol: float = 1e-5, seed: int = 0, key: str | None = None,
            progress: Progress | None = None, memory_limit: int | None = None) -> ConversionReport:
    """Convert ``path``; verify against the reference execution (unless ``verify=False``); write ``output``.

    A verification beyond ``rtol`` raises :class:`VerificationError` and writes nothing; one that would
    need more than ``memory_limit`` bytes (default: half the available memory) is refused before it runs
    (see :mod:`t7convert.parity.memory`). ``progress`` is told each step, and during verification how
    many layers of how many have run. ``key``: the dotted path of the model in a checkpoint table
    (``protos.rnn``); by default the one its project documents.

    >>> report = t7convert.convert("resnet-50.t7", "resnet-50.pth")          # doctest: +SKIP
    >>> print(report)            # what it is, its parameters, the verification, the output   # doctest: +SKIP
    """
    from t7convert.common.file_identity import file_identity
    from t7convert.conversion.budget import state_digest
    from t7convert.conversion.data_config import generic_data_config
    from t7convert.conversion.model import convert_file
    from t7convert.pytorch.build import module_of
    from t7convert.pytorch.files import check_format, check_input, check_output, save
    from t7convert.pytorch.input_shape import Unbatched, default_input_shape

    step = progress or (lambda _msg, _done=None, _total=None: None)
    check_input(path)
    if output is not None:
        fmt = check_format(output, fmt)
        check_output(output, path, force=force)
    step("reading and converting")
    identity = file_identity(path)
    converted = convert_file(path, generic=generic, key=key)
    report = ConversionReport(source=path, output=output, converted=converted)
    digest = state_digest(converted.state) if verify and output is not None else None
    if verify:
        from t7convert.parity.compare import describe_input, random_input
        from t7convert.parity.compare import verify as run_parity

        spec = converted.inputs  # a gModule's table, or token indices (conversion.graph_inputs)
        if spec is not None and input_shape is not None and not spec["table"] and not isinstance(input_shape, (list, dict)):
            spec = {**spec, "inputs": [{**spec["inputs"][0], "shape": list(input_shape), "whole": False}]}
        if spec is not None and (input_shape is None or not spec["table"]):
            from t7convert.conversion.graph_inputs import describe_inputs, random_inputs
            x = random_inputs(spec, batch, seed)
            report.input_text = describe_inputs(spec, batch)
            shape = None
        else:  # a sample's shape, or the table spec the first op declares
            shape = (input_shape if isinstance(input_shape, (list, dict)) else tuple(input_shape)) if input_shape \
                else default_input_shape(converted)
            if isinstance(shape, tuple):  # a tensor input: its memory is planned (a table's is small)
                shape, note = _planned_shape(converted, shape, batch, memory_limit, guessed=not input_shape)
                if note:
                    converted = replace(converted, notes=[*converted.notes, note])
                    report.converted = converted
            report.input_shape = shape
            x = random_input(shape, batch, seed)  # what `t7convert parity --seed` draws too
            if isinstance(shape, Unbatched):  # a model that takes one sample only
                x = x[0]
        message = "verifying against the reference execution of the Torch7 graph"
        try:
            report.verification = run_parity(module_of(converted), converted.t7_model, x, rtol=rtol,
                                             progress=lambda done, total: step(message, done, total))
        except T7ConvertError as e:  # an input the model cannot take: name the file, as parity does
            hint = "" if input_shape else (" (the input size was guessed; give one: --input-size C,H,W,"
                                          " or input_shape=(C, H, W))")
            raise T7ConvertError(f"{path}: on input {describe_input(x)}: {e}{hint}") from None
        if not report.verification.ok:
            raise VerificationError(report)
        out = report.verification.output
        if converted.kind == "generic":
            out_shape = tuple(out.shape) if out is not None and out.shape else None
            converted = replace(converted, data_config=generic_data_config(shape, out_shape, batch))
    elif converted.kind == "generic" and input_shape:
        converted = replace(converted, data_config=generic_data_config(
            input_shape if isinstance(input_shape, (list, dict)) else tuple(input_shape), None))
    report.converted = converted
    if output is not None:
        step(f"writing {output}")
        report.output_bytes = save(converted, output, fmt=fmt, force=force,
                                   before_publish=lambda: _unchanged(path, identity, converted, digest))
    return report


def _planned_shape(converted: ConvertedModel, shape: tuple, batch: int, memory_limit: int | None, *,
                   guessed: bool) -> tuple[tuple, str | None]:
    """The verification input after its memory plan, and the note saying it was made smaller: a size
    the user gave is refused past the budget; a guessed one falls back to the largest smaller size the
    model accepts that fits."""
    from t7convert.parity.memory import check_budget, fit_budget
    from t7convert.pytorch.input_shape import Unbatched, smaller_input_shapes

    if not guessed:
        check_budget(converted.info(), converted.state,
                     tuple(shape) if isinstance(shape, Unbatched) else (batch, *shape), memory_limit)
        return shape, None
    return fit_budget(converted.info(), converted.state, shape, batch, memory_limit,
                      smaller_input_shapes(converted, shape))


def _unchanged(path: str, before: FileIdentity | None, converted: ConvertedModel,
               digest: int | None) -> None:
    """The input is memory-mapped and its weights are written from the mapping: a file rewritten while
    it was converted (a download or a re-save to the same path) would be saved unverified. Checked once
    the output's bytes are written, before they are put in place: the file's identity, and (when it was
    verified) a digest of the weights taken before the verification."""
    from t7convert.common.file_identity import file_identity
    from t7convert.conversion.budget import state_digest

    if file_identity(path) != before:
        what = "its size or modification time differs"
    elif digest is not None and state_digest(converted.state) != digest:
        what = "its weights differ from the ones verified"
    else:
        return
    raise T7ConvertError(f"{path} changed while it was being converted ({what}); nothing was written: "
                         "convert it again once it is complete")


def sample(path: str, *, primetext: str = "", length: int = 2000, temperature: float = 1.0, sample: bool = True,
           seed: int = 123, key: str | None = None) -> Iterator[str]:
    """Text from a char-rnn, torch-rnn or rnn checkpoint (the ``.t7`` or its converted file), a piece at a
    time, as the project's ``sample.lua`` makes it (:mod:`t7convert.pytorch.sampling`). ``sample=False``
    is the arg-max text, exactly Torch7's; with sampling on, torch's generator seeded with ``seed``
    draws (Torch7's cannot be reproduced). Runs in float64.

    >>> print("".join(t7convert.sample("lm_lstm.t7", primetext="The ", length=200)))   # doctest: +SKIP
    """
    from t7convert.pytorch.sampling import sample_text

    module, info = _module_of_file(path, key=key)
    return sample_text(module.double().eval(), info, primetext=primetext, length=length, sample=sample,
                       temperature=temperature, seed=seed)


class VerificationError(T7ConvertError):
    """The converted model does not reproduce the Torch7 graph; nothing was written."""

    def __init__(self, report: ConversionReport) -> None:
        self.report = report
        v = report.verification
        where = getattr(v, "first_divergence", None)
        super().__init__("verification failed: the converted model differs from the Torch7 graph"
                         + (f", first at {where}" if where else "") + "; nothing was written")



def parity(t7_file: str, model_file: str | None = None, *, reference_file: str | None = None,
           image: str | None = None, input_shape: tuple[int, ...] | None = None, batch: int | None = None,
           seed: int | None = None, device: str = "cpu", rtol: float = 1e-5, no_module: bool = False,
           progress: Progress | None = None, memory_limit: int | None = None) -> ParityRun:
    """Prove (or refute) that the converted model computes what the Torch7 model does, stage by stage.

    The input is the one stored in ``reference_file`` (real Torch7's dump, whose outputs are compared
    too), or ``image`` preprocessed as fb.resnet.torch's validation, or a seeded random batch of
    ``input_shape`` (default: what the layers declare). The converted model is ``model_file``, or
    ``t7_file`` converted on the fly; ``no_module`` checks only the reference execution against
    ``reference_file``. Returns a :class:`t7convert.parity.run.ParityRun` (``.ok``, ``.render()``).

    >>> run = t7convert.parity("resnet-18.t7", "resnet-18.pth", input_shape=(3, 224, 224))   # doctest: +SKIP
    >>> run.ok, print(run.render())                                                         # doctest: +SKIP
    """
    import time

    import numpy as np

    from t7convert.conversion.model import convert_file
    from t7convert.parity.compare import random_input, read_torch7_outputs
    from t7convert.parity.memory import check_budget
    from t7convert.parity.run import run_parity
    from t7convert.pytorch.build import module_of
    from t7convert.pytorch.input_shape import Unbatched, default_input_shape

    if device == "cuda" and not no_module:
        import torch
        if not torch.cuda.is_available():
            raise T7ConvertError("--device cuda: no CUDA device is available")
    step = progress or (lambda _msg, _done=None, _total=None: None)
    # one parse serves both sides: the Torch7 modules for the reference execution, and (without
    # model_file) the conversion
    step("reading and converting")
    converted = convert_file(t7_file)
    torch7 = read_torch7_outputs(reference_file) if reference_file else None
    guessed = False
    if torch7 is not None:
        from t7convert.parity.compare import as_float32
        x = as_float32(torch7.input)  # a tensor, or a table of them (a gModule's inputs)
        source: dict[str, Any] = {"kind": "reference", "file": reference_file}
    elif image:
        from t7convert.imagenet.preprocess import load_image, val_transform
        _check_imagenet_input(converted, image)
        x = val_transform()(load_image(image)).numpy()[None].astype(np.float32)
        source = {"kind": "image", "file": image}
    elif converted.inputs is not None and not input_shape:  # a gModule's table of inputs, or token indices
        from t7convert.conversion.graph_inputs import random_inputs
        x = random_inputs(converted.inputs, batch or 1, 0 if seed is None else seed)
        source = {"kind": "random", "seed": 0 if seed is None else seed}
    else:
        shape = tuple(input_shape) if input_shape else default_input_shape(converted)
        guessed = not input_shape
        if not no_module and isinstance(shape, tuple):
            shape, _ = _planned_shape(converted, shape, batch or 1, memory_limit, guessed=guessed)
        x = random_input(shape, batch or 1, 0 if seed is None else seed)
        if isinstance(shape, Unbatched):
            x = x[0]
        source = {"kind": "random", "seed": 0 if seed is None else seed}
    module, seconds = None, None
    if not no_module and source["kind"] != "random" and isinstance(x, np.ndarray):
        check_budget(converted.info(), converted.state, tuple(x.shape), memory_limit)
    if not no_module:
        step("loading the converted model")
        start = time.perf_counter()
        module = load(model_file) if model_file else module_of(converted)
        seconds = time.perf_counter() - start
        if model_file:
            _check_same_graph(converted, module, t7_file, model_file)
    return run_parity(t7_file, converted.t7_model, x, source=source, module=module, model_file=model_file,
                      torch7=torch7, device=device, rtol=rtol, guessed_input=guessed, load_seconds=seconds,
                      progress=progress)


def _check_imagenet_input(converted: ConvertedModel, image: str) -> None:
    """``--image`` applies fb.resnet.torch's ImageNet validation transform (3x224x224): refuse a model
    that says it takes something else rather than feed it a meaningless input."""
    from t7convert.conversion.input_plan import declared_input, planned_size

    wants = None
    if converted.spec is not None and converted.spec.stem == "cifar":
        wants = "a CIFAR ResNet taking 3x32x32 images"
    elif converted.spec is None and converted.dag is not None:
        hint = declared_input(converted.dag)
        if isinstance(hint, int) and hint != 3 or isinstance(hint, tuple) and tuple(hint) != (3, 224, 224):
            shape = "x".join("?" if s is None else str(s) for s in hint) if isinstance(hint, tuple) else f"{hint} planes"
            wants = f"a model whose first layer takes {shape}"
        elif (planned := planned_size(converted.dag)) is not None and planned != (224, 224):
            wants = f"a model whose final average pooling implies 3x{planned[0]}x{planned[1]} input"
            if planned == (32, 32):
                wants += " (CIFAR)"
    if wants:
        raise T7ConvertError(f"{image}: --image applies fb.resnet.torch's ImageNet transform (resize 256, crop 224, "
                             f"3x224x224), but this is {wants}; use --input-size for a random input of its size, "
                             "or --reference with Torch7's own dump")


def _architecture_of(info: dict[str, Any]) -> tuple[str, Any]:
    """(a readable name, what must be equal) of a converted model's description."""
    if info.get("kind") == "canonical":
        return str(info.get("title") or info.get("architecture")), info.get("resnet")
    nodes = info.get("graph", {}).get("nodes", [])
    return f"a generic graph of {len(nodes)} nodes", [(n.get("op"), n.get("attrs")) for n in nodes]


def _check_same_graph(converted: ConvertedModel, module: nn.Module, t7_file: str, model_file: str) -> None:
    """Refuse in one line to compare two different architectures (a CIFAR .t7 against an ImageNet .pth):
    their stages cannot line up, and a table of inf would only hide the reason."""
    from t7convert.parity.run import GraphMismatch

    info = getattr(module, "t7convert_info", None)
    if info is None:
        return
    if getattr(module, "spec", None) is not None and "resnet" not in info:
        info = {"kind": "canonical", "title": module.spec.title, "resnet": module.spec.to_dict()}
    theirs_name, theirs = _architecture_of(info)
    ours_info = {**converted.info(), "title": converted.title}
    if info.get("kind") != "canonical" and converted.dag is not None:  # a --generic file of a canonical model
        ours_info = {"kind": "generic", "graph": converted.dag}
    ours_name, ours = _architecture_of(ours_info)
    if ours == theirs:
        return
    detail = ""
    if isinstance(ours, list) and isinstance(theirs, list):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if a != b:
                detail = f"; first difference at node {i + 1}: {a[0]} {a[1]} against {b[0]} {b[1]}"[:300]
                break
    raise GraphMismatch(f"{model_file} is not a conversion of {t7_file}: it holds {theirs_name}, the .t7 "
                        f"{ours_name}{detail}")
