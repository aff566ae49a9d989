"""The ``ironframe`` command (also ``python -m ironframe_py``).

``main()`` parses the arguments (:mod:`._parser`), runs one command
(:mod:`._commands`) and turns every operational error into one line on
stderr and an exit status, as container CLIs do:

* the command's own status for ``run`` and ``exec`` (``128 + N`` when
  signal N ended it);
* :data:`EXIT_ERROR` (125) for an error of ``ironframe`` itself: bad
  input, a missing container, a failed OS call, not being root;
* :data:`EXIT_CANNOT_EXECUTE` (126) when the command exists but cannot be
  executed, :data:`EXIT_NOT_FOUND` (127) when it does not exist;
* :data:`EXIT_LIMIT_KILLED` (137) when a limit killed it, with one line on
  stderr naming the limit.

Tracebacks are shown only with ``--debug`` (or ``IRONFRAME_DEBUG=1``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import traceback
from collections.abc import Sequence

from ..errors import ContainerNotFound, IronframeError
from ._errors import (
    EXIT_CANNOT_EXECUTE,
    EXIT_ERROR,
    EXIT_LIMIT_KILLED,
    EXIT_NOT_FOUND,
    CliError,
    describe_error,
)
from ._parser import build_parser

__all__ = ["main", "EXIT_ERROR", "EXIT_CANNOT_EXECUTE", "EXIT_NOT_FOUND", "EXIT_LIMIT_KILLED"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ironframe`` command with ``argv`` (default: ``sys.argv[1:]``); return its status."""
    parser = build_parser()
    debug = os.environ.get("IRONFRAME_DEBUG") == "1"
    try:
        args = parser.parse_args(argv)
        debug = debug or args.debug
        if debug:
            logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                                format="%(asctime)s %(name)s %(levelname)s %(message)s")
        if args.func is None:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except (CliError, ContainerNotFound, IronframeError, OSError, sqlite3.Error) as err:
        if debug:
            traceback.print_exc()
        code = err.code if isinstance(err, CliError) else EXIT_ERROR
        for line in describe_error(err):
            print(f"ironframe: {line}", file=sys.stderr)
        return code
    except Exception as err:  # a bug: still one line, with the way to see more
        if debug:
            traceback.print_exc()
        print(f"ironframe: internal error: {type(err).__name__}: {err} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR
