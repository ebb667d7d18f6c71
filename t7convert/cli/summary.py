"""The end-of-conversion summary: what was recognised, kept, dropped, fixed, written and verified."""
from __future__ import annotations

import click


def print_summary(report, *, as_json: bool = False, err: bool = False) -> None:
    if as_json:
        import json
        click.echo(json.dumps(report.to_json(), indent=1, default=str), err=err)
        return
    c = report.converted
    echo = lambda s="": click.echo(s, err=err)  # noqa: E731
    echo(f"recognised: {c.title}")
    if c.spec and c.spec.torchvision_name:
        echo(f"  loads into torchvision.models.{c.spec.torchvision_name}()")
    if c.not_canonical and c.near_canonical:  # a ResNet that missed the torchvision layout: say where
        echo(f"  generic module tree: {c.not_canonical}")
    if c.found_in:
        if c.checkpoint.get("project"):
            echo(f"checkpoint: {c.checkpoint['project']} (vocabulary and sampler options kept in the description)")
        for line in c.others:
            echo(f"  also in the file: {line}")
    echo(f"parameters: {c.parameters:,}")
    if c.dropped:
        echo("dropped: " + ", ".join(f"{name} ({n})" for name, n in c.dropped.most_common()))
    for note in c.notes:
        echo(f"legacy fix / note: {note}")
    v = report.verification
    if v is None:
        echo("verification: skipped (--no-verify)")
    else:
        if report.input is not None:
            echo(f"input: {report.input.describe()}, from {report.input_source}")
        echo(f"verification (random input, against the reference execution of the Torch7 graph): "
             f"{v.summary()}")
    if report.output and report.output_bytes:
        echo(f"wrote {report.output}: {report.output_bytes:,} bytes")
        if getattr(report, "export_error", None) is not None:
            echo(f"  run standalone on the verification input: worst relative error {report.export_error:.2e}")
