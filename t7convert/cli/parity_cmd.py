"""``t7convert parity FILE.t7 [MODEL]``: prove the converted model computes what the Torch7 model does.

The converted model (MODEL, or FILE.t7 converted on the fly) and the independent reference execution
of FILE.t7's graph run on the same input: a seeded random batch, a preprocessed image, or the input
stored in a ``--reference`` file dumped by real Torch7, whose outputs are then compared too.
Exit 0 when every comparison is within tolerance, 1 when one is not, 2 for bad input.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

import click
import numpy as np

from t7convert.cli import cli
from t7convert.cli.options import input_size as input_size_option
from t7convert.common.errors import T7ConvertError


@cli.command("parity")
@click.argument("t7_file", metavar="FILE.t7", type=click.Path(exists=True, dir_okay=False))
@click.argument("model_file", metavar="[MODEL]", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--reference", "reference_file", metavar="REF.t7", type=click.Path(exists=True, dir_okay=False),
              help="Outputs dumped by real Torch7 (reference/dump_reference.lua): compare with them too, "
                   "on their input.")
@click.option("--image", type=click.Path(exists=True, dir_okay=False),
              help="Run on this image, preprocessed as fb.resnet.torch's validation (scale 256, crop 224).")
@click.option("--input-size", metavar="C,H,W",
              help="Size of the seeded random input (default: read from the model, e.g. 3,224,224 "
                   "for ImageNet trunks, 3,32,32 for CIFAR).")
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Random input batch size (default 1).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random input seed (default 0).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the converted model runs (the reference execution is NumPy on the CPU).")
@click.option("--rtol", type=click.FloatRange(min=0, max=1, min_open=True), default=1e-5, show_default=True,
              help="Largest relative error (max |error| / max |reference|) a stage may have.")
@click.option("--no-module", is_flag=True,
              help="Check only the reference execution against --reference; load no PyTorch model.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def parity(t7_file: str, model_file: str | None, reference_file: str | None,
           image: str | None, input_size: str | None, batch: int | None, seed: int | None, device: str,
           rtol: float, no_module: bool, as_json: bool) -> None:
    """Compare the converted model with the Torch7 model, stage by stage.

    \b
    t7convert parity model.t7                         convert on the fly, random 1x3x224x224 input
    t7convert parity model.t7 model.pth --image cat.jpg
    t7convert parity model.t7 --reference model.ref.t7   against real Torch7's outputs as well
    """
    from t7convert import parity as P
    from t7convert.interpreter import ModelError, run

    if reference_file and (image or input_size or batch is not None or seed is not None):
        raise click.UsageError("--reference brings its own input: drop --image, --input-size, --batch, --seed")
    if image and (input_size or batch is not None or seed is not None):
        raise click.UsageError("--image is the input: drop --input-size, --batch, --seed")
    if no_module and (model_file or not reference_file):
        raise click.UsageError("--no-module checks the reference execution against --reference only "
                               "(give --reference, and no MODEL)")
    if device == "cuda" and not no_module:
        import torch
        if not torch.cuda.is_available():
            raise T7ConvertError("--device cuda: no CUDA device is available")

    from t7convert.conversion.model import convert_file

    # one parse serves both sides: the Torch7 modules for the reference execution, and (without MODEL)
    # the conversion
    converted = convert_file(t7_file)
    model = converted.t7_model
    torch7 = P.read_torch7_outputs(reference_file) if reference_file else None
    guessed = False
    if torch7 is not None:
        x = P.as_float32(torch7.input)
        source: dict[str, Any] = {"kind": "reference", "file": reference_file}
    elif image:
        from t7convert.imagenet.preprocess import load_image, val_transform
        x = val_transform()(load_image(image)).numpy()[None].astype(np.float32)
        source = {"kind": "image", "file": image}
    elif converted.inputs is not None and input_size is None:  # a table of inputs, or token indices
        from t7convert.conversion.graph_inputs import random_inputs
        x = random_inputs(converted.inputs, batch or 1, 0 if seed is None else seed)
        source = {"kind": "random", "seed": 0 if seed is None else seed}
    else:
        from t7convert.pytorch.input_shape import default_input_shape

        shape = input_size_option(input_size) or default_input_shape(converted)
        guessed = input_size is None
        x = P.random_input(shape, batch or 1, 0 if seed is None else seed)
        source = {"kind": "random", "seed": 0 if seed is None else seed}

    start = time.perf_counter()
    try:
        with np.errstate(all="ignore"):  # NaN/Inf are reported as such, not as numpy warnings
            execution = run(model, x)
        P.check_finite_reference(execution, model)
    except P.NonFiniteReference as e:
        raise T7ConvertError(f"{t7_file}: on input {P.shape_text(x)}: {e}") from None
    except ModelError as e:
        hint = " (the input size was guessed: give one with --input-size C,H,W)" if guessed else ""
        raise T7ConvertError(f"{t7_file}: on input {P.shape_text(x)}: {e}{hint}") from None
    seconds = {"reference_execution": time.perf_counter() - start}

    reports: list[P.ParityReport] = []
    exec_name = "reference execution (float64 NumPy)"
    if torch7 is not None:
        reports.append(P.compare_with_torch7(
            execution.output,
            lambda p: ((execution.final[p][0], "") if p in execution.final and execution.final[p].ndim
                       else (None, "the reference execution has no tensor output there")),
            torch7, execution, rtol=rtol, candidate=exec_name))

    if not no_module:
        import t7convert
        from t7convert.pytorch.build import module_of
        start = time.perf_counter()
        module = t7convert.load(model_file) if model_file else module_of(converted)
        seconds["load_module"] = time.perf_counter() - start
        seen = P.observe(module, x, device=device)
        seconds["module"] = seen.seconds
        name = f"converted model ({os.path.basename(model_file) if model_file else 'converted on the fly'}, {device})"
        if torch7 is not None:
            def module_first_sample(path: str) -> tuple[np.ndarray | None, str]:
                q = execution.produced_equivalent(path)
                if q is None:
                    return None, "Torch7 overwrote this output in place by a module that is not a stage"
                if q not in seen.stages or not seen.stages[q].ndim:
                    return None, f"the converted model has no stage {q}"
                return seen.stages[q][0], ("" if q == path else f"Torch7's tensor holds {q}'s output (in place)")
            reports.insert(0, P.compare_with_torch7(seen.output, module_first_sample, torch7, execution,
                                                    rtol=rtol, candidate=name, error=seen.error))
        reports.append(P.compare_with_execution(seen.output, seen.stages, execution, rtol=rtol,
                                                candidate=name, reference=exec_name, error=seen.error,
                                                observed=seen.observed))

    ok = all(r.ok for r in reports)
    facts = {"file": t7_file, "model": model_file, "input": {"shape": _shapes(x), **source},
             "device": device, "rtol": rtol, "ok": ok, "seconds": {k: round(v, 3) for k, v in seconds.items()},
             "comparisons": [r.to_dict() for r in reports]}
    if as_json:
        click.echo(json.dumps(facts, indent=1))
    else:
        _print(facts, reports, P.shape_text(x), source)
    if not ok:
        # SystemExit, not ctx.exit(1): the group runs click in non-standalone mode, where an Exit's code
        # is returned instead of becoming the process's exit status.
        sys.exit(1)


def _shapes(x: Any) -> list:
    """The input's shape, or the list of its tensors' shapes for a table of inputs."""
    return [_shapes(v) for v in x] if isinstance(x, list) else list(np.shape(x))


def _fmt(v: float) -> str:
    return f"{v:.2e}" if math.isfinite(v) else str(v)


def _print(facts: dict, reports: list, shape: str, source: dict) -> None:
    where = {"reference": f"from {source.get('file')}", "image": f"from {source.get('file')}",
             "random": f"seeded random, seed {source.get('seed')}"}[source["kind"]]
    click.echo(f"parity of {facts['file']}: input {shape} ({where}); "
               f"tolerance {facts['rtol']:g} relative (max |error| / max |reference|)")
    for r in reports:
        click.echo("")
        click.echo(f"{r.candidate} vs {r.reference}")
        rows = r.stages + ([r.output] if r.output is not None else [])
        if rows:
            width = max(len(s.path) for s in rows)
            mod_width = max(len(s.module) for s in rows)
            click.echo(f"  {'stage':<{width}}  {'module':<{mod_width}}  {'shape':<14} {'max abs':>9} {'max rel':>9}")
            for s in rows:
                mark = "" if s.ok else "  <-- beyond tolerance"
                note = f"  ({s.note})" if s.note and not s.ok else ""
                click.echo(f"  {s.path:<{width}}  {s.module:<{mod_width}}  {'x'.join(map(str, s.shape)):<14} "
                           f"{_fmt(s.max_abs):>9} {_fmt(s.max_rel):>9}{mark}{note}")
        for why in r.skipped:
            click.echo(f"  not compared: {why}")
        if r.top1 is not None:
            click.echo(f"  top-1 agreement: {r.top1[0]}/{r.top1[1]}")
        click.echo(f"  {r.summary()}")
    secs = facts["seconds"]
    click.echo("")
    click.echo("time: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in secs.items()))
    click.echo("PARITY OK" if facts["ok"] else "PARITY FAILED")
