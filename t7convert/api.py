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

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.model import ConvertedModel, convert_file
from t7convert.pytorch.build import module_from_state, module_of, stage_modules
from t7convert.pytorch.files import check_format, check_input, check_output, save
from t7convert.pytorch.input_shape import default_input_shape

__all__ = ["convert", "convert_file", "load", "save", "sample", "module_from_state", "stage_modules", "ConvertedModel",
           "ConversionReport", "VerificationError", "default_input_shape"]

Progress = Callable[..., None]
"""``progress(message, done=None, total=None)``: a step began, or ``done`` of ``total`` units are finished."""


def load(path: str, *, device: str | torch.device | None = None, generic: bool = False) -> nn.Module:
    """An eval-mode module from a .t7 file, or from a file t7convert converted (see :func:`t7convert.load`)."""
    from t7convert import load as front_door

    return front_door(path, device=device, generic=generic)


@dataclass
class ConversionReport:
    """What ``convert`` did, for the summary the command prints (and ``--json``)."""

    source: str
    output: str | None
    converted: ConvertedModel
    output_bytes: int = 0
    verification: Any = None          # a parity report, or None when not verified
    input_shape: tuple[int, ...] | None = None
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
            shape = self.input_text or ("x".join(map(str, self.input_shape)) if self.input_shape else "?")
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
            force: bool = False, verify: bool = True, input_shape: tuple[int, ...] | None = None,
            batch: int = 1, rtol: float = 1e-5, seed: int = 0, key: str | None = None,
            progress: Progress | None = None) -> ConversionReport:
    """Convert ``path``; verify against the reference execution (unless ``verify=False``); write ``output``.

    A verification beyond ``rtol`` raises :class:`VerificationError` and writes nothing. ``progress``
    is told each step, and during verification how many layers of how many have run. ``key``: the dotted
    path of the model in a checkpoint table (``protos.rnn``); by default the one its project documents.
    """
    step = progress or (lambda _msg, _done=None, _total=None: None)
    check_input(path)
    if output is not None:
        fmt = check_format(output, fmt)
        check_output(output, path, force=force)
    step("reading and converting")
    converted = convert_file(path, generic=generic, key=key)
    report = ConversionReport(source=path, output=output, converted=converted)
    if verify:
        from t7convert.parity.compare import random_input, shape_text
        from t7convert.parity.compare import verify as run_parity

        spec = converted.inputs  # a table, or token indices
        if spec is not None and input_shape is not None and not spec["table"]:  # indices of the size given
            spec = {**spec, "inputs": [{**spec["inputs"][0], "shape": list(input_shape), "whole": False}]}
        if spec is not None and (input_shape is None or not spec["table"]):
            from t7convert.conversion.graph_inputs import describe_inputs, random_inputs
            x = random_inputs(spec, batch, seed)
            report.input_text = describe_inputs(spec, batch)
        else:
            shape = tuple(input_shape) if input_shape else default_input_shape(converted)
            report.input_shape = shape
            x = random_input(shape, batch, seed)  # what `t7convert parity --seed` draws too
        message = "verifying against the reference execution of the Torch7 graph"
        try:
            report.verification = run_parity(module_of(converted), converted.t7_model, x, rtol=rtol,
                                             progress=lambda done, total: step(message, done, total))
        except T7ConvertError as e:  # an input the model cannot take: name the file, as parity does
            hint = "" if input_shape else (" (the input size was guessed; give one: --input-size C,H,W,"
                                          " or input_shape=(C, H, W))")
            raise T7ConvertError(f"{path}: on input {shape_text(x)}: {e}{hint}") from None
        if not report.verification.ok:
            raise VerificationError(report)
    if output is not None:
        step(f"writing {output}")
        report.output_bytes = save(converted, output, fmt=fmt, force=force)
    return report


def sample(path: str, *, primetext: str = "", length: int = 2000, temperature: float = 1.0, sample: bool = True,
           seed: int = 123, key: str | None = None) -> Iterator[str]:
    """Text from a char-rnn, torch-rnn or rnn checkpoint (the ``.t7`` or its converted file), a piece at a
    time, as the project's ``sample.lua`` makes it (:mod:`t7convert.pytorch.sampling`). ``sample=False``
    is the arg-max text, exactly Torch7's; with sampling on, torch's generator seeded with ``seed``
    draws (Torch7's cannot be reproduced). Runs in float64."""
    from t7convert.conversion.model import converted_kind
    from t7convert.pytorch.sampling import sample_text

    try:
        with open(path, "rb") as f:
            kind = converted_kind(f.read(64))
    except OSError as e:
        raise T7ConvertError(f"{path}: cannot read: {e.strerror or e}") from None
    if kind is None:
        converted = convert_file(path, key=key)
        module, info = module_of(converted), converted.info()
    else:
        from t7convert.pytorch.files import load_converted
        module = load_converted(path, kind)
        info = getattr(module, "t7convert_info", None) or {}
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

