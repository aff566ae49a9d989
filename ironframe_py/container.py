"""Container: the platform-neutral handle on one isolated process tree."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import spec as _spec
from ._store import EventRecord
from .backends.base import BackendContainer, ContainerContext, Stats
from .errors import InvalidState, SpecError
from .process import ContainerProcess
from .spec import Limits, ProcessSpec, StdioSpec

if TYPE_CHECKING:
    from .service import ContainerService

__all__ = ["Container", "ContainerInfo", "KillEvent", "ACTIVE", "STOPPED", "DESTROYED"]

CREATING, ACTIVE, STOPPED, DESTROYING, DESTROYED = (
    "creating", "active", "stopped", "destroying", "destroyed")

# Container.run's default ``env``: ProcessSpec's (no variables beyond the container's), immutable.
_NO_ENV: Mapping[str, str] = MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class KillEvent:
    """A limit or guard enforcement that killed something in the container.

    ``limit`` is what was enforced (``"memory"``, ``"processes"``,
    ``"escapee"``); ``value`` the limit in force, ``usage`` the highest
    usage seen, ``pid`` the process killed where known.
    """

    time: float
    limit: str
    value: float | None
    usage: float | None
    pid: int | None
    detail: str

    def describe(self) -> str:
        """One human line, e.g. ``memory limit 64M exceeded (peak 64.0M)``."""
        if self.limit == "memory":
            return (f"memory limit {_spec.format_size(_int(self.value))} exceeded "
                    f"(peak {_spec.format_size(_int(self.usage))})")
        if self.limit == "escapee":
            return f"process {self.pid} ran as the container user outside the container: killed"
        value = "-" if self.value is None else f"{self.value:g}"
        return f"{self.limit} limit {value} enforced" + (f": {self.detail}" if self.detail else "")


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclasses.dataclass(frozen=True)
class ContainerInfo:
    """A snapshot of a container: state, limits, usage and kill events."""

    handle: str
    state: str
    path: str
    uid: int
    user: str
    created: float
    limits: Limits
    memory_usage: int | None
    memory_peak: int | None
    cpu_time: float | None
    processes: int | None
    disk_usage: int | None
    disk_method: str | None
    kill_events: tuple[KillEvent, ...]
    properties: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (used by ``ironframe info --json``)."""
        out = dataclasses.asdict(self)
        out["properties"] = dict(self.properties)
        out["kill_events"] = [dataclasses.asdict(e) for e in self.kill_events]
        return out


class Container:
    """One container: run processes in it, read its usage, change limits, destroy it.

    Get one from :meth:`ContainerService.create` or
    :meth:`ContainerService.get`.  Usable as a context manager that destroys
    the container on exit.  All methods are thread-safe.
    """

    def __init__(self, service: ContainerService, ctx: ContainerContext, created: float,
                 view: BackendContainer, state: str) -> None:
        self._service = service
        self._ctx = ctx
        self._view = view
        self._state = state
        self._created = created
        self._lock = threading.RLock()
        self._limits = ctx.limits

    # --- identity ---------------------------------------------------------------------

    @property
    def handle(self) -> str:
        """The container's unique name."""
        return self._ctx.handle

    @property
    def path(self) -> str:
        """Host path of the container directory (only the container user and admins can enter)."""
        return self._ctx.path

    @property
    def uid(self) -> int:
        """Numeric id of the container user (Linux uid; a unique number on Windows)."""
        return self._ctx.uid

    @property
    def user(self) -> str:
        """Name of the container user (Linux: the uid as text, no passwd entry exists)."""
        return self._service.backend.user_name(self._ctx)

    @property
    def state(self) -> str:
        """``"active"``, ``"stopped"`` or ``"destroyed"``."""
        return self._state

    @property
    def limits(self) -> Limits:
        """The limits in force."""
        return self._limits

    def __repr__(self) -> str:
        return f"<Container {self.handle!r} uid={self.uid} state={self._state} path={self.path!r}>"

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._state != DESTROYED:
            self.destroy()

    # --- processes ------------------------------------------------------------------------

    def run(self, spec: ProcessSpec | list[str] | tuple[str, ...], *,
            env: Mapping[str, str] = _NO_ENV, cwd: str = "/", stdin: StdioSpec = None,
            stdout: StdioSpec = None, stderr: StdioSpec = None, text: bool = False) -> ContainerProcess:
        """Start a process in the container and return its :class:`ContainerProcess`.

        ``spec`` is a :class:`ProcessSpec`, or an argv list with the other
        :class:`ProcessSpec` fields (``env``, ``cwd``, ``stdin``, ``stdout``,
        ``stderr``, ``text``, with the same meaning and defaults) as keyword
        arguments.  A :class:`ProcessSpec` together with a keyword argument
        that is not its default raises :class:`TypeError`.
        """
        if not isinstance(spec, ProcessSpec):
            spec = ProcessSpec(spec, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr, text=text)
        elif (env is not _NO_ENV or cwd != "/" or stdin is not None or stdout is not None
              or stderr is not None or text is not False):
            raise TypeError("give either a ProcessSpec or argv with keyword arguments, not both")
        with self._lock:
            self._require(ACTIVE, "run a process")
            env = dict(self._ctx.env)
            env.update(spec.env)
            return self._service._spawn(self, self._view, spec, env)

    def pids(self) -> list[int]:
        """Ids of every process now in the container."""
        self._require_exists("list processes")
        return self._view.pids()

    def stop(self, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop every process; the container can then no longer run processes.

        With ``kill=False`` processes get SIGTERM (Windows: are terminated)
        and ``timeout`` seconds to exit before everything left is killed.
        """
        with self._lock:
            self._require_exists("stop")
            if not kill:
                self._view.signal_all(signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while self._view.pids() and time.monotonic() < deadline:
                    time.sleep(0.01)
            self._view.kill_all(timeout=max(timeout, 5.0))
            self._state = STOPPED
            self._service.store.set_state(self.handle, STOPPED)

    def destroy(self) -> None:
        """Kill everything and remove every OS resource of the container.

        Idempotent.  If a step fails, the others are still tried, a
        :class:`CleanupError` lists the failures and the container stays
        listed so that ``destroy()`` (or ``recover()``) can be retried.
        """
        if self._state != DESTROYED:
            self._service.destroy(self.handle)

    # --- limits ----------------------------------------------------------------------------

    def limit_memory(self, memory: int | str) -> None:
        """Change the memory limit (bytes, or a size such as ``"128M"``)."""
        self._set_limits(memory=memory)

    def limit_cpu(self, weight: int | None = None, max: float | None = None) -> None:
        """Change the CPU weight (1..10000) and/or the hard cap in cores."""
        changes: dict[str, Any] = {}
        if weight is not None:
            changes["cpu_weight"] = weight
        if max is not None:
            changes["cpu_max"] = max
        if not changes:
            raise SpecError("limit_cpu", "give weight= and/or max=", None)
        self._set_limits(**changes)

    def limit_processes(self, processes: int) -> None:
        """Change the most processes alive at once."""
        self._set_limits(processes=processes)

    def limit_disk(self, disk: int | str) -> None:
        """Change the disk limit (bytes, or a size such as ``"1G"``)."""
        self._set_limits(disk=disk)

    def _set_limits(self, **changes: Any) -> None:
        new = self._limits.replace(**changes)  # validates before anything changes
        with self._lock:
            self._require(ACTIVE, "change limits")
            self._view.set_limits(Limits(**{name: getattr(new, name) if name in changes else None
                                            for name in Limits.__dataclass_fields__}))
            self._limits = new
            self._ctx = dataclasses.replace(self._ctx, limits=new)
            self._service._limits_changed(self, new)

    # --- info ---------------------------------------------------------------------------------

    def stats(self) -> Stats:
        """Raw usage figures read from the OS now."""
        self._require_exists("read usage")
        return self._view.stats()

    def info(self) -> ContainerInfo:
        """State, limits, usage, kill events and properties."""
        self._require_exists("read info")
        stats = self._view.stats()
        self._service._sync_kernel_kills(self, stats)
        events = tuple(_kill_event(e) for e in self._service.store.events(self.handle))
        return ContainerInfo(
            handle=self.handle, state=self._state, path=self.path, uid=self.uid, user=self.user,
            created=self._created, limits=self._limits,
            memory_usage=stats.memory_usage, memory_peak=stats.memory_peak,
            cpu_time=stats.cpu_time, processes=stats.processes,
            disk_usage=stats.disk_usage, disk_method=stats.disk_method,
            kill_events=events, properties=self._service.store.properties(self.handle))

    def kill_events(self) -> list[KillEvent]:
        """Every limit enforcement recorded for this container, oldest first."""
        self._service._sync_kernel_kills(self, self._view.stats())
        return [_kill_event(e) for e in self._service.store.events(self.handle)]

    # --- properties --------------------------------------------------------------------------

    def properties(self) -> dict[str, str]:
        """All properties."""
        self._require_exists("read properties")
        return self._service.store.properties(self.handle)

    def get_property(self, name: str) -> str | None:
        """One property, or ``None``."""
        return self.properties().get(name)

    def set_property(self, name: str, value: str) -> None:
        """Set a property."""
        _spec.ContainerSpec(properties={name: value})  # same rules as at creation
        self._require_exists("set a property")
        self._service.store.set_property(self.handle, name, value)

    def remove_property(self, name: str) -> bool:
        """Remove a property; ``False`` if it was not set."""
        self._require_exists("remove a property")
        return self._service.store.remove_property(self.handle, name)

    # --- internals ------------------------------------------------------------------------------

    def _require(self, state: str, operation: str) -> None:
        if self._state != state:
            raise InvalidState(self._state, operation, f"container {self.handle!r} must be {state}")

    def _require_exists(self, operation: str) -> None:
        if self._state == DESTROYED:
            raise InvalidState(DESTROYED, operation, f"container {self.handle!r} was destroyed")

    def _mark_destroyed(self) -> None:
        self._state = DESTROYED
        self._view.close()


def _kill_event(record: EventRecord) -> KillEvent:
    return KillEvent(record.time, record.kind, record.limit, record.usage, record.pid, record.detail)


def default_root() -> str:
    """Where a service keeps its state and container directories by default."""
    if os.name == "nt":
        return os.path.join(os.environ.get("ProgramData", r"C:\ProgramData"), "ironframe")
    return "/var/lib/ironframe"
