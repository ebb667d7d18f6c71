"""``t7convert inspect FILE``: for a ``.t7``, the module tree, parameter counts, tensor types, the models
it holds, the architecture convert recognises and file facts; for a file t7convert wrote (``.pth``,
safetensors), its description, data config and provenance."""
from __future__ import annotations

import json

import click

from t7convert.cli import cli


@cli.command("inspect", short_help="Show what a .t7 file holds, without converting it.")
@click.argument("path", metavar="FILE.t7", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (includes the parameter count).")
@click.option("--long-size", type=click.Choice(["4", "8"]), default=None,
              help="Bytes per long in a binary file (detected when not given; 4 for files from Windows builds).")
def inspect_command(path: str, as_json: bool, long_size: str | None) -> None:
    """Show what a .t7 file (or a file t7convert converted) holds, without writing anything."""
    from t7convert.conversion.inspection import format_summary, format_tree, inspect_file
    from t7convert.common.inputs import open_regular
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

    ins = inspect_file(path, long_size=int(long_size) if long_size else None)
    if as_json:
        click.echo(json.dumps(ins.to_json(), indent=1, default=str))
        return
    tree = format_tree(ins)
    if tree:
        click.echo(tree)
        click.echo()
    click.echo(format_summary(ins))
