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
    if c.convention:
        what = c.model_name or c.found_in or "model"
        if c.model_name and c.found_in and c.found_in != c.model_name:
            what += f" ({c.found_in})"
        echo(f"checkpoint: found by {c.convention}: converted its {what}")
    elif c.found_in and c.checkpoint.get("project"):
        echo(f"checkpoint: {c.checkpoint['project']}")
    if c.found_in and any(k in c.checkpoint for k in ("tokens", "words", "chars")):
        echo("  vocabulary and sampler options kept in the description")
    others = [m for m in c.models if not m["converted"]]
    if others:
        echo("  other models in the file: " + ", ".join(
            f"{m['key']} ({m['class']}{', the default' if m['default'] else ''}; --key {m['key']})" for m in others))
    if c.found_in:
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
            echo(f"input: {report.input_text()}")
        echo(f"verification (random input, against the reference execution of the Torch7 graph): "
             f"{v.summary()}")
    if report.output and report.output_bytes:
        echo(f"wrote {report.output}: {report.output_bytes:,} bytes")
        if getattr(report, "export_error", None) is not None:
            echo(f"  run standalone on the verification input: worst relative error {report.export_error:.2e}")
