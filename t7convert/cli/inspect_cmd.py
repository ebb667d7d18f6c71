"""``t7convert inspect FILE``: for a ``.t7``, the module tree, parameter counts, tensor types, the models
it holds, the architecture convert recognises and file facts; for a file t7convert wrote (``.pth``,
safetensors), its description, data config and provenance."""
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
    from t7convert.common.inputs import open_regular
    from t7convert.conversion.inspection import format_summary, format_tree, inspect_file
    from t7convert.conversion.model import converted_kind

    try:
        with open_regular(path) as f:
            kind = converted_kind(f.read(64))
    except OSError:
        kind = None  # the reader says what is wrong with it
    if kind is not None:
        from t7convert import api
        from t7convert.pytorch.files import format_converted

        described = api.describe_converted(path)
        click.echo(json.dumps(described, indent=1, default=str) if as_json else format_converted(described))
        return
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
    """A file t7convert writes that is no PyTorch or safetensors file (those are described above): an
    ``.onnx`` or ``.pt2`` file, or a source folder."""
    import os
    if os.path.isdir(path):
        return os.path.isfile(os.path.join(path, "model.safetensors"))
    return os.path.splitext(path)[1].lower() in (".onnx", ".pt2") and os.path.isfile(path)
