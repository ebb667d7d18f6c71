"""``t7convert evaluate MODEL --data DIR``: ImageNet accuracy against the published table."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from t7convert.cli import cli


@cli.command("evaluate", short_help="ImageNet top-1/top-5 error, with fb.resnet.torch's preprocessing.")
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="ImageNet val: class sub-folders (sorted = label order) or flat ILSVRC2012_val_*.JPEG.")
@click.option("--expect", metavar="NAME",
              help="Published model to compare with (default: from the model or its file name).")
@click.option("--device", help="cpu, cuda, cuda:N (default: cuda when available).")
@click.option("--ten-crop", is_flag=True, help="fb.resnet.torch's 10-crop evaluation (outputs summed).")
@click.option("--amp", type=click.Choice(["bf16", "fp16"]), is_flag=False, flag_value="fp16", default=None,
              help="Autocast the model to bf16 or fp16 (bare --amp: fp16): faster, not Torch7's arithmetic; "
                   "the preprocessing stays exact float32.")
@click.option("--resize-on", type=click.Choice(["cpu", "device"]), default=None,
              help="Where Torch7's exact resize runs: in the DataLoader workers, or batched on the device "
                   "(workers only decode) [device on CUDA, else cpu].")
@click.option("--decode", type=click.Choice(["pillow", "nvjpeg"]), default="pillow", show_default=True,
              help="JPEG decoder: Pillow (libjpeg-turbo, Torch7's pixels) in the workers, or nvjpeg on the GPU "
                   "(needs torchvision and --resize-on device; samples may differ by one unit).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per batch [64; 8 with --ten-crop].")
@click.option("--workers", type=click.IntRange(min=0), help="DataLoader worker processes [min(16, CPUs)].")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Only N images, spread evenly over the set.")
@click.option("--channels-last/--no-channels-last", default=None, help="Memory format [on for CUDA].")
@click.option("--interpolation", type=click.Choice(["torch7", "pil"]), default="torch7", show_default=True,
              help="Resize with Torch7's image.scale bicubic, or PIL's for comparison.")
@click.option("--tolerance", type=click.FloatRange(min=0, max=100), default=None, metavar="POINTS",
              help="Allowed |measured - published| error in percentage points [0.15].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Also write the report as JSON to this file ('-' for stdout).")
@click.option("--force", is_flag=True, help="Replace an existing --json file.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr [default: when stderr is a terminal, so logs get none].")
def evaluate_command(model_path: str, data_dir: str, expect: str | None, device: str | None, ten_crop: bool,
                     amp: str | None, resize_on: str | None, decode: str, batch_size: int | None,
                     workers: int | None, limit: int | None,
                     channels_last: bool | None, interpolation: str, tolerance: float | None,
                     json_path: str | None, force: bool, progress: bool) -> None:
    """Top-1/top-5 error of MODEL on ImageNet val, with the published figures and a verdict.

    MODEL is a converted file or a .t7 (converted on the fly). Exit status 1 when the verdict is
    DIFFERS; unreadable images are listed and left out, they do not stop the run.

    \b
    Several processes (GPUs): torchrun --nproc-per-node N -m t7convert evaluate MODEL --data DIR
    Each process takes every N-th image, the counts are summed and process 0 prints the report.
    """
    import t7convert
    from t7convert.common.atomic import atomic_output
    from t7convert.imagenet.evaluate import EvaluationReport, evaluate, identify_architecture
    from t7convert.imagenet.published import DEFAULT_TOLERANCE
    from t7convert.pytorch.files import check_output

    if json_path and json_path != "-" and _is_rank_zero():  # checked before an evaluation that may take an hour
        check_output(json_path, model_path, force=force)
    model = t7convert.load(model_path)
    architecture, source = identify_architecture(model, model_path, expect)
    result = evaluate(model, data_dir, ten_crop=ten_crop, batch_size=batch_size, workers=workers,
                      device=device, amp=amp, channels_last=channels_last, limit=limit,
                      interpolation=interpolation,
                      progress=sys.stderr.isatty() if progress is None else progress, resize_on=resize_on, decode=decode)
    if not _is_rank_zero():
        return  # every process has the totals; one prints them
    report = EvaluationReport.build(Path(model_path).name, architecture, source, result,
                                    DEFAULT_TOLERANCE if tolerance is None else tolerance)
    if json_path == "-":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.table())
        if json_path:
            with atomic_output(json_path, exclusive=not force) as tmp:  # the same writer and rules as convert's output
                Path(tmp).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    if report.comparison.verdict == "differs":
        raise click.exceptions.Exit(1)


def _is_rank_zero() -> bool:
    """Whether this process reports: always, unless it is a torchrun rank other than 0."""
    import os

    return os.environ.get("RANK", "0") in ("", "0")
