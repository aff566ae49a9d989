"""The Backend protocol: the few primitives each operating system supplies.

The platform-neutral layers (:mod:`ironframe_py.service`,
:mod:`ironframe_py.container`) drive a backend through these types only.

Creation is a *plan* of :class:`Step` objects.  For each step the service
records the step's :class:`Resource` in the state store as an intent, runs
``step.do()``, records the (possibly updated) resource as done and keeps the
undo (``backend.release(resource)``) on a stack that is unwound in reverse
on any failure.  ``release`` must be idempotent and must work from the
recorded resource alone, so that ``destroy()``, rollback and ``recover()``
after a crash share one code path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .._resource import Resource
from ..spec import Limits, ProcessSpec

__all__ = ["Resource", "Step", "ContainerContext", "Stats", "KillReport",
           "ProcessHandle", "BackendContainer", "GuardWatch", "Backend"]


@dataclasses.dataclass(frozen=True)
class Step:
    """One creation step: ``do()`` acquires ``resource`` (if any).

    ``do`` may return an updated :class:`Resource` (same kind and key, more
    data, e.g. the loop device that was attached); ``None`` keeps the one
    recorded.  A step with ``resource=None`` configures something already
    recorded and needs no undo of its own.
    """

    name: str
    do: Callable[[], Resource | None]
    resource: Resource | None = None


@dataclasses.dataclass(frozen=True)
class ContainerContext:
    """What a backend needs to know about a container: fixed at creation."""

    handle: str
    uid: int
    gid: int
    path: str
    limits: Limits
    env: Mapping[str, str]
    network: str | None = None           # ContainerSpec.network (None: the platform default)


@dataclasses.dataclass(frozen=True)
class Stats:
    """Usage of a container as read from the OS; ``None`` where not available."""

    memory_usage: int | None = None
    memory_peak: int | None = None
    memory_limit: int | None = None
    cpu_time: float | None = None        # seconds, user + system
    processes: int | None = None
    process_limit: int | None = None
    disk_usage: int | None = None
    disk_limit: int | None = None
    disk_method: str | None = None       # "quota", "loopfs" or None
    oom_kills: int = 0                   # kernel OOM kills seen so far (Linux)
    namespaces: tuple[str, ...] = ()     # Linux namespaces of the container ("mnt", "net", ...)


@dataclasses.dataclass(frozen=True)
class KillReport:
    """A kernel-side limit enforcement noticed by the backend."""

    limit: str                           # "memory", "processes", ...
    value: int | float | None
    usage: int | float | None
    detail: str = ""


@runtime_checkable
class ProcessHandle(Protocol):
    """The OS side of one process started in a container.

    ``stdin``/``stdout``/``stderr`` are the parent's ends of any pipes
    (raw file descriptors on Linux, ints from ``msvcrt.open_osfhandle`` on
    Windows), or ``None``.
    """

    pid: int
    stdin_fd: int | None
    stdout_fd: int | None
    stderr_fd: int | None

    def wait(self, timeout: float | None) -> int | None:
        """Wait up to ``timeout`` seconds; return the exit status or ``None``.

        The status follows :attr:`subprocess.Popen.returncode`: ``-N`` when
        killed by signal N (Linux); the exit code on Windows.
        """

    def send_signal(self, sig: int) -> None:
        """Deliver ``sig`` (Windows: any signal terminates)."""

    def close(self) -> None:
        """Release OS handles (pidfd, process handle); idempotent."""


class BackendContainer(Protocol):
    """Runtime view of one existing container, rebuilt from its resources."""

    def spawn(self, spec: ProcessSpec, env: Mapping[str, str],
              stdio: Sequence[int | None]) -> ProcessHandle:
        """Start ``spec`` inside the container with the given child stdio fds."""

    def pids(self) -> list[int]:
        """Every process currently in the container."""

    def kill_all(self, timeout: float) -> None:
        """Kill every process, including escaped-by-setsid ones; wait until none is left."""

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to every process in the container (for graceful stop)."""

    def stats(self) -> Stats:
        """Current usage and limits, read from the OS."""

    def set_limits(self, limits: Limits) -> None:
        """Apply changed limits while the container runs."""

    def close(self) -> None:
        """Release any handles held by this view (not the container)."""


class GuardWatch(Protocol):
    """One watched container as :class:`ironframe_py.guard.Guard` holds it: the OS half
    of the guard (``backends/<os>/guard_watch.py``), which keeps what the target needs
    open and fills the OS's C target struct (``ifg_target``) from it.

    The guard builds a fresh array of C targets whenever its set of targets
    changes; ``save`` and ``fill`` carry what the C loop learnt across that.
    """

    key: str
    target: Any                           # the OS's frozen target dataclass (has memory_limit)
    register_at: float                    # monotonic time after which to register thresholds
    usage: int
    peak: int

    def register_thresholds(self) -> bool:
        """Register kernel-side thresholds, if the OS has any (slow; off the caller's
        path); True if the C target should be refilled to use them."""

    def fill(self, cell: Any, key_index: int) -> None:
        """Write this target into one C ``ifg_target`` (``key_index``: its place)."""

    def save(self, cell: Any) -> None:
        """Keep what the C loop wrote into ``cell`` before the array is rebuilt."""

    def carry(self, old: Any) -> None:
        """Continue ``old`` (the same container watched before with other settings)."""

    def close(self) -> None:
        """Release what this watch holds (fds); the guard calls it once the C loop
        no longer uses them."""


class Backend(Protocol):
    """What each OS supplies.  See the module docstring for the contract."""

    platform: str
    #: Kinds of resource that reserve the container's identity on the host (the
    #: Linux uid claim): released only once every other resource is gone, so that
    #: an identity is never handed out while anything of its last container remains.
    identity_kinds: frozenset[str]

    def plan(self, ctx: ContainerContext) -> list[Step]:
        """Ordered steps that create the container's OS resources."""

    def release(self, resource: Resource) -> None:
        """Remove one resource; succeed if it is already gone."""

    def open(self, ctx: ContainerContext, resources: Sequence[Resource]) -> BackendContainer:
        """A runtime view over a created container."""

    def uid_claimed(self, uid: int) -> bool:
        """True if another service on this host holds ``uid`` (never hand it out)."""

    def user_name(self, ctx: ContainerContext) -> str:
        """Name of the container user (Windows account name; the uid as text on Linux)."""

    def prepare_root(self, root: str) -> None:
        """Create/secure the service root's sub-directories (called once per service)."""

    def guard_target(self, ctx: ContainerContext, view: BackendContainer) -> Any:
        """What the guard watches for this container (this OS's guard target: cgroup
        files on Linux, the job handle and user SID on Windows); the service hands it
        to its :class:`~ironframe_py.service_guard.ServiceGuard`."""

    def check_host(self) -> None:
        """Raise a clear error if this host cannot run containers (privileges...)."""

    def close(self) -> None:
        """Release service-level resources (e.g. empty parent cgroups)."""
