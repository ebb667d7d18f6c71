"""``t7convert inspect FILE.t7``: the module tree, parameter counts, tensor types and file facts."""
from __future__ import annotations

import json

import click

from t7convert.cli import cli


@cli.command("inspect", short_help="Show what a .t7 file holds, without converting it.")
@click.argument("path", metavar="FILE.t7", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (includes the parameter count).")
@click.option("--long-size", type=click.Choice(["4", "8"]), default=None,
              help="Bytes per long in a binary file (detected when not given; 4 for files from Windows builds).")
def inspect_command(path: str, as_json: bool, long_size: str | None) -> None:
    """Show what a .t7 file holds without converting it; for a file t7convert wrote (.pth, .safetensors,
    .onnx, .pt2, a source folder), what it came from."""
    if _is_output(path):
        from t7convert.export.provenance import read_provenance
        record = read_provenance(path)
        if as_json:
            click.echo(json.dumps({"path": path, "provenance": record}, indent=1))
        elif record is None:
            click.echo(f"{path}: no t7convert provenance record (written by an older t7convert, or not by it)")
        else:
            click.echo(f"{path}: written by t7convert {record.get('t7convert', '?')} from {record.get('source', '?')}")
            for key in sorted(record):
                click.echo(f"  {key}: {record[key]}")
        return
    from t7convert.conversion.inspection import format_summary, format_tree, inspect_file

    ins = inspect_file(path, long_size=int(long_size) if long_size else None)
    if as_json:
        click.echo(json.dumps(ins.to_json(), indent=1, default=str))
        return
    tree = format_tree(ins)
    if tree:
        click.echo(tree)
        click.echo()
    click.echo(format_summary(ins))


def _is_output(path: str) -> bool:
    """A file t7convert writes (by its suffix or, for .pth/.safetensors, its first bytes), or a source folder."""
    import os
    if os.path.isdir(path):
        return os.path.isfile(os.path.join(path, "model.safetensors"))
    if os.path.splitext(path)[1].lower() in (".onnx", ".pt2"):
        return True
    from t7convert.conversion.model import converted_kind
    try:
        with open(path, "rb") as f:
            return converted_kind(f.read(64)) is not None
    except OSError:
        return False
