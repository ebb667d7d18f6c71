"""``t7convert parity FILE.t7 [MODEL]``: prove the converted model computes what the Torch7 model does.

The converted model (MODEL, or FILE.t7 converted on the fly) and the independent reference execution
of FILE.t7's graph run on the same input: a seeded random batch, a preprocessed image, or the input
stored in a ``--reference`` file dumped by real Torch7, whose outputs are then compared too.
Exit 0 when every comparison is within tolerance, 1 when one is not, 2 for bad input (a converted
file given first, or a converted file of another model, included).
"""
from __future__ import annotations

import json
import sys

import click

from t7convert.cli import cli
from t7convert.cli.options import INPUT_HELP, input_option


@cli.command("parity", short_help="Compare the converted model with the Torch7 graph, stage by stage.")
@click.argument("t7_file", metavar="FILE.t7", type=click.Path(exists=True, dir_okay=False))
@click.argument("model_file", metavar="[MODEL]", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--reference", "reference_file", metavar="REF.t7", type=click.Path(exists=True, dir_okay=False),
              help="Outputs dumped by real Torch7 (reference/dump_reference.lua): compare with them too, "
                   "on their input.")
@click.option("--image", type=click.Path(exists=True, dir_okay=False),
              help="Run on this image, preprocessed as fb.resnet.torch's validation (scale 256, crop 224), "
                   "scaled to the size of images the model takes.")
@click.option("--input", "input_text", metavar="SPEC", help="The seeded random input. " + INPUT_HELP)
@click.option("--input-size", metavar="C,H,W", help="The same as --input C,H,W (H,W or S mean 3 planes).")
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Random input batch size (default 1).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random input seed (default 0).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the converted model runs (the reference execution is NumPy on the CPU).")
@click.option("--rtol", type=click.FloatRange(min=0, max=1, min_open=True), default=1e-5, show_default=True,
              help="Largest relative error (max |error| / max |reference|) a stage may have.")
@click.option("--no-module", is_flag=True,
              help="Check only the reference execution against --reference; load no PyTorch model.")
@click.option("--memory-limit", metavar="SIZE", default=None,
              help="Refuse a run planned to need more (e.g. 8GB; default: half the available memory).")
@click.option("--key", metavar="NAME", default=None,
              help="The model of a checkpoint holding several (as convert's --key; default: the one MODEL "
                   "was converted from, else the file's default model).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def parity(t7_file: str, model_file: str | None, reference_file: str | None,
           image: str | None, input_text: str | None, input_size: str | None, batch: int | None, seed: int | None, device: str,
           rtol: float, no_module: bool, memory_limit: str | None, key: str | None, as_json: bool) -> None:
    """Compare the converted model with the Torch7 model, stage by stage.

    \b
    t7convert parity model.t7                         convert on the fly, random input of the size it takes
    t7convert parity model.t7 model.pth --image cat.jpg
    t7convert parity model.t7 --reference model.ref.t7   against real Torch7's outputs as well
    """
    from t7convert import api
    from t7convert.parity.memory import parse_memory_limit

    given = input_option(input_text, input_size)
    if reference_file and (image or given or batch is not None or seed is not None):
        raise click.UsageError("--reference brings its own input: drop --image, --input, --batch, --seed")
    if image and (given or batch is not None or seed is not None):
        raise click.UsageError("--image is the input: drop --input, --batch, --seed")
    if no_module and (model_file or not reference_file):
        raise click.UsageError("--no-module checks the reference execution against --reference only "
                               "(give --reference, and no MODEL)")
    from t7convert.cli.progress import StepBar

    steps = StepBar(quiet=False)
    try:  # a mismatched pair (GraphMismatch) is an input error: one line, exit 2, as the group says
        result = api.parity(t7_file, model_file, reference_file=reference_file, image=image,
                            input=given, batch=batch, seed=seed, device=device,
                            rtol=rtol, no_module=no_module, progress=steps,
                            memory_limit=parse_memory_limit(memory_limit), key=key)
    finally:
        steps.close()
    click.echo(json.dumps(result.to_dict(), indent=1) if as_json else result.render())
    if not result.ok:
        # SystemExit, not ctx.exit(1): the group runs click in non-standalone mode, where an Exit's code
        # is returned instead of becoming the process's exit status.
        sys.exit(1)
