"""Turn what the user typed into spec objects, with errors in the user's words."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from ..errors import SpecError
from ..spec import ContainerSpec, Limits, ProcessSpec, parse_size
from ._errors import CliError, option_error

_LIMIT_OPTIONS = (("memory", "--memory"), ("cpu_weight", "--cpu-weight"), ("cpu_max", "--cpu-max"),
                  ("processes", "--processes"), ("disk", "--disk"))


def typed_limits(args: argparse.Namespace) -> dict[str, str]:
    """``{"--memory": "64M", ...}`` for the limit options given (empty text included)."""
    return {option: getattr(args, name) for name, option in _LIMIT_OPTIONS
            if getattr(args, name, None) is not None}


def limits(args: argparse.Namespace) -> Limits:
    """The :class:`Limits` the options ask for; an empty or malformed value is an error."""
    typed = typed_limits(args)
    values: dict[str, object] = {}
    for name, option in _LIMIT_OPTIONS:
        text = typed.get(option)
        if text is None:
            continue
        if not text.strip():
            raise CliError(f"{option}: needs a value (got an empty string)")
        values[name] = _value(name, option, text)
    try:
        return Limits(**values)  # type: ignore[arg-type]
    except SpecError as err:
        raise option_error(err, typed) from None


def _value(name: str, option: str, text: str) -> object:
    try:
        if name in ("memory", "disk"):
            return parse_size(text, f"limits.{name}")
        if name == "cpu_max":
            value = float(text) if text.isascii() else math.nan
            if not math.isfinite(value):
                raise ValueError(text)
            return value
        if not (text.isascii() and text.strip().isdigit()):
            raise ValueError(text)
        return int(text)
    except SpecError as err:
        raise option_error(err, {option: text}) from None
    except ValueError:
        kind = "a number of cores, e.g. 0.5" if name == "cpu_max" else "a whole number"
        raise CliError(f"{option} {text!r}: must be {kind}") from None


def pairs(items: Sequence[str], option: str) -> dict[str, str]:
    """``["A=1", "B=2"]`` -> ``{"A": "1", "B": "2"}``; anything else names ``option``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{option} {item!r}: must be NAME=VALUE")
        out[key] = value
    return out


def command(args: argparse.Namespace) -> list[str]:
    """The command after ``--``."""
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise CliError("give the command to run after --, e.g. -- /bin/sh -c 'echo hi'")
    return cmd


def container_spec(args: argparse.Namespace, properties: dict[str, str] | None = None) -> ContainerSpec:
    """The :class:`ContainerSpec` of ``run`` / ``create``."""
    lim = limits(args)
    env = pairs(args.env, "--env")
    try:
        return ContainerSpec(handle=args.handle, limits=lim, env=env, properties=properties or {})
    except SpecError as err:
        raise option_error(err, {"--handle": args.handle} if args.handle is not None else None) \
            from None


def process_spec(args: argparse.Namespace, cmd: list[str], env: dict[str, str]) -> ProcessSpec:
    """The :class:`ProcessSpec` of ``run`` / ``exec`` (``env`` on top of the container's)."""
    try:
        return ProcessSpec(cmd, env=env, cwd=args.cwd)
    except SpecError as err:
        raise option_error(err, {"--cwd": args.cwd}) from None
