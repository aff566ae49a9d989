"""The ``ironframe`` command (also ``python -m ironframe_py``).

``ironframe run [limits] -- CMD ARGS...`` runs CMD in a fresh container,
streams its output, destroys the container and exits with CMD's exit code
(137 and one line on stderr when a limit killed it).  ``create``, ``list``,
``info``, ``exec``, ``destroy`` and ``recover`` manage containers that
outlive one command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from .container import Container, ContainerInfo
from .errors import ContainerNotFound, IronframeError, SpecError
from .service import ContainerService
from .spec import ContainerSpec, Limits, ProcessSpec, format_size, parse_size

ENV_ROOT = "IRONFRAME_ROOT"
EXIT_LIMIT_KILLED = 137
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except SpecError as err:
        print(f"ironframe: {err}", file=sys.stderr)
        return 2
    except ContainerNotFound as err:
        print(f"ironframe: {err}", file=sys.stderr)
        return 1
    except IronframeError as err:
        print(f"ironframe: {type(err).__name__}: {err}", file=sys.stderr)
        for note in getattr(err, "__notes__", []):
            print(f"ironframe:   {note}", file=sys.stderr)
        return 1


# --- argument parsing ---------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ironframe", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get(ENV_ROOT),
                        help=f"service root (default: ${ENV_ROOT} or /var/lib/ironframe)")
    parser.add_argument("--no-guard", action="store_true", help="do not start the guard thread")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a command in a fresh container, then destroy it")
    _add_limits(run)
    _add_env(run)
    run.add_argument("--handle", help="container handle (default: random)")
    run.add_argument("--cwd", default="/", help="working directory inside the container")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    run.set_defaults(func=_cmd_run)

    create = sub.add_parser("create", help="create a container and print its handle")
    _add_limits(create)
    _add_env(create)
    create.add_argument("--handle", help="container handle (default: random)")
    create.add_argument("--property", action="append", default=[], metavar="K=V",
                        help="a property (repeatable)")
    create.set_defaults(func=_cmd_create)

    lst = sub.add_parser("list", help="list containers")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_cmd_list)

    info = sub.add_parser("info", help="show a container's state, limits, usage and kill events")
    info.add_argument("handle")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_cmd_info)

    exe = sub.add_parser("exec", help="run a command in an existing container")
    exe.add_argument("handle")
    _add_env(exe)
    exe.add_argument("--cwd", default="/", help="working directory inside the container")
    exe.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    exe.set_defaults(func=_cmd_exec)

    destroy = sub.add_parser("destroy", help="destroy containers")
    destroy.add_argument("handles", nargs="+")
    destroy.set_defaults(func=_cmd_destroy)

    recover = sub.add_parser("recover", help="remove everything dead hosts left behind")
    recover.set_defaults(func=_cmd_recover)
    return parser


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory", help="memory limit, e.g. 64M")
    parser.add_argument("--cpu-weight", type=int, help="relative CPU weight, 1..10000")
    parser.add_argument("--cpu-max", type=float, help="CPU cap in cores, e.g. 0.5")
    parser.add_argument("--processes", type=int, help="most processes at once")
    parser.add_argument("--disk", help="disk limit, e.g. 100M")


def _add_env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", default=[], metavar="K=V",
                        help="environment variable (repeatable)")


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        memory=parse_size(args.memory, "--memory") if args.memory else None,
        cpu_weight=args.cpu_weight, cpu_max=args.cpu_max, processes=args.processes,
        disk=parse_size(args.disk, "--disk") if args.disk else None)


def _pairs(items: Sequence[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpecError(option, "must be KEY=VALUE", item)
        out[key] = value
    return out


def _command(args: argparse.Namespace) -> list[str]:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise SpecError("CMD", "give the command to run after --", None)
    return cmd


def _service(args: argparse.Namespace) -> ContainerService:
    return ContainerService(args.root, guard_interval=None if args.no_guard else 0.1)


# --- commands ----------------------------------------------------------------------------

def _cmd_run(args: argparse.Namespace) -> int:
    cmd = _command(args)
    env = _pairs(args.env, "--env")
    _check_executable(cmd[0], env)
    spec = ContainerSpec(handle=args.handle, limits=_limits(args), env=env)
    with _service(args) as service, _TerminationSignals() as signals:
        container = service.create(spec)
        try:
            status = _run_in(container, cmd, args.cwd, signals)
            message = _limit_message(container)
        finally:
            container.destroy()
    if message:
        print(f"ironframe: {container.handle}: killed: {message}", file=sys.stderr)
        return EXIT_LIMIT_KILLED
    return status


def _cmd_exec(args: argparse.Namespace) -> int:
    cmd = _command(args)
    with _service(args) as service, _TerminationSignals() as signals:
        container = service.get(args.handle)
        before = len(container.kill_events())
        status = _run_in(container, cmd, args.cwd, signals, env=_pairs(args.env, "--env"))
        message = _limit_message(container, skip=before)
    if message:
        print(f"ironframe: {container.handle}: killed: {message}", file=sys.stderr)
        return EXIT_LIMIT_KILLED
    return status


def _cmd_create(args: argparse.Namespace) -> int:
    spec = ContainerSpec(handle=args.handle, limits=_limits(args), env=_pairs(args.env, "--env"),
                         properties=_pairs(args.property, "--property"))
    with _service(args) as service:
        print(service.create(spec).handle)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    with _service(args) as service:
        handles = service.list()
    print(json.dumps(handles) if args.json else "\n".join(handles))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    with _service(args) as service:
        info = service.get(args.handle).info()
    if args.json:
        print(json.dumps(info.as_dict(), indent=2, sort_keys=True))
    else:
        print(_info_table(info))
    return 0


def _cmd_destroy(args: argparse.Namespace) -> int:
    with _service(args) as service:
        for handle in args.handles:
            service.destroy(handle)
            print(f"destroyed {handle}")
    return 0


def _cmd_recover(args: argparse.Namespace) -> int:
    with _service(args) as service:
        print(f"recovering {service.root} ...", file=sys.stderr)
        removed = service.recover()
    for handle in removed:
        print(f"removed {handle}")
    print(f"recovered {len(removed)} container(s)", file=sys.stderr)
    return 0


# --- helpers -------------------------------------------------------------------------------

def _check_executable(argv0: str, env: dict[str, str]) -> None:
    """Fail before creating anything when the command cannot be found."""
    if "/" in argv0:
        found = os.path.isfile(argv0) and os.access(argv0, os.X_OK)
    else:
        found = shutil.which(argv0, path=env.get("PATH", DEFAULT_PATH)) is not None
    if not found:
        raise SpecError("argv[0]", "must be an executable file (looked up on the container's PATH "
                        "when it has no '/')", argv0)


def _run_in(container: Container, cmd: list[str], cwd: str, signals: _TerminationSignals,
            env: dict[str, str] | None = None) -> int:
    proc = container.run(ProcessSpec(cmd, env=env or {}, cwd=cwd))
    while True:
        status = proc.poll()
        if status is not None:
            break
        if signals.received:
            proc.kill()
            status = proc.wait()
            return 128 + signals.received
        time.sleep(0.02)
    return status if status >= 0 else 128 - status


def _limit_message(container: Container, skip: int = 0) -> str | None:
    events = container.kill_events()[skip:]
    return "; ".join(event.describe() for event in events) or None


def _info_table(info: ContainerInfo) -> str:
    limits = info.limits
    rows: list[tuple[str, Any]] = [
        ("handle", info.handle), ("state", info.state), ("path", info.path),
        ("user", f"{info.user} (uid {info.uid})"),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.created))),
        ("memory", f"{format_size(info.memory_usage)} used, peak {format_size(info.memory_peak)}, "
                   f"limit {format_size(limits.memory) if limits.memory else 'none'}"),
        ("cpu", f"{info.cpu_time:.3f}s used" if info.cpu_time is not None else "-"),
        ("cpu limits", f"weight {limits.cpu_weight or '-'}, max {limits.cpu_max or '-'} cores"),
        ("processes", f"{info.processes if info.processes is not None else '-'} "
                      f"(limit {limits.processes or 'none'})"),
        ("disk", f"{format_size(info.disk_usage)} used, limit "
                 f"{format_size(limits.disk) if limits.disk else 'none'}"
                 + (f" ({info.disk_method})" if info.disk_method else "")),
    ]
    for key, value in sorted(info.properties.items()):
        rows.append((f"property {key}", value))
    for event in info.kill_events:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
        rows.append(("kill event", f"{stamp} {event.describe()}"))
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


class _TerminationSignals:
    """Turns SIGINT/SIGTERM into a flag, so the container is destroyed before exiting."""

    def __init__(self) -> None:
        self.received = 0
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> _TerminationSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
