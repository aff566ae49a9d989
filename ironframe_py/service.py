"""ContainerService: create, find, list, destroy and recover containers.

The service owns a *root* directory holding the state store
(``state.db``), the container directories (``containers/<handle>``) and
any disk images (``images/``).  Creation follows the plan/record/act/undo
contract of :mod:`ironframe_py.backends.base`; destruction, rollback and
:meth:`ContainerService.recover` all release resources through the same
idempotent ``backend.release``, driven by what the store recorded.
"""

from __future__ import annotations

import logging
import os
import secrets
import string
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psutil

from . import _platform
from ._store import EventRecord, Store, open_store
from .backends.base import Backend, BackendContainer, ContainerContext, Resource, Stats
from .container import ACTIVE, CREATING, DESTROYED, DESTROYING, Container, KillEvent, default_root
from .errors import CleanupError, InvalidState, SpecError, UnsupportedOnPlatform
from .process import ContainerProcess
from .spec import DEVNULL, PIPE, STDOUT, ContainerSpec, Limits, ProcessSpec, check_handle

__all__ = ["ContainerService", "DEFAULT_UID_RANGE"]

log = logging.getLogger("ironframe_py")

#: uids (and gids) handed to containers by default; configurable per service.
DEFAULT_UID_RANGE = range(1_900_000, 1_900_000 + 65_536)

_HANDLE_ALPHABET = string.ascii_lowercase + string.digits

KERNEL_OOM = "the kernel OOM-killed a process; the guard stops the rest of the container"
GUARD_DETAILS = {
    "memory": "memory use crossed the limit; the guard killed the container",
    "escapee": "ran as the container user outside the container; the guard killed it",
}

# Ids of the services open in this process: a container whose owner is this
# process but whose service was closed has no host any more.
_OPEN_SERVICES: set[str] = set()


class ContainerService:
    """Creates and tracks containers under one root directory.

    :param root: state and container directories (default
        ``/var/lib/ironframe``, ``%ProgramData%\\ironframe`` on Windows).
    :param uid_range: ids handed out to container users (Linux uids/gids).
    :param admin_group: host group (name or gid) granted full access to every
        container directory through an ACL entry (default: ``root``/gid 0;
        Windows: Administrators).
    :param cgroup_parent: Linux only -- cgroup path (relative to each
        hierarchy's root) under which this service creates its cgroups;
        default: under the cgroups of the calling process.
    :param guard_interval: seconds between guard sweeps (``None`` turns the
        guard off; kernel limits still apply).
    :param on_event: called with ``(handle, KillEvent)`` whenever a limit is
        enforced -- from the guard thread, or from the thread that first
        noticed a kernel OOM kill (``info()``, a process exit).
    :param backend: a backend instance (tests); default: this OS's.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 uid_range: range = DEFAULT_UID_RANGE,
                 admin_group: int | str | None = None,
                 cgroup_parent: str | None = None,
                 guard_interval: float | None = 0.1,
                 on_event: Callable[[str, KillEvent], None] | None = None,
                 backend: Backend | None = None) -> None:
        _check_uid_range(uid_range)
        if guard_interval is not None and not 0.001 <= guard_interval <= 60:
            raise SpecError("guard_interval", "must be between 0.001 and 60 seconds", guard_interval)
        self.root = os.path.abspath(os.fspath(root if root is not None else default_root()))
        self.uid_range = uid_range
        self.on_event = on_event
        self.backend: Backend = backend or _platform.make_backend(
            self.root, admin_group=admin_group, cgroup_parent=cgroup_parent)
        self._prepare_root()
        self.store: Store = open_store(self.root)
        self._live: dict[str, Container] = {}
        self._lock = threading.RLock()
        self._owner = _owner_identity()
        _OPEN_SERVICES.add(self._owner[2])
        self._closed = False
        self._guard = self.backend.make_guard(guard_interval, self._guard_event) \
            if guard_interval is not None else None

    def __repr__(self) -> str:
        return f"<ContainerService root={self.root!r} backend={self.backend.platform}>"

    def __enter__(self) -> ContainerService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public API ----------------------------------------------------------------

    def create(self, spec: ContainerSpec | None = None) -> Container:
        """Create a container: user, directory, limits, disk; all or nothing.

        On any failure every resource made so far is released in reverse
        order and the original error is raised (cleanup failures are added
        to it as notes).
        """
        spec = spec if spec is not None else ContainerSpec()
        if not isinstance(spec, ContainerSpec):
            raise SpecError("spec", "must be an ironframe_py.ContainerSpec", spec)
        self._check_open()
        _check_isolation(self.backend, spec.isolation)
        if spec.isolation == "user":
            self.backend.check_host()  # the job isolation needs no privilege
        handle = spec.handle or _random_handle()
        record = self.store.reserve(
            handle, self.uid_range, self._path_for, _spec_to_dict(spec),
            self._owner, self.backend.uid_claimed)
        ctx = ContainerContext(handle=record.handle, uid=record.uid, gid=record.uid,
                               path=record.path, limits=spec.limits, env=dict(spec.env))
        self._apply_plan(ctx, spec.isolation)
        self.store.mark_created(handle, ACTIVE)
        try:
            return self._adopt(ctx, record.created, ACTIVE)
        except BaseException as err:  # e.g. the guard could not watch it: not half-made either
            self._abandon(record.handle, err)
            raise

    def get(self, handle: str) -> Container:
        """The container called ``handle`` (also one created by another process).

        Raises :class:`ContainerNotFound` if there is none.
        """
        check_handle(handle)
        with self._lock:
            live = self._live.get(handle.lower())
            if live is not None:
                return live
            record = self.store.container(handle)
            if record.state in (CREATING, DESTROYING):
                raise InvalidState(record.state, "open the container", f"{handle!r} is being "
                                   f"{'created' if record.state == CREATING else 'destroyed'}")
            return self._adopt(_context(record), record.created, record.state)

    def list(self) -> list[str]:
        """Handles of every container in the store, including half-destroyed ones."""
        return [record.handle for record in self.store.containers()]

    def destroy(self, handle: str) -> None:
        """Kill everything in the container and remove all its OS resources.

        A container that is already gone raises :class:`ContainerNotFound`;
        one whose teardown failed stays listed (state ``destroying``) and
        may be destroyed again.
        """
        check_handle(handle)
        with self._lock:
            record = self.store.container(handle)
            live = self._live.pop(record.handle.lower(), None)
        try:
            self._teardown(record, live)
        except BaseException:
            if live is not None:  # keep the object usable for a retry
                live._state = DESTROYING
                with self._lock:
                    self._live[record.handle.lower()] = live
            raise
        if live is not None:
            live._mark_destroyed()

    def recover(self) -> list[str]:
        """Reclaim everything a dead host left behind; return the handles removed.

        Every container in the store whose owning host process is no longer
        alive (and that this service does not hold open) is destroyed from
        its recorded resources: processes, cgroups, mounts, ACL entries,
        directories, users and uid reservations.  Containers made with the
        ``ironframe create`` command belong to that (exited) command, so
        ``recover`` removes them too.
        """
        self._check_open()
        removed, errors = [], []
        for record in self.store.containers():
            if record.handle.lower() in self._live:
                continue
            if _owner_alive(record):
                continue
            try:
                self._teardown(record, None)
                removed.append(record.handle)
            except Exception as err:  # keep going: recover the rest, report all at the end
                errors.append(err)
        if errors:
            raise CleanupError(f"recover: {len(errors)} containers could not be removed", errors)
        return removed

    def close(self) -> None:
        """Stop the guard and release service-level resources.

        Containers are left running (they are in the store); destroy them
        first, or call :meth:`recover` from the next service.
        """
        if self._closed:
            return
        self._closed = True
        _OPEN_SERVICES.discard(self._owner[2])
        if self._guard is not None:
            self._guard.stop()
        for container in list(self._live.values()):
            container._view.close()
        self._live.clear()
        self.backend.close()
        self.store.close()

    # --- creation ------------------------------------------------------------------------

    def _apply_plan(self, ctx: ContainerContext, isolation: str = "user") -> None:
        # "job" is offered only by backends that list it (see _check_isolation)
        plan = self.backend.plan_job if isolation == "job" else self.backend.plan  # type: ignore[attr-defined]
        try:
            for step in plan(ctx):
                if step.resource is not None:
                    self.store.add_intent(ctx.handle, step.resource)
                result = step.do()
                if step.resource is not None and result is not None and result != step.resource:
                    self.store.update_resource(ctx.handle, result)
        except BaseException as err:
            self._rollback(ctx.handle, err)
            raise

    def _rollback(self, handle: str, err: BaseException) -> None:
        failed = self._release_all(handle, self.store.resources(handle))
        _note_rollback_failures(handle, err, failed)
        if failed:
            self.store.set_state(handle, DESTROYING)  # leave it for destroy()/recover()

    def _release_all(self, handle: str, resources: Sequence[Resource]) -> list[Exception]:
        """Release in reverse order; forget the container if all went, else record what went."""
        failed: list[Exception] = []
        released: list[Resource] = []
        for resource in reversed(resources):
            try:
                self.backend.release(resource)
            except Exception as err:  # keep releasing the rest; all failures are reported
                failed.append(err)
                continue
            released.append(resource)
        if failed:
            for resource in released:
                self.store.remove_resource(handle, resource)
        else:
            self.store.forget(handle, released)
        return failed

    def _abandon(self, handle: str, err: BaseException) -> None:
        """Tear down a container whose creation failed after its resources were made."""
        with self._lock:
            live = self._live.pop(handle.lower(), None)
        try:
            self._teardown(self.store.container(handle), live)
        except Exception as cleanup_err:  # reported on the original error; destroy() can retry
            _note_rollback_failures(handle, err, [cleanup_err])

    def _adopt(self, ctx: ContainerContext, created: float, state: str) -> Container:
        view = self.backend.open(ctx, self.store.resources(ctx.handle))
        container = Container(self, ctx, created, view, state)
        with self._lock:
            self._live[ctx.handle.lower()] = container
        if self._guard is not None and state == ACTIVE:
            self._guard.watch(ctx, view)
        return container

    # --- teardown ---------------------------------------------------------------------------

    def _teardown(self, record: Any, live: Container | None) -> None:
        self.store.set_state(record.handle, DESTROYING)
        ctx = live._ctx if live is not None else _context(record)
        if self._guard is not None:
            self._guard.unwatch(record.handle)
        resources = self.store.resources(record.handle)
        errors: list[Exception] = []
        view = live._view if live is not None else self.backend.open(ctx, resources)
        try:
            view.kill_all(timeout=10.0)
        except Exception as err:  # still try to release; reported below
            errors.append(err)
        finally:
            view.close()
        errors += self._release_all(record.handle, resources)
        if errors:
            raise CleanupError(f"destroy {record.handle!r}: {len(errors)} steps failed", errors)

    # --- processes ------------------------------------------------------------------------------

    def _spawn(self, container: Container, view: BackendContainer, spec: ProcessSpec,
               env: dict[str, str]) -> ContainerProcess:
        child_fds, parent_fds, to_close = _stdio(spec)
        try:
            handle = view.spawn(spec, env, child_fds)
        except BaseException:
            for fd in parent_fds:
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            for fd in to_close:
                os.close(fd)
        handle.stdin_fd, handle.stdout_fd, handle.stderr_fd = parent_fds
        return ContainerProcess(handle, tuple(spec.argv), spec.text,
                                on_exit=lambda proc: self._process_exited(container))

    def _process_exited(self, container: Container) -> None:
        if container.state == DESTROYED:
            return
        try:
            self._sync_kernel_kills(container, container._view.stats())
        except Exception as err:  # the container may be going away under us
            log.debug("usage after exit of a process in %s: %s", container.handle, err)

    # --- events ------------------------------------------------------------------------------------

    def _sync_kernel_kills(self, container: Container, stats: Stats) -> None:
        """Record kernel OOM kills the store does not know about yet."""
        self._record_oom_kills(container.handle, stats.oom_kills, container.limits.memory,
                               stats.memory_peak)

    def _record_oom_kills(self, handle: str, total: int, limit: int | None,
                          peak: int | None) -> list[KillEvent]:
        """Bring the recorded kernel OOM kills of ``handle`` up to ``total``.

        Both the guard (as they happen) and ``info()`` (from the kernel's
        counter) report them; counting makes the two agree without duplicates.
        """
        added = []
        with self._lock:
            known = sum(1 for e in self.store.events(handle, kinds=("memory",))
                        if e.detail.startswith(KERNEL_OOM))
            for _ in range(total - known):
                event = KillEvent(time.time(), "memory", limit, peak, None, KERNEL_OOM)
                self._record(handle, event)
                added.append(event)
        self._notify(handle, added)
        return added

    def _notify(self, handle: str, events: Sequence[KillEvent]) -> None:
        if self.on_event is None:
            return
        for event in events:
            try:
                self.on_event(handle, event)
            except Exception:  # the caller's callback must not break the guard or info()
                log.exception("on_event callback failed for %s", handle)

    def _record(self, handle: str, event: KillEvent) -> None:
        self.store.add_event(EventRecord(handle, event.time, event.limit, event.value,
                                         event.usage, event.pid, event.detail))

    def _guard_event(self, event: Any) -> None:
        """A :class:`~ironframe_py.guard.GuardEvent` from the guard thread."""
        handle = event.key
        if event.kind == "oom_kill":
            self._record_oom_kills(handle, event.count, event.limit, event.usage)
            return
        kill = KillEvent(event.time, "memory" if event.kind == "memory" else "escapee",
                         event.limit, event.usage, event.pid, GUARD_DETAILS[event.kind])
        with self._lock:
            self._record(handle, kill)
        self._notify(handle, [kill])

    def _limits_changed(self, container: Container, limits: Limits) -> None:
        spec = self.store.container(container.handle).spec
        spec["limits"] = limits.as_dict()
        self.store.set_spec(container.handle, spec)
        if self._guard is not None:
            self._guard.update(container._ctx, container._view)

    # --- root -------------------------------------------------------------------------------------

    def _path_for(self, handle: str) -> str:
        return os.path.join(self.root, "containers", handle)

    def _prepare_root(self) -> None:
        os.makedirs(os.path.join(self.root, "containers"), exist_ok=True)
        self.backend.prepare_root(self.root)

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidState("closed", "use the service")


# --- helpers -----------------------------------------------------------------------------------------

def _note_rollback_failures(handle: str, err: BaseException, failures: Sequence[Exception]) -> None:
    """Attach each cleanup failure to the error that caused the rollback, and log it."""
    for cleanup_err in failures:
        err.add_note(f"rollback: {cleanup_err}")
        log.error("rollback of %s: %s", handle, cleanup_err)


def _random_handle() -> str:
    return "".join(secrets.choice(_HANDLE_ALPHABET) for _ in range(11))


def _check_uid_range(uid_range: Any) -> None:
    if not isinstance(uid_range, range) or uid_range.step != 1 or len(uid_range) == 0:
        raise SpecError("uid_range", "must be a non-empty range with step 1", uid_range)
    if uid_range.start < 1000 or uid_range.stop > 2**32 - 2:
        raise SpecError("uid_range", "must lie within 1000..4294967293 (no system ids)", uid_range)


def _check_isolation(backend: Any, isolation: str) -> None:
    """Raise :class:`UnsupportedOnPlatform` before anything is made for an isolation the
    backend does not offer (each backend lists its own in ``isolations``)."""
    offered = getattr(backend, "isolations", ("user",))
    if isolation not in offered:
        raise UnsupportedOnPlatform(
            f"isolation={isolation!r}", f"the {backend.platform} backend offers only "
            f"{', '.join(map(repr, offered))}: a container there always has a user of its own "
            "(a job-only container is what Windows Job Objects give)")


def _spec_to_dict(spec: ContainerSpec) -> dict[str, Any]:
    return {"limits": spec.limits.as_dict(), "env": dict(spec.env),
            "properties": dict(spec.properties)}


def _context(record: Any) -> ContainerContext:
    return ContainerContext(handle=record.handle, uid=record.uid, gid=record.uid, path=record.path,
                            limits=Limits(**record.spec["limits"]), env=record.spec["env"])


def _owner_identity() -> tuple[int, float, str]:
    """This process (pid and start time, which together survive pid reuse) and this service."""
    return os.getpid(), psutil.Process().create_time(), secrets.token_hex(8)


def _owner_alive(record: Any) -> bool:
    """Is the service that created the container still open?"""
    if record.owner_pid == os.getpid():
        return record.owner_id in _OPEN_SERVICES
    try:
        return abs(psutil.Process(record.owner_pid).create_time() - record.owner_start) < 0.01
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _stdio(spec: ProcessSpec) -> tuple[list[int], list[int | None], list[int]]:
    """Child fds for stdin/stdout/stderr, the parent's pipe ends, and fds to close after spawn."""
    child: list[int] = []
    parent: list[int | None] = []
    to_close: list[int] = []
    for index, value in enumerate((spec.stdin, spec.stdout, spec.stderr)):
        parent_end: int | None = None
        if value is None:
            fd = index
        elif value == PIPE:
            read_end, write_end = os.pipe()
            fd, parent_end = (read_end, write_end) if index == 0 else (write_end, read_end)
            to_close.append(fd)
        elif value == DEVNULL:
            fd = os.open(os.devnull, os.O_RDWR)
            to_close.append(fd)
        elif value == STDOUT and index == 2:
            fd = child[1]
        elif isinstance(value, int):
            fd = value
        else:
            fd = value.fileno()
        child.append(fd)
        parent.append(parent_end)
    return child, parent, to_close
