"""The subcommands of ``ironframe``: each takes the parsed arguments and returns the exit status."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import signal
import sys
import time
from types import FrameType

from ..container import Container
from ..errors import ContainerNotFound, ExecutableNotFound, OSCallError
from ..process import ContainerProcess
from ..service import ContainerService
from ..spec import ContainerSpec, ProcessSpec
from . import _options, _output, _tty
from ._errors import (
    EXIT_CANNOT_EXECUTE,
    EXIT_ERROR,
    EXIT_LIMIT_KILLED,
    EXIT_NOT_FOUND,
    CliError,
    describe_error,
)

GUARD_INTERVAL = 0.1


def cmd_run(args: argparse.Namespace) -> int:
    """``run``: create, run CMD, destroy; CMD's status."""
    cmd = _options.command(args)
    spec = _options.container_spec(args)
    process = _options.process_spec(args, cmd, {})
    with _service(args, guard=True) as service, _TerminationSignals() as signals:
        container = _create(service, spec, args, detached=False)
        try:
            status = _run_attached(container, process, signals)
            message = _limit_message(container)
        finally:
            container.destroy()
    return _finish(container, status, message)


def cmd_exec(args: argparse.Namespace) -> int:
    """``exec``: CMD in an existing container; CMD's status."""
    cmd = _options.command(args)
    process = _options.process_spec(args, cmd, _options.pairs(args.env, "--env"))
    with _service(args, guard=True) as service, _TerminationSignals() as signals:
        container = service.get(args.handle)
        before = len(container.kill_events())
        status = _run_attached(container, process, signals)
        message = _limit_message(container, skip=before)
    return _finish(container, status, message)


def cmd_create(args: argparse.Namespace) -> int:
    """``create``: a detached container; prints its handle."""
    spec = _options.container_spec(args, _options.pairs(args.property, "--property"))
    with _service(args, guard=False) as service:
        print(_create(service, spec, args, detached=True).handle)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``list``: a table (or JSON) of every container."""
    with _service(args, guard=False) as service:
        rows = [_output.list_row(service, handle) for handle in service.list()]
    if args.json:
        print(json.dumps(_output.list_json(rows), indent=2))
    else:
        print(_output.list_table(rows))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """``info``: one container as a table (or JSON)."""
    with _service(args, guard=False) as service:
        info = service.get(args.handle).info()
    if args.json:
        print(json.dumps(_output.info_json(info), indent=2, sort_keys=True))
    else:
        print(_output.info_table(info))
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    """``destroy``: every handle is tried; 125 if any failed."""
    failed = 0
    with _service(args, guard=False) as service:
        for handle in args.handles:
            try:
                service.destroy(handle)
            except ContainerNotFound as err:
                if args.force:
                    continue
                failed += 1
                _report(f"destroy {handle}", err)
            except Exception as err:  # noqa: BLE001 -- reported; the other handles are still tried
                failed += 1
                _report(f"destroy {handle}", err)
            else:
                print(handle)
    return EXIT_ERROR if failed else 0


def cmd_recover(args: argparse.Namespace) -> int:
    """``recover``: remove what dead hosts and owners left; prints each handle removed."""
    with _service(args, guard=False) as service:
        print(f"recovering {service.root} ...", file=sys.stderr)
        removed = service.recover()
    for handle in removed:
        print(f"removed {handle}")
    print(f"recovered {len(removed)} container(s)", file=sys.stderr)
    return 0


# --- helpers ---------------------------------------------------------------------------------

def _service(args: argparse.Namespace, guard: bool) -> ContainerService:
    if sys.platform.startswith("linux") and os.geteuid() != 0:
        raise CliError("must be run as root: containers need cgroups, their own uids and mounts "
                       "(try: sudo ironframe ...)")
    interval = GUARD_INTERVAL if guard and not args.no_guard else None
    return ContainerService(args.root, guard_interval=interval)


def _create(service: ContainerService, spec: ContainerSpec, args: argparse.Namespace,
            detached: bool) -> Container:
    """``service.create``, with a disk limit the host's filesystem cannot hold named as --disk."""
    try:
        return service.create(spec, detached=detached)
    except OSCallError as err:
        if err.errno != errno.EFBIG or args.disk is None:
            raise
        raise CliError(f"--disk {args.disk!r}: {err.strerror} (under {service.root})") from None


def _start(container: Container, process: ProcessSpec) -> ContainerProcess:
    """Start the process; a command that cannot run is 126 or 127, as in a shell."""
    try:
        return container.run(process)
    except ExecutableNotFound as err:
        if err.exists:
            raise CliError(f"{err.value}: cannot execute: not an executable file",
                           EXIT_CANNOT_EXECUTE) from None
        raise CliError(f"{err.value}: command not found", EXIT_NOT_FOUND) from None
    except OSCallError as err:
        if err.function != "spawn:exec":
            raise
        code = EXIT_NOT_FOUND if err.errno == errno.ENOENT else EXIT_CANNOT_EXECUTE
        raise CliError(f"{err.target or 'CMD'}: cannot execute: {err.strerror}", code) from None


def _run_attached(container: Container, process: ProcessSpec, signals: _TerminationSignals) -> int:
    """Run the command attached to this terminal -- through a pty of its own when stdin is one."""
    if not _tty.wants_pty():
        return _wait(_start(container, process), signals)
    with _tty.PtyRelay() as pty:
        proc = _start(container, dataclasses.replace(
            process, stdin=pty.slave, stdout=pty.slave, stderr=pty.slave))
        pty.close_slave()
        pty.relay(exited=lambda: proc.poll() is not None, stop=lambda: bool(signals.received))
    return _wait(proc, signals)


def _wait(proc: ContainerProcess, signals: _TerminationSignals) -> int:
    while True:
        status = proc.poll()
        if status is not None:
            return status if status >= 0 else 128 - status
        if signals.received:
            proc.kill()
            proc.wait()
            return 128 + signals.received
        time.sleep(0.02)


def _limit_message(container: Container, skip: int = 0) -> str | None:
    events = container.kill_events()[skip:]
    return "; ".join(event.describe() for event in events) or None


def _finish(container: Container, status: int, message: str | None) -> int:
    if message:
        print(f"ironframe: {container.handle}: killed: {message}", file=sys.stderr)
        return EXIT_LIMIT_KILLED
    return status


def _report(what: str, err: BaseException) -> None:
    lines = describe_error(err)
    print(f"ironframe: {what}: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"ironframe: {line}", file=sys.stderr)


class _TerminationSignals:
    """Turns SIGINT/SIGTERM into a flag, so the container is destroyed before exiting."""

    def __init__(self) -> None:
        self.received = 0
        self._saved: dict[int, object] = {}

    def __enter__(self) -> _TerminationSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
