"""The ``ironframe`` command line: subcommands, options and their help."""

from __future__ import annotations

import argparse
import os
from typing import NoReturn

from .. import __version__
from . import _commands
from ._errors import CliError

ENV_ROOT = "IRONFRAME_ROOT"

DESCRIPTION = """\
Run commands in containers: each gets its own user, a directory only that
user and the host's admins can enter, memory, CPU, process and disk limits,
and a guard that kills what breaks them."""

EPILOG = f"""\
exit status:
  the command's own status for run and exec (128+N when signal N ended it)
  125  an error of ironframe itself (bad input, no such container, not root,
       a failed OS call); the message names the option or the call
  126  the command exists but cannot be executed
  127  the command was not found
  137  a limit killed the command (one line on stderr names the limit)

The service root is --root, ${ENV_ROOT} or /var/lib/ironframe.  Sizes take
K, M, G and T suffixes (binary units: 64M is 64 MiB).  --root, --no-guard and
--debug may stand before or after the subcommand.

examples:
  ironframe run --memory 64M --processes 32 -- /bin/sh -c 'id -u'
  ironframe create --handle web --memory 256M --disk 1G
  ironframe exec web -- /bin/ls -l
  ironframe list
  ironframe destroy web"""

COMMANDS: list[tuple[str, str, str, str]] = [
    ("run", "run a command in a new container, then destroy the container",
     "Create a container, run CMD in it with this terminal's stdin, stdout and\n"
     "stderr, destroy the container and exit with CMD's status.  SIGINT and\n"
     "SIGTERM kill CMD and destroy the container before ironframe exits.",
     "ironframe run --memory 64M --cpu-max 0.5 -- /usr/bin/python3 job.py"),
    ("create", "create a container that outlives this command and print its handle",
     "Create a container and print its handle.  It stays, and 'recover' leaves\n"
     "it alone while it is healthy, until 'destroy' removes it.",
     "ironframe create --handle web --memory 256M --disk 1G --property team=ops"),
    ("exec", "run a command in an existing container",
     "Run CMD in the container HANDLE and exit with CMD's status.",
     "ironframe exec web --env MODE=debug -- /bin/sh -c 'echo $MODE'"),
    ("list", "list containers",
     "One row per container of the root: handle, state, uid, memory, processes\n"
     "and age (containers being created or destroyed show '-' for usage).",
     "ironframe list --json"),
    ("info", "show a container's state, limits, usage and kill events",
     "State, user, limits, memory, CPU, process and disk usage, properties and\n"
     "kill events of the container HANDLE.",
     "ironframe info web --json"),
    ("destroy", "destroy containers",
     "Kill everything in each container and remove all of its resources.  Every\n"
     "handle is tried; each one that fails is reported and the status is 125.",
     "ironframe destroy web worker-1 worker-2"),
    ("recover", "remove what crashed hosts and dead owners left behind",
     "Remove containers left half-made or half-destroyed by a crashed host, and\n"
     "containers whose owner (an 'ironframe run', a program using the library)\n"
     "has died.  Containers made with 'ironframe create' stay while healthy.",
     "ironframe recover"),
]


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors reported as :class:`CliError` (exit 125, one line)."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command; each subcommand sets ``func``."""
    parser = _Parser(prog="ironframe", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ironframe {__version__}")
    _add_global(parser, after_command=False)
    parser.set_defaults(func=None)
    sub = parser.add_subparsers(metavar="COMMAND", title="commands", parser_class=_Parser)
    for name, summary, description, example in COMMANDS:
        command = sub.add_parser(name, help=summary, description=description,
                                 epilog=f"example:\n  {example}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_global(command, after_command=True)
        _OPTIONS[name](command)
        command.set_defaults(func=getattr(_commands, f"cmd_{name}"))
    return parser


def _add_global(parser: argparse.ArgumentParser, after_command: bool) -> None:
    # After the subcommand the defaults are SUPPRESS, so that an option given
    # before it is not overwritten by the subcommand's default.
    def default(value: object) -> object:
        return argparse.SUPPRESS if after_command else value

    parser.add_argument("--root", metavar="DIR", default=default(os.environ.get(ENV_ROOT)),
                        help=f"service root (default: ${ENV_ROOT} or /var/lib/ironframe)")
    parser.add_argument("--no-guard", action="store_true", default=default(False),
                        help="run without the guard thread (kernel limits still apply)")
    parser.add_argument("--debug", action="store_true", default=default(False),
                        help="log the library's steps to stderr and show tracebacks")


# --- per-command options --------------------------------------------------------------

def _limits(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits (none by default)")
    group.add_argument("--memory", metavar="SIZE", help="memory of the whole container, e.g. 64M")
    group.add_argument("--cpu-weight", metavar="N", help="relative CPU share, 1 to 10000 (default 100)")
    group.add_argument("--cpu-max", metavar="CORES", help="CPU cap in cores, e.g. 0.5")
    group.add_argument("--processes", metavar="N", help="most processes alive at once")
    group.add_argument("--disk", metavar="SIZE", help="disk the container may fill, e.g. 100M")


def _env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable of the container (repeatable)")


def _handle_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--handle", metavar="NAME",
                        help="the container's name: letters, digits, '_', '.', '-' (default: random)")


def _cmd(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cwd", metavar="DIR", default="/",
                        help="working directory, relative to the container directory "
                             "(default: the container directory)")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]",
                        help="the command and its arguments")


def _json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as JSON (a versioned shape; see docs/cli.rst)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    _limits(parser)
    _env(parser)
    _handle_option(parser)
    _cmd(parser)


def _create_options(parser: argparse.ArgumentParser) -> None:
    _limits(parser)
    _env(parser)
    _handle_option(parser)
    parser.add_argument("--property", action="append", default=[], metavar="NAME=VALUE",
                        help="a property stored with the container (repeatable)")


def _exec_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("handle", metavar="HANDLE", help="the container")
    _env(parser)
    _cmd(parser)


def _list_options(parser: argparse.ArgumentParser) -> None:
    _json(parser, "the rows")


def _info_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("handle", metavar="HANDLE", help="the container")
    _json(parser, "everything")


def _destroy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("handles", nargs="+", metavar="HANDLE", help="the containers")
    parser.add_argument("--force", "-f", action="store_true",
                        help="a handle that is already gone is not an error")


def _recover_options(parser: argparse.ArgumentParser) -> None:
    del parser  # no options of its own


_OPTIONS = {"run": _run_options, "create": _create_options, "exec": _exec_options,
            "list": _list_options, "info": _info_options, "destroy": _destroy_options,
            "recover": _recover_options}
