"""Container: the platform-neutral handle on one isolated process tree.

A :class:`Container` talks to the service that made it only through the
narrow :class:`ContainerHost` interface; the state both of them change
(lifecycle state, the backend's view, the context) lives in one
:class:`LiveState` that the service hands over at adoption.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from . import process as _process
from . import spec as _spec
from ._kills import KillEvent, KillLog
from ._store import Store
from .backends.base import BackendContainer, ContainerContext, Stats
from .errors import InvalidState, SpecError
from .process import ContainerProcess
from .spec import Limits, ProcessSpec, StdioSpec

__all__ = ["Container", "ContainerInfo", "ContainerHost", "LiveState", "KillEvent",
           "ACTIVE", "STOPPED", "DESTROYED"]

CREATING, ACTIVE, STOPPED, DESTROYING, DESTROYED = (
    "creating", "active", "stopped", "destroying", "destroyed")

# Container.run's default ``env``: ProcessSpec's (no variables beyond the container's), immutable.
_NO_ENV: Mapping[str, str] = MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class ContainerInfo:
    """A snapshot of a container: state, limits, usage and kill events.

    ``detached`` is true for a container made to outlive its creator;
    ``guard`` is the service's guard: ``"running"``, ``"down"`` (its thread
    died or was stopped: kernel limits still hold, guard-only limits and
    escapees are not enforced) or ``"off"``.
    """

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
    detached: bool = False
    guard: str = "off"
    namespaces: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (used by ``ironframe info --json``)."""
        out = dataclasses.asdict(self)
        out["properties"] = dict(self.properties)
        out["kill_events"] = [dataclasses.asdict(e) for e in self.kill_events]
        return out


class ContainerHost(Protocol):
    """What a :class:`Container` needs from the service that holds it."""

    def destroy(self, handle: str) -> None:
        """Destroy the container (the service's one teardown path)."""

    def limits_changed(self, live: LiveState) -> None:
        """The container's limits changed: keep the store and the guard in step."""

    def guard_status(self) -> str:
        """``"running"``, ``"down"`` or ``"off"`` (see ``ContainerService.guard_status``)."""


@dataclasses.dataclass
class LiveState:
    """The mutable state of one open container, shared by it and its service.

    The service creates it when it adopts a container and changes ``state``
    during teardown; the container changes ``ctx`` (its limits) and
    ``state`` (stop).  ``lock`` serialises both.
    """

    ctx: ContainerContext
    view: BackendContainer
    state: str
    created: float
    detached: bool
    user: str
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)
    #: processes started through this container and still referenced (reaped on destroy)
    processes: weakref.WeakSet[ContainerProcess] = dataclasses.field(default_factory=weakref.WeakSet)


class Container:
    """One container: run processes in it, read its usage, change limits, destroy it.

    Get one from :meth:`ContainerService.create` or
    :meth:`ContainerService.get`.  Usable as a context manager that destroys
    the container on exit.  All methods are thread-safe.
    """

    def __init__(self, live: LiveState, host: ContainerHost, store: Store, kills: KillLog) -> None:
        self._live = live
        self._host = host
        self._store = store
        self._kills = kills

    # --- identity ---------------------------------------------------------------------

    @property
    def handle(self) -> str:
        """The container's unique name."""
        return self._live.ctx.handle

    @property
    def path(self) -> str:
        """Host path of the container directory (only the container user and admins can enter)."""
        return self._live.ctx.path

    @property
    def uid(self) -> int:
        """Numeric id of the container user (Linux uid; a unique number on Windows)."""
        return self._live.ctx.uid

    @property
    def user(self) -> str:
        """Name of the container user (Linux: the uid as text, no passwd entry exists)."""
        return self._live.user

    @property
    def state(self) -> str:
        """``"active"``, ``"stopped"`` or ``"destroyed"``."""
        return self._live.state

    @property
    def limits(self) -> Limits:
        """The limits in force."""
        return self._live.ctx.limits

    @property
    def detached(self) -> bool:
        """True if the container was created to outlive its creator (``create(detached=True)``)."""
        return self._live.detached

    def __repr__(self) -> str:
        return f"<Container {self.handle!r} uid={self.uid} state={self.state} path={self.path!r}>"

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.state != DESTROYED:
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
        live = self._live
        with live.lock:
            self._require(ACTIVE, "run a process")
            full_env = dict(live.ctx.env)
            full_env.update(spec.env)
            proc = _process.start(live.view, spec, full_env, handle=self.handle,
                                  on_exit=self._process_exited)
            live.processes.add(proc)
            return proc

    def _process_exited(self, _proc: ContainerProcess) -> None:
        """Record the kernel OOM kills a process exit may reveal."""
        if self.state in (DESTROYING, DESTROYED):
            return
        try:
            self._sync_kernel_kills(self._live.view.stats())
        except Exception as err:  # the container may be going away under us
            logging.getLogger("ironframe_py").debug(
                "usage after exit of a process in %s: %s", self.handle, err)

    def pids(self) -> list[int]:
        """Ids of every process now in the container."""
        self._require_exists("list processes")
        return self._live.view.pids()

    def stop(self, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop every process; the container can then no longer run processes.

        With ``kill=False`` processes get SIGTERM (Windows: are terminated)
        and ``timeout`` seconds to exit before everything left is killed.
        """
        live = self._live
        with live.lock:
            self._require_exists("stop")
            if not kill:
                live.view.signal_all(signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while live.view.pids() and time.monotonic() < deadline:
                    time.sleep(0.01)
            live.view.kill_all(timeout=max(timeout, 5.0))
            live.state = STOPPED
            self._store.set_state(self.handle, STOPPED)

    def destroy(self) -> None:
        """Kill everything and remove every OS resource of the container.

        Idempotent.  If a step fails, the others are still tried, a
        :class:`CleanupError` lists the failures and the container stays
        listed so that ``destroy()`` (or ``recover()``) can be retried.
        """
        if self.state != DESTROYED:
            self._host.destroy(self.handle)

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
        live = self._live
        new = live.ctx.limits.replace(**changes)  # validates before anything changes
        with live.lock:
            self._require(ACTIVE, "change limits")
            live.view.set_limits(Limits(**{name: getattr(new, name) if name in changes else None
                                           for name in Limits.__dataclass_fields__}))
            live.ctx = dataclasses.replace(live.ctx, limits=new)
            self._host.limits_changed(live)

    # --- info ---------------------------------------------------------------------------------

    def info(self) -> ContainerInfo:
        """Everything about the container now: state, limits, usage, kill events, properties.

        This is the one call that reads usage from the OS; the other read
        calls (:meth:`kill_events`, :meth:`get_property`) return a part of
        what it returns.
        """
        self._require_exists("read info")
        live = self._live
        stats = live.view.stats()
        self._sync_kernel_kills(stats)
        return ContainerInfo(
            handle=self.handle, state=live.state, path=self.path, uid=self.uid, user=live.user,
            created=live.created, limits=live.ctx.limits,
            memory_usage=stats.memory_usage, memory_peak=stats.memory_peak,
            cpu_time=stats.cpu_time, processes=stats.processes,
            disk_usage=stats.disk_usage, disk_method=stats.disk_method,
            kill_events=tuple(self._kills.events(self.handle)),
            properties=self._store.properties(self.handle), detached=live.detached,
            guard=self._host.guard_status(), namespaces=stats.namespaces)

    def kill_events(self) -> list[KillEvent]:
        """Every limit enforcement recorded for this container, oldest first
        (``info().kill_events``, after the same check of the kernel's OOM-kill count)."""
        self._sync_kernel_kills(self._live.view.stats())
        return self._kills.events(self.handle)

    def _sync_kernel_kills(self, stats: Stats) -> None:
        self._kills.sync_kernel_oom_kills(self.handle, stats.oom_kills, self.limits.memory,
                                          stats.memory_peak)

    # --- properties --------------------------------------------------------------------------

    def get_property(self, name: str) -> str | None:
        """One property, or ``None`` (all of them are in ``info().properties``)."""
        self._require_exists("read properties")
        return self._store.properties(self.handle).get(name)

    def set_property(self, name: str, value: str) -> None:
        """Set a property."""
        _spec.ContainerSpec(properties={name: value})  # same rules as at creation
        self._require_exists("set a property")
        self._store.set_property(self.handle, name, value)

    def remove_property(self, name: str) -> bool:
        """Remove a property; ``False`` if it was not set."""
        self._require_exists("remove a property")
        return self._store.remove_property(self.handle, name)

    # --- internals ------------------------------------------------------------------------------

    def _require(self, state: str, operation: str) -> None:
        if self.state != state:
            raise InvalidState(self.state, operation, f"container {self.handle!r} must be {state}")

    def _require_exists(self, operation: str) -> None:
        if self.state == DESTROYED:
            raise InvalidState(DESTROYED, operation, f"container {self.handle!r} was destroyed")


def default_root() -> str:
    """Where a service keeps its state and container directories by default."""
    if os.name == "nt":
        return os.path.join(os.environ.get("ProgramData", r"C:\ProgramData"), "ironframe")
    return "/var/lib/ironframe"
