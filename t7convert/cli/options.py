"""Option values shared by several commands."""
from __future__ import annotations

import click

from t7convert.conversion.input_spec import InputSpec, InputSpecError, from_size_option, parse

#: the help text of ``--input``, shared by every command that takes it
INPUT_HELP = ("The model's input, as Torch7 writes sizes: 784, 96x1, 3x32x32, '{13, 128x3}' (a table), "
              "'idx[1..90] x 50' (indices); default: what the file implies.")


def input_option(text: str | None, size_alias: str | None = None) -> InputSpec | None:
    """``--input`` (the grammar of :func:`t7convert.conversion.input_spec.parse`), or its alias
    ``--input-size`` (``C,H,W``; ``H,W`` means 3 planes; one number S means 3xSxS). Malformed: one line, exit 2."""
    if text and size_alias:
        raise click.UsageError("give --input or --input-size, not both")
    try:
        if text:
            return parse(text)
        if size_alias:
            return from_size_option(size_alias)
    except InputSpecError as e:
        raise click.BadParameter(str(e), param_hint="'--input'" if text else "'--input-size'") from None
    return None


def input_size(text: str | None) -> InputSpec | None:
    """``--input-size`` alone (its old name)."""
    return input_option(None, text)
