"""``t7convert FILE.t7 -o model.pth`` (also ``t7convert convert ...``): the main job. Several files or a
folder (``t7convert convert cv/*.t7 -o OUTDIR/ -j 4``) go to :mod:`t7convert.cli.batch`."""
from __future__ import annotations

import json
import os
import sys

import click

from t7convert.cli import FINISHED, cli
from t7convert.cli.options import INPUT_HELP, input_option
from t7convert.cli.progress import StepBar


@cli.command("convert", short_help="Convert a .t7 model to PyTorch, verified against the Torch7 graph.")
@click.argument("paths", metavar="FILE.t7...", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(),
              help="Output file: .pth, .safetensors, .onnx or .pt2; a folder with --format source "
                   "(default: the input's name with .pth, or the format's suffix); with several inputs "
                   "or a folder, the folder to write into (OUTDIR/; default: beside each input).")
@click.option("-j", "--jobs", type=click.IntRange(min=1, max=256), default=1, show_default=True,
              help="With several inputs: how many to convert at once, each in its own process "
                   "(each verification plans its memory alone: give --memory-limit when N is large).")
@click.option("--format", "fmt", type=click.Choice(["pth", "safetensors", "onnx", "pt2", "source"]), default=None,
              help="Output format (default: from the output's suffix, else pth); source: a folder of model.py "
                   "and model.safetensors that needs no t7convert.")
@click.option("--generic", is_flag=True, help="Skip the torchvision-layout mapping; keep the Torch7 module tree.")
@click.option("--force", is_flag=True, help="Overwrite the output if it exists.")
@click.option("--no-verify", is_flag=True, help="Skip the comparison with the reference execution of the Torch7 graph.")
@click.option("--input", "input_text", default=None, metavar="SPEC", help="Verification input. " + INPUT_HELP)
@click.option("--input-size", default=None, metavar="C,H,W",
              help="The same as --input C,H,W (H,W or S mean 3 planes).")
@click.option("--rtol", type=click.FloatRange(min=0, max=1, min_open=True), default=1e-5, show_default=True,
              help="Largest relative error (max |error| / max |reference|) a stage may have, as in parity.")
@click.option("--memory-limit", metavar="SIZE", default=None,
              help="Refuse a verification planned to need more (e.g. 8GB; default: half the available memory).")
@click.option("--key", default=None, metavar="PATH",
              help="Which model of a checkpoint: its name in the project's layout (decoder, best_model, netG_A) "
                   "or a dotted path (protos.rnn, 1.2); default: the project's main one (inspect lists them).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def convert_command(paths: tuple[str, ...], output: str | None, jobs: int, fmt: str | None, generic: bool,
                    force: bool, no_verify: bool, input_text: str | None, input_size: str | None, rtol: float,
                    memory_limit: str | None, key: str | None, as_json: bool) -> None:
    """Convert a Torch7 .t7 model to PyTorch (torchvision layout for ResNet/ResNeXt), verified.

    \b
    t7convert model.t7 -o model.pth
    t7convert convert cv/*.t7 -o converted/ -j 4    many files (or a folder), a table at the end
    """
    from t7convert.cli.batch import convert_many, wants_batch

    if wants_batch(paths, output):
        options = [flag for flag, on in (("--generic", generic), ("--force", force), ("--no-verify", no_verify)) if on]
        for name, value in (("--format", fmt), ("--input", input_text), ("--input-size", input_size),
                            ("--memory-limit", memory_limit), ("--key", key)):
            if value is not None:
                options += [name, value]
        convert_many(paths, output, jobs=jobs, options=options + ["--rtol", repr(rtol)], fmt=fmt, as_json=as_json)
        return
    path = paths[0]
    from t7convert.api import VerificationError, convert
    from t7convert.cli.summary import print_summary
    from t7convert.parity.memory import parse_memory_limit

    if output is None:
        stem = os.path.splitext(path)[0]
        output = stem + {"safetensors": ".safetensors", "onnx": ".onnx", "pt2": ".pt2", "source": "_source"}.get(
            fmt or "pth", ".pth")
    steps = StepBar(as_json)
    try:
        report = convert(path, output, fmt=fmt, generic=generic, force=force, verify=not no_verify,
                         input=input_option(input_text, input_size), rtol=rtol, key=key, progress=steps,
                         memory_limit=parse_memory_limit(memory_limit))
    except VerificationError as e:
        steps.close()
        print_summary(e.report, as_json=as_json, err=True)
        click.echo(f"t7convert: error: {e}", err=True)
        sys.exit(1)
    steps.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1, default=str))
    else:
        print_summary(report)
    FINISHED["nothing_left_to_clean_up"] = True
