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
from typing import TYPE_CHECKING, Any, Callable, Iterator

from t7convert.common.errors import T7ConvertError, T7FileNotFoundError
from t7convert.common.inputs import open_regular

if TYPE_CHECKING:  # torch, and the conversion, are imported by the functions that need them:
    import torch  # ``import t7convert`` stays light
    from torch import nn

    from t7convert.common.file_identity import FileIdentity
    from t7convert.conversion.input_spec import InputSpec
    from t7convert.conversion.inspection import Inspection
    from t7convert.conversion.model import ConvertedModel
    from t7convert.parity.run import ParityRun
    from t7convert.pytorch.input_shape import FoundInput

__all__ = ["load", "convert", "parity", "sample", "inspect", "describe_converted", "ConversionReport",
           "VerificationError"]

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
    module, _ = _module_of_file(path, generic=generic, with_input=True)
    from t7convert.pytorch.build import own_memory

    if device is None:
        return own_memory(module)
    import torch

    if torch.device(device).type != "cpu":
        return module.to(device)  # copies already
    return own_memory(module.to(device))


def _module_of_file(path: str, *, generic: bool = False, key: str | None = None,
                    with_input: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """The module of a ``.t7`` (converted here) or of a file t7convert converted (sniffed from its first
    bytes), with its description: the one place that tells the two apart."""
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
        converted = convert_file(path, generic=generic, key=key)  # before torch is imported: fails fast
        from t7convert.pytorch.build import module_of

        module = module_of(converted)
        if with_input and "input" not in module.data_config:  # what the file implies, as a conversion would store it
            from t7convert.pytorch.input_shape import find_input
            try:
                module.data_config["input"] = find_input(converted).spec
            except T7ConvertError:
                pass  # nothing decides: data_config says nothing of the input
        return module, converted.info()
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
    input: InputSpec | None = None    # what the verification ran on
    input_source: str = ""            # which source decided it (pytorch.input_shape.FROM_*)
    batch: int = 1                    # the verification's batch
    batch_fixed_by: str = ""          # the layer that fixes it (``modules[..] (nn.View(32, 12800))``), if one does
    export_error: float | None = None  # an .onnx/.pt2/source output's worst relative error on that input

    @property
    def input_shape(self) -> Any:
        """The verification input's per-sample shape (a tensor), or its spec (a table): the old name."""
        if self.input is None:
            return None
        return self.input if self.input.is_table else tuple(self.input.shape)

    def input_text(self) -> str:
        """``3x192x192 (batch of 32, fixed by modules[1].modules[5] (nn.View(32, 12800))), from ...``."""
        if self.input is None:
            return "?"
        text = self.input.describe(self.batch)
        if self.batch_fixed_by and text.endswith(")"):
            text = text[:-1] + f", fixed by {self.batch_fixed_by})"
        return f"{text}, from {self.input_source}"

    def to_json(self) -> dict[str, Any]:
        c = self.converted
        v = self.verification
        return {"source": self.source, "output": self.output, "kind": c.kind, "title": c.title,
                "torchvision": c.spec.torchvision_name if c.spec else None,
                "architecture": c.architecture if c.kind == "canonical" else None,
                "not_canonical": c.not_canonical, "parameters": c.parameters, "dropped": dict(c.dropped),
                "notes": c.notes, "output_bytes": self.output_bytes, "output_error": self.export_error,
                "input": str(self.input) if self.input is not None else None,
                "input_spec": self.input.to_json() if self.input is not None else None,
                "input_source": self.input_source or None, "batch": self.batch,
                "batch_fixed_by": self.batch_fixed_by or None, "found_in": c.found_in, "table_entries": c.others,
                "checkpoint": c.checkpoint.get("project"), "convention": c.convention, "model_name": c.model_name,
                "models": c.models,
                "verification": v.to_dict() if v is not None else None}

    def __str__(self) -> str:
        """A few lines, as the command prints them: what the model is, its size, the verification, the output."""
        c, v = self.converted, self.verification
        lines = [f"{self.source}: {c.title}", f"  parameters: {c.parameters:,}"]
        if v is None:
            lines.append("  verification: not run")
        else:
            lines.append(f"  input: {self.input_text()}")
            lines.append(f"  verification (random input): {v.summary()}")
        if self.output and self.output_bytes:
            lines.append(f"  output: {self.output} ({self.output_bytes:,} bytes)")
            if self.export_error is not None:
                lines.append(f"  output verified: runs standalone, worst relative error {self.export_error:.2e}")
        else:
            lines.append("  output: not written")
        return "\n".join(lines)

    def __repr__(self) -> str:
        v = self.verification
        verified = "not verified" if v is None else ("verified" if v.ok else "verification failed")
        return (f"<ConversionReport {self.source!r} -> {self.output!r}: {self.converted.title}, "
                f"{self.converted.parameters:,} parameters, {verified}>")


def convert(path: str, output: str | None = None, *, fmt: str | None = None, generic: bool = False,
            force: bool = False, verify: bool = True, input: Any = None, input_shape: Any = None,
            batch: int | None = None, rtol: float = 1e-5, seed: int = 0, key: str | None = None,
            progress: Progress | None = None, memory_limit: int | None = None) -> ConversionReport:
    """Convert ``path``; verify against the reference execution (unless ``verify=False``); write ``output``.

    A verification beyond ``rtol`` raises :class:`VerificationError` and writes nothing; one that would
    need more than ``memory_limit`` bytes (default: half the available memory) is refused before it runs
    (see :mod:`t7convert.parity.memory`). ``progress`` is told each step, and during verification how
    many layers of how many have run. ``key``: which model of a checkpoint: its name in the project's
    layout (``"decoder"``, ``"best_model"``) or a dotted path (``protos.rnn``); by default the project's
    main one (the report's ``converted.models`` lists them all, ``converted.convention`` says which
    layout matched). ``input``: the verification input, an
    :class:`~t7convert.conversion.input_spec.InputSpec`, its text (``"3x32x32"``, ``"{13, 128x3}"``,
    ``"idx[1..90] x 50"``) or a sample's shape (``input_shape`` is the same, its old name); by default
    the one the file implies (:func:`t7convert.pytorch.input_shape.find_input`, the summary names the source).
    ``batch``: the verification's batch; by default 1, or the batch a layer fixes (deepmask's
    ``nn.View(config.batch, n)``: the summary names the layer).

    >>> report = t7convert.convert("resnet-50.t7", "resnet-50.pth")          # doctest: +SKIP
    >>> print(report)            # what it is, its parameters, the verification, the output   # doctest: +SKIP
    """
    from t7convert.common.file_identity import file_identity
    from t7convert.conversion.budget import state_digest
    from t7convert.conversion.data_config import generic_data_config
    from t7convert.conversion.input_spec import as_spec
    from t7convert.conversion.model import convert_file
    from t7convert.pytorch.build import module_of
    from t7convert.pytorch.files import EXPORT_FORMATS, check_format, check_input, check_not_source, check_output, save
    from t7convert.pytorch.input_shape import resolve

    step = progress or (lambda _msg, _done=None, _total=None: None)
    check_input(path)
    if output is not None:
        check_not_source(output, path)
        fmt = check_format(output, fmt)
        if fmt in EXPORT_FORMATS:  # .onnx, .pt2, a source folder: t7convert.export, verified as written
            from t7convert.export import check_available, check_output_folder
            if not verify:
                raise T7ConvertError(f"{output}: {fmt} outputs are verified against the Torch7 graph as they are "
                                     "written; drop --no-verify")
            check_available(fmt)
            if fmt == "source":
                check_output_folder(output, force=force)
            else:
                check_output(output, path, force=force)
        else:
            check_output(output, path, force=force)
    step("reading and converting")
    identity = file_identity(path)
    converted = convert_file(path, generic=generic, key=key)
    report = ConversionReport(source=path, output=output, converted=converted)
    digest = state_digest(converted.state) if verify and output is not None else None
    given = as_spec(input if input is not None else input_shape)
    if verify:
        from t7convert.parity.compare import verify as run_parity

        first_error: T7ConvertError | None = None
        tried: list[str] = []
        for attempt, found in enumerate(_inputs_of(converted, given, batch)):
            spec, source = found.spec, found.source
            n = batch if batch is not None else (found.batch or 1)
            fixed_by = found.fixed_by if batch in (None, found.batch) else ""  # a batch given overrides the layer's
            hint = "" if given is not None else (f" (the input {spec} came from {source}; give "
                                                 "another with --input, or input=)")
            if fixed_by:
                hint = f" (a batch of {n}, fixed by {fixed_by})"
                _check_fixed_batch(path, spec, n, fixed_by)
            message = "verifying against the reference execution of the Torch7 graph"
            try:
                if not spec.is_table and not spec.is_index:  # a tensor: its memory planned, a smaller one if found
                    spec = _planned(converted, spec, n, memory_limit, guessed=given is None and not fixed_by,
                                    path=path, hint=hint)
                x = spec.draw(n, seed)  # what `t7convert parity --seed` draws too
                if spec.is_table or spec.is_index:  # indices, a table of inputs: planned as they are drawn
                    _check_plan(converted, x, memory_limit, path, hint)
                verification = run_parity(module_of(converted), converted.t7_model, x, rtol=rtol,
                                          progress=lambda done, total: step(message, done, total))
            except T7ConvertError as e:  # an input the model cannot take: name the file, as parity does
                error = e if str(e).startswith(f"{path}: ") else \
                    T7ConvertError(f"{path}: on input {spec}: {e}{hint}")
                first_error = first_error or error
                tried.append(str(spec))
                if given is None and attempt < _INPUT_TRIES - 1 and not _over_budget(e):
                    continue  # the reference (or the dry run) refuses a candidate the shape-only run took
                raise _none_taken(path, tried, first_error) from None
            report.verification, report.input, report.input_source = verification, spec, source
            report.batch, report.batch_fixed_by = n, fixed_by
            break
        else:
            assert first_error is not None
            raise _none_taken(path, tried, first_error)
        if not report.verification.ok:
            raise VerificationError(report)
        out = report.verification.output
        if converted.kind == "generic":
            out_shape = tuple(out.shape) if out is not None and out.shape else None
            converted.data_config = generic_data_config(spec, out_shape, report.batch)
            if report.batch_fixed_by:  # a loaded model takes that batch only
                converted.data_config["fixed_batch"] = report.batch
    elif converted.kind == "generic" and given is not None:
        converted.data_config = generic_data_config(resolve(converted, given), None)
    if output is not None and fmt in EXPORT_FORMATS:
        step(f"writing and verifying {output}")
        _export(report, fmt, x, seed, force, lambda: _unchanged(path, identity, converted, digest))
    elif output is not None:
        step(f"writing {output}")
        report.output_bytes = save(converted, output, fmt=fmt, force=force,
                                   before_publish=lambda: _unchanged(path, identity, converted, digest),
                                   provenance=_provenance(report, seed))
    return report


_INPUT_TRIES = 6  # found inputs a verification tries before it reports the first one's refusal


def _over_budget(error: T7ConvertError) -> bool:
    """A refusal of the memory plan (not of the input): the next candidate is not tried for it."""
    return "would need" in str(error) and "the limit is" in str(error)


def _none_taken(path: str, tried: list[str], first: T7ConvertError) -> T7ConvertError:
    """One line when the reference refused every input the file implied: what was tried, the first
    refusal, what to give; the refusal itself when there was only one (or the input was given)."""
    if len(tried) < 2:
        return first
    why = str(first).split(": on input ", 1)[-1]
    return T7ConvertError(f"{path}: could not find an input this model accepts: tried {', '.join(tried[:6])}, "
                          f"each refused (first on {why}); give one with --input, e.g. --input 3x32x32, "
                          "--input 784, --input '{13, 128x3}' or --input 'idx[1..100] x 5'")


def _inputs_of(converted: ConvertedModel, given: InputSpec | None, batch: int | None = None) -> Iterator[FoundInput]:
    """The given input (its batch dimension decided by the model, and its batch by a layer that fixes it
    when ``batch`` is not given), else those the file implies, best first."""
    from t7convert.pytorch.input_shape import FROM_USER, FoundInput, fixed_batch, input_candidates, resolve

    if given is not None:
        spec = resolve(converted, given)
        fixed = fixed_batch(converted, spec) if batch is None else None
        yield FoundInput(spec, FROM_USER, *fixed) if fixed is not None else FoundInput(spec, FROM_USER)
        return
    yield from input_candidates(converted)


def _check_fixed_batch(path: str, spec: InputSpec, batch: int, fixed_by: str) -> None:
    """A batch a layer fixes is taken as the file says, within bounds: an input past what anyone can
    verify on (a hostile ``nn.View(2^40, n)``) is refused in one line before anything is drawn or planned."""
    from t7convert.conversion.input_spec import MAX_ELEMENTS

    elements = spec.elements(batch)
    if elements > MAX_ELEMENTS:
        raise T7ConvertError(f"{path}: the batch of {batch:,} fixed by {fixed_by} makes a verification input of "
                             f"{elements:,} elements (more than {MAX_ELEMENTS:,}): no verification can run on it; "
                             "pass --no-verify")


def _input_of(converted: ConvertedModel, given: InputSpec | None) -> tuple[InputSpec, str]:
    """The input to verify on and where it came from: the given one (its batch dimension decided by the
    model), else the one the file implies."""
    from t7convert.pytorch.input_shape import FROM_USER, find_input, resolve

    if given is not None:
        return resolve(converted, given), FROM_USER
    found = find_input(converted)
    return found.spec, found.source


def _check_plan(converted: ConvertedModel, x: Any, memory_limit: int | None, path: str, hint: str = "") -> None:
    """The memory plan of a verification on ``x`` (an input as drawn: indices, a table): refused past the
    budget, or when the model does not run on it (said with the file and the input, as a failed run is)."""
    from t7convert.parity.compare import describe_input
    from t7convert.parity.memory import UnplannedError, check_budget

    try:
        check_budget(converted.info(), converted.state, x, memory_limit)
    except UnplannedError as e:
        raise T7ConvertError(f"{path}: on input {describe_input(x)}: {e}{hint}") from None


def _provenance(report: ConversionReport, seed: int) -> dict[str, str]:
    """What the output came from: the source's name and sha256, t7convert's version, the verification input
    and its worst relative error. Unverified (--no-verify) outputs skip the hash: it would cost a read of the
    whole file, which the conversion itself avoids (the reader maps only the weights it uses)."""
    from t7convert.common.provenance import provenance

    v = report.verification
    if v is None:
        return provenance(report.source, sha256="not computed (--no-verify)")
    return provenance(report.source, verified_on=f"{report.input} random input (seed {seed})",
                      max_rel_error=v.output.max_rel if v.output is not None else None)


def _reference_at(converted: ConvertedModel) -> Callable[[Any], Any]:
    """The reference execution's output on another input (the exports' second size): it raises where the
    Torch7 model refuses that input, and gives None where it computes a non-finite output."""
    import numpy as np

    from t7convert.interpreter import run
    from t7convert.parity.compare import model_in

    model = model_in(converted.t7_model)

    def at(x: Any) -> Any:
        out = run(model, x, record=False).output
        leaves = out if isinstance(out, (list, tuple)) else [out]
        finite = all(np.isfinite(np.asarray(a, np.float64)).all() for a in _flat(leaves))
        return out if finite else None
    return at


def _flat(value: Any) -> list:
    return [t for v in value for t in _flat(v)] if isinstance(value, (list, tuple)) else [value]


def _export(report: ConversionReport, fmt: str, x: Any, seed: int, force: bool, before_publish: Callable[[], None]) -> None:
    """Write an .onnx, .pt2 or source folder (:mod:`t7convert.export`), run on the verification input ``x``
    against the reference execution's output before it is put in place; its provenance names the input."""
    from t7convert.export import write
    from t7convert.pytorch.build import module_of

    v = report.verification
    record = _provenance(report, seed)
    size, err, notes = write(fmt, module_of(report.converted), x, v.reference_output, str(report.output),
                             provenance=record, force=force, before_publish=before_publish,
                             reference_at=_reference_at(report.converted))
    report.output_bytes = size
    report.export_error = err
    report.converted.notes.extend(notes)


def _planned(converted: ConvertedModel, spec: InputSpec, batch: int, memory_limit: int | None, *,
             guessed: bool, path: str = "", hint: str = "") -> InputSpec:
    """The verification input after its memory plan: a size the user gave is refused past the budget; a
    found one falls back to the largest smaller size the model accepts that fits (noted). An input the
    model does not run on (its dry run fails) is refused, naming the file."""
    from t7convert.parity.memory import UnplannedError, check_budget, fit_budget
    from t7convert.pytorch.input_shape import smaller_input_shapes

    try:
        if not guessed:
            check_budget(converted.info(), converted.state, spec.full_shape(batch), memory_limit)
            return spec
        fitted, note = fit_budget(converted.info(), converted.state, spec, batch, memory_limit,
                                  smaller_input_shapes(converted, spec))
    except UnplannedError as e:
        raise T7ConvertError(f"{path}: on input {'x'.join(map(str, spec.full_shape(batch)))}: {e}{hint}") from None
    if note:
        converted.notes.append(note)
    return fitted


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



def describe_converted(path: str) -> dict[str, Any]:
    """What a ``.pth`` or safetensors file t7convert wrote says of itself: its architecture, description,
    data config and provenance (:func:`t7convert.pytorch.files.describe_converted`)."""
    from t7convert.conversion.model import converted_kind
    from t7convert.pytorch.files import describe_converted as describe

    try:
        with open_regular(path) as f:
            kind = converted_kind(f.read(64))
    except OSError as e:
        raise T7ConvertError(f"{path}: cannot read: {e.strerror or e}") from None
    if kind is None:
        raise T7ConvertError(f"{path}: not a PyTorch or safetensors file (inspect a .t7 with inspect_file)")
    described = describe(path, kind)
    from t7convert.export.provenance import read_provenance

    described["provenance"] = read_provenance(path)  # source sha256, version, verification input, worst error
    return described


def _check_parity_order(t7_file: str, model_file: str | None) -> None:
    """A converted file given first (``parity model.pth``, or the pair swapped) is a misuse of the
    command, said as such rather than as the .t7 reader's "this is a PyTorch checkpoint"."""
    from t7convert.conversion.model import converted_kind

    try:
        with open_regular(t7_file) as f:
            kind = converted_kind(f.read(64))
    except OSError:
        return  # the reader says what is wrong with it
    if kind is not None:
        what = "a PyTorch checkpoint" if kind == "torch" else "a safetensors file"
        usage = f"t7convert parity {model_file} {t7_file}" if model_file else f"t7convert parity MODEL.t7 {t7_file}"
        raise T7ConvertError(f"{t7_file} is {what} (a converted file): give the .t7 first, then the converted "
                             f"file ({usage})")


def parity(t7_file: str, model_file: str | None = None, *, reference_file: str | None = None,
           image: str | None = None, input: Any = None, input_shape: Any = None, batch: int | None = None,
           seed: int | None = None, device: str = "cpu", rtol: float = 1e-5, no_module: bool = False,
           progress: Progress | None = None, memory_limit: int | None = None, key: str | None = None) -> ParityRun:
    """Prove (or refute) that the converted model computes what the Torch7 model does, stage by stage.

    The input is the one stored in ``reference_file`` (real Torch7's dump, whose outputs are compared
    too), or ``image`` preprocessed as fb.resnet.torch's validation, or a seeded random batch of
    ``input`` (an InputSpec, its text or a sample's shape; ``input_shape`` is its old name; default:
    what the file implies, :func:`t7convert.pytorch.input_shape.find_input`). The converted model is ``model_file``, or
    ``t7_file`` converted on the fly; ``no_module`` checks only the reference execution against
    ``reference_file``. ``key`` picks the model of a checkpoint that holds several (as ``convert``'s
    ``key``); without it, a ``model_file`` converted with ``--key`` is compared with the model it was
    converted from (its description says where), else the file's default model.
    Returns a :class:`t7convert.parity.run.ParityRun` (``.ok``, ``.render()``).

    >>> run = t7convert.parity("resnet-18.t7", "resnet-18.pth", input="3x224x224")   # doctest: +SKIP
    >>> run.ok, print(run.render())                                                 # doctest: +SKIP
    """
    import time

    from t7convert.conversion.input_spec import as_spec
    from t7convert.conversion.model import convert_file
    from t7convert.parity.compare import read_torch7_outputs
    from t7convert.parity.run import run_parity
    from t7convert.pytorch.build import module_of

    if device == "cuda" and not no_module:
        import torch
        if not torch.cuda.is_available():
            raise T7ConvertError("--device cuda: no CUDA device is available")
    _check_parity_order(t7_file, model_file)
    step = progress or (lambda _msg, _done=None, _total=None: None)
    # one parse serves both sides: the Torch7 modules for the reference execution, and (without
    # model_file) the conversion
    module, seconds = None, None
    if model_file and not no_module:
        step("loading the converted model")
        start = time.perf_counter()
        module = load(model_file)
        seconds = time.perf_counter() - start
        key = key if key is not None else _found_in_of(module)
    step("reading and converting")
    converted = convert_file(t7_file, key=key)
    torch7 = read_torch7_outputs(reference_file) if reference_file else None
    guessed = False
    if torch7 is not None:
        from t7convert.parity.compare import as_float32
        x = as_float32(torch7.input)  # a tensor, or a table of them (a gModule's inputs)
        source: dict[str, Any] = {"kind": "reference", "file": reference_file}
    elif image:
        x = image_input(converted, image)
        source = {"kind": "image", "file": image}
    else:
        given = as_spec(input if input is not None else input_shape)
        guessed = given is None
        x, source = None, {}
    if not no_module and source.get("kind") in ("reference", "image") and x is not None:
        _check_plan(converted, x, memory_limit, t7_file)  # an image, Torch7's own input (a table too)
    if not no_module:
        if model_file:
            _check_same_graph(converted, module, t7_file, model_file)
        else:
            step("building the converted model")
            start = time.perf_counter()
            module = module_of(converted)
            seconds = time.perf_counter() - start
    if x is not None:
        return run_parity(t7_file, converted.t7_model, x, source=source, module=module, model_file=model_file,
                          torch7=torch7, device=device, rtol=rtol, guessed_input=guessed, load_seconds=seconds,
                          progress=progress)
    first_error: T7ConvertError | None = None
    for attempt, found in enumerate(_inputs_of(converted, given, batch)):
        spec, found_in = found.spec, found.source
        n = batch if batch is not None else (found.batch or 1)
        fixed_by = found.fixed_by if batch in (None, found.batch) else ""  # a batch given overrides the layer's
        hint = f" (a batch of {n}, fixed by {fixed_by})" if fixed_by else ""
        if fixed_by:
            _check_fixed_batch(t7_file, spec, n, fixed_by)
        if not no_module and not spec.is_table and not spec.is_index:
            spec = _planned(converted, spec, n, memory_limit, guessed=guessed and not fixed_by, path=t7_file,
                            hint=hint)
        x = spec.draw(n, 0 if seed is None else seed)
        if not no_module and (spec.is_table or spec.is_index):  # indices, a table: planned as they are drawn
            _check_plan(converted, x, memory_limit, t7_file)
        source = {"kind": "random", "seed": 0 if seed is None else seed, "spec": str(spec),
                  "from": found_in + (f"; the batch of {n} fixed by {fixed_by}" if fixed_by else "")}
        try:
            return run_parity(t7_file, converted.t7_model, x, source=source, module=module, model_file=model_file,
                              torch7=torch7, device=device, rtol=rtol, guessed_input=guessed,
                              load_seconds=seconds, progress=progress)
        except T7ConvertError as e:
            first_error = first_error or e
            if not guessed or attempt >= _INPUT_TRIES - 1:
                raise first_error from None
    raise first_error or T7ConvertError(f"{t7_file}: no input to run on")


def image_input(converted: ConvertedModel, image: str) -> Any:
    """``image`` preprocessed for the model (a 1 x 3 x S x S float32 batch): fb.resnet.torch's validation
    transform (Torch7's bicubic resize of the shorter side, centre crop, ColorNormalize), scaled to the
    size the model takes (resize 256 -> crop 224 at ImageNet size, the same ratio elsewhere) with the
    normalisation its data config says. A model that does not take 3-plane square images is refused in
    one line naming what it takes."""
    import numpy as np

    from t7convert.imagenet.preprocess import load_image, val_transform

    size, config = image_size(converted, image)
    resize = config.get("resize", round(size * 256 / 224)) if size != 224 else 256
    transform = val_transform(resize=resize, crop=size, mean=config.get("mean"), std=config.get("std"))
    return transform(load_image(image)).numpy()[None].astype(np.float32)


def image_size(converted: ConvertedModel, what: str) -> tuple[int, dict[str, Any]]:
    """(S, data config) for a model that takes 3 x S x S images; one line naming what it takes otherwise."""
    from t7convert.conversion.data_config import canonical_data_config
    from t7convert.pytorch.input_shape import find_input

    if converted.spec is not None:
        config = canonical_data_config(converted.spec.stem, converted.spec.num_classes)
        return int(config["input_size"][1]), config
    spec = find_input(converted).spec
    return image_size_of(spec, what), {}


def image_size_of(spec: InputSpec, what: str) -> int:
    """S for a spec of 3 x S x S images (batched); refused in one line otherwise."""
    if spec.is_table or spec.is_index or len(spec.shape) != 3 or spec.shape[0] != 3 \
            or spec.shape[1] != spec.shape[2] or spec.batched is False:
        raise T7ConvertError(f"{what}: this model takes {spec.describe()}, not 3-channel images; "
                             "give it a random input of its size (parity without --image) or Torch7's "
                             "own dump (--reference)")
    return int(spec.shape[1])


def _architecture_of(info: dict[str, Any]) -> tuple[str, Any]:
    """(a readable name, what must be equal) of a converted model's description."""
    if info.get("kind") == "canonical":
        return str(info.get("title") or info.get("architecture")), info.get("resnet")
    nodes = info.get("graph", {}).get("nodes", [])
    return f"a generic graph of {len(nodes)} node{'' if len(nodes) == 1 else 's'}", [(n.get("op"), n.get("attrs")) for n in nodes]


_NAN = ("NaN",)


def _nan_as_equal(value: Any) -> Any:
    """``value`` with each NaN replaced by one marker: a NaN attribute (a MulConstant by nan) equals
    itself in the file t7convert wrote, though ``nan != nan``. Plain data, checked unshared on load."""
    if isinstance(value, float) and value != value:
        return _NAN
    if isinstance(value, dict):
        return {k: _nan_as_equal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_nan_as_equal(v) for v in value)
    return value


def _found_in_of(module: Any) -> str | None:
    """Where in its .t7 the model of a converted file was found (``found_in`` of its checkpoint block),
    so that parity compares it with that model and not the checkpoint's default one; None for a file
    converted from the root or one without a description (a plain state_dict)."""
    info = getattr(module, "t7convert_info", None)
    block = info.get("checkpoint") if isinstance(info, dict) else None
    found = block.get("found_in") if isinstance(block, dict) else None
    return found if isinstance(found, str) and found else None


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
    ours, theirs = _nan_as_equal(ours), _nan_as_equal(theirs)
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
