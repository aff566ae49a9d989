"""What ``list`` and ``info`` print: tables for people, versioned JSON for programs.

The JSON shapes are documented in ``docs/cli.rst``; each carries a
``schema`` key, bumped whenever a field changes meaning or goes away (new
fields may be added within a version).  Sizes are bytes, times ISO 8601 in
UTC, durations seconds.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any

from ..container import ContainerInfo, KillEvent
from ..errors import ContainerNotFound, InvalidState
from ..service import ContainerService
from ..spec import format_size

LIST_SCHEMA = "ironframe.list/v1"
INFO_SCHEMA = "ironframe.info/v1"


def iso_time(stamp: float) -> str:
    """``1764700000.5`` -> ``"2025-12-02T18:26:40.500+00:00"``."""
    return datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC).isoformat(
        timespec="milliseconds")


def age(seconds: float) -> str:
    """A short age as ``ps`` and ``docker ps`` show it: ``42s``, ``5m``, ``3h``, ``2d``."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- list ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ListRow:
    """One container as ``list`` shows it (``None`` where it is being created or destroyed)."""

    handle: str
    state: str
    uid: int | None = None
    memory_usage: int | None = None
    memory_limit: int | None = None
    processes: int | None = None
    process_limit: int | None = None
    created: float | None = None


def list_row(service: ContainerService, handle: str) -> ListRow | None:
    """The row of ``handle``; ``None`` if it went away meanwhile."""
    try:
        info = service.get(handle).info()
    except InvalidState as err:  # being created or destroyed: no usage to read
        return ListRow(handle, err.state)
    except ContainerNotFound:
        return None
    return ListRow(info.handle, info.state, info.uid, info.memory_usage, info.limits.memory,
                   info.processes, info.limits.processes, info.created)


def list_table(rows: list[ListRow | None]) -> str:
    """Columns HANDLE STATE UID MEMORY PROCESSES AGE, one line per container."""
    now = time.time()
    lines = [("HANDLE", "STATE", "UID", "MEMORY", "PROCESSES", "AGE")]
    for row in rows:
        if row is None:
            continue
        lines.append((
            row.handle, row.state, "-" if row.uid is None else str(row.uid),
            _used_of(format_size(row.memory_usage), row.memory_limit, format_size),
            _used_of("-" if row.processes is None else str(row.processes), row.process_limit, str),
            "-" if row.created is None else age(now - row.created)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in lines)


def _used_of(used: str, limit: int | None, fmt: Any) -> str:
    return used if limit is None else f"{used} / {fmt(limit)}"


def list_json(rows: list[ListRow | None]) -> dict[str, Any]:
    """``{"schema": "ironframe.list/v1", "containers": [{handle, state, uid, ...}]}``."""
    now = time.time()
    containers = []
    for row in rows:
        if row is None:
            continue
        item = dataclasses.asdict(row)
        item["created"] = None if row.created is None else iso_time(row.created)
        item["age_seconds"] = None if row.created is None else round(now - row.created, 3)
        containers.append(item)
    return {"schema": LIST_SCHEMA, "containers": containers}


# --- info ------------------------------------------------------------------------------------

def info_json(info: ContainerInfo) -> dict[str, Any]:
    """The documented ``info --json`` shape (schema ``ironframe.info/v1``)."""
    return {
        "schema": INFO_SCHEMA,
        "handle": info.handle,
        "state": info.state,
        "detached": info.detached,
        "guard": info.guard,
        "path": info.path,
        "uid": info.uid,
        "user": info.user,
        "created": iso_time(info.created),
        "limits": info.limits.as_dict(),
        "usage": {
            "memory": info.memory_usage,
            "memory_peak": info.memory_peak,
            "cpu_seconds": info.cpu_time,
            "processes": info.processes,
            "disk": info.disk_usage,
        },
        "disk_method": info.disk_method,
        "namespaces": list(info.namespaces),
        "properties": dict(info.properties),
        "kill_events": [_event_json(event) for event in info.kill_events],
    }


def _event_json(event: KillEvent) -> dict[str, Any]:
    return {"time": iso_time(event.time), "kind": event.kind, "limit": event.limit,
            "usage": event.usage, "pid": event.pid, "detail": event.detail,
            "message": event.describe()}


def info_table(info: ContainerInfo) -> str:
    """``info`` for people: one ``key  value`` line per fact."""
    limits = info.limits
    rows: list[tuple[str, Any]] = [
        ("handle", info.handle), ("state", info.state),
        ("lifetime", "detached (stays until destroyed)" if info.detached
         else "owned (removed by recover once its owner has exited)"),
        ("guard", info.guard),
        ("path", info.path),
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
        ("namespaces", " ".join(info.namespaces) or "none (shares the host's)"),
    ]
    for key, value in sorted(info.properties.items()):
        rows.append((f"property {key}", value))
    for event in info.kill_events:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
        rows.append(("kill event", f"{stamp} {event.describe()}"))
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)
