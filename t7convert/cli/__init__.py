"""The ``t7convert`` command line: thin commands over the Python API.

``t7convert FILE.t7 -o model.pth`` runs ``convert`` (the default command). Errors about the input are
one line on stderr and exit code 2; a bug in t7convert itself is one line and exit code 3 (set
``T7CONVERT_DEBUG=1`` for the traceback).
"""
from __future__ import annotations

import os
import sys

import click
from click_default_group import DefaultGroup

from t7convert.common.errors import T7ConvertError, printable

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


class _Group(DefaultGroup):
    def main(self, *args, **kwargs):  # noqa: D102 - one place where errors become exit codes
        kwargs.setdefault("standalone_mode", True)
        try:
            code = super().main(*args, **{**kwargs, "standalone_mode": False})
            # outside standalone mode click returns a command's ctx.exit(n) code instead of exiting
            sys.exit(code if isinstance(code, int) else 0)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.NoArgsIsHelpError as e:  # plain ``t7convert``: the help, not an error
            click.echo(e.ctx.get_help())
            sys.exit(0)
        except click.ClickException as e:  # usage errors too: one line, like every other input error
            hint = ""
            if isinstance(e, click.UsageError) and e.ctx is not None:
                hint = f" (see '{e.ctx.command_path} --help')"
            click.echo(f"t7convert: error: {printable(e.format_message())}{hint}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.exceptions.Abort as e:  # click's name for a KeyboardInterrupt inside the command
            click.echo(_interrupted(e.__cause__), err=True)
            sys.exit(130)
        except T7ConvertError as e:
            click.echo(f"t7convert: error: {printable(e)}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt as e:
            click.echo(_interrupted(e), err=True)
            sys.exit(130)
        except MemoryError:
            click.echo("t7convert: error: out of memory", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except Exception as e:  # a bug: say so in one line, keep the traceback for those who ask
            _internal_error(e)


def _internal_error(e: BaseException) -> None:
    """A bug of ours: exit 3 with one line; with ``T7CONVERT_DEBUG=1`` the traceback first. Printed
    here rather than re-raised, so that it reads the same in the guarded child (whose uncaught
    exception would otherwise end as Python's exit 1) as in one process."""
    if os.environ.get("T7CONVERT_DEBUG"):
        import traceback

        traceback.print_exception(e, file=sys.stderr)
        click.echo(f"t7convert: internal error: {type(e).__name__}: {printable(e)}", err=True)
    else:
        click.echo(f"t7convert: internal error: {type(e).__name__}: {printable(e)} "
                   "(set T7CONVERT_DEBUG=1 for the traceback)", err=True)
    sys.exit(EXIT_INTERNAL)


def _interrupted(cause: BaseException | None) -> str:
    """What an interrupt did: nothing written, or (just after the rename) a complete output. One
    wording, whether click saw the KeyboardInterrupt (its Abort) or we did."""
    from t7convert.common.atomic import InterruptedAfterWrite
    from t7convert.common.interrupts import MESSAGE

    if isinstance(cause, InterruptedAfterWrite):
        return f"{MESSAGE} after {cause.path} was written in full (it is complete)"
    return MESSAGE


@click.group(cls=_Group, default="convert", default_if_no_args=False,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="t7convert")
def cli() -> None:
    """Convert Torch7 (.t7) checkpoints to PyTorch and prove the result equals the original.

    \b
    t7convert model.t7 -o model.pth      convert (the default command)
    t7convert inspect model.t7           what the file holds
    t7convert parity model.t7            compare with an independent execution of the Torch7 graph
    t7convert evaluate model.pth --data DIR   ImageNet accuracy against the published table
    t7convert classify model.pth cat.jpg      top-5 classes
    """


# Commands that leave nothing to clean up once their output is in place (convert renames its file
# into place as its last act) say so here; the console script then ends without the interpreter's
# teardown of torch, which takes about 0.4 s and frees only memory the process is giving back anyway.
FINISHED = {"nothing_left_to_clean_up": False}


def main() -> None:
    """The console script: the command runs in a guarded child (:mod:`t7convert.cli.guard`), so that a
    death by signal, such as SIGBUS from an input truncated while it is read, ends in one line."""
    from t7convert.cli.guard import run_guarded

    run_guarded(_main, sys.argv[1:])


def _main() -> None:
    from t7convert.common import interrupts

    interrupts.install()  # the first Ctrl-C raises KeyboardInterrupt once; the group's second is ignored
    try:
        cli.main(prog_name="t7convert")
    except SystemExit as e:
        if e.code in (0, None) and FINISHED["nothing_left_to_clean_up"]:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        raise
    except KeyboardInterrupt:  # between click's handlers and here: still one line
        sys.stderr.write(interrupts.MESSAGE + "\n")
        sys.exit(interrupts.EXIT_INTERRUPTED)
    finally:
        interrupts.ignore()  # the command has ended: the interpreter's teardown is not interrupted


# each command module adds its command to ``cli`` when imported (after ``cli`` exists)
from t7convert.cli import commands  # noqa: E402,F401,I001
