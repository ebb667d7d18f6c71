"""``t7convert synth ARCH -o FILE.t7``: a checkpoint with random weights, laid out as the originals."""
from __future__ import annotations

import os

import click

from t7convert.cli import cli
from t7convert.torch7.synth import ARCHS


@cli.command("synth", short_help="Write a random-weight fb.resnet.torch / ResNeXt checkpoint.",
             help="Write a fb.resnet.torch / ResNeXt checkpoint with random weights, laid out as the "
             "released files are (one flattened weight storage, gradWeights, cudnn classes).\n\nARCH: "
             + ", ".join(sorted(ARCHS)))
@click.argument("arch", type=click.Choice(sorted(ARCHS)), metavar="ARCH")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write the .t7 file.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed of the weights.")
@click.option("--layout", type=click.Choice(["nested", "flat"]), default=None,
              help="ResNeXt branches as the released files nest them (an inner Sequential around the first six "
                   "layers) or flat, as the ResNeXt code builds them [default: the architecture's own: nested "
                   "for the released ResNeXt architectures and resnext_tiny]")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def synth_command(arch: str, output: str, seed: int, layout: str | None, force: bool) -> None:
    from t7convert.common.atomic import check_writable
    from t7convert.common.errors import T7ConvertError
    from t7convert.torch7.synth import synthesize_file

    if os.path.exists(output) and not force:
        raise T7ConvertError(f"{output} exists; pass --force to overwrite it")
    check_writable(output)
    n = synthesize_file(arch, output, seed=seed, nested=None if layout is None else layout == "nested")
    click.echo(f"wrote {output}: {ARCHS[arch].description}, with random weights (not a trained model); "
               f"{n:,} parameters, {os.path.getsize(output):,} bytes")
