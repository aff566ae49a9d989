"""ContainerService: create, find, list, destroy and recover containers.

The service owns a *root* directory holding the state store
(``state.db``), the container directories (``containers/<handle>``) and
any disk images (``images/``).  Creation follows the plan/record/act/undo
contract of :mod:`ironframe_py.backends.base`; destruction, rollback and
:meth:`ContainerService.recover` all release resources through the same
idempotent ``backend.release``, driven by what the store recorded.
"""

from __future__ import annotations

import builtins
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
from . import process as _process
from ._kills import KillEvent, KillLog
from ._store import Store, open_store
from .backends.base import Backend, ContainerContext, Resource
from .container import (
    ACTIVE,
    CREATING,
    DESTROYED,
    DESTROYING,
    STOPPED,
    Container,
    LiveState,
    default_root,
)
from .errors import CleanupError, IdentityTaken, InvalidState, SpecError, UnsupportedOnPlatform
from .service_guard import ServiceGuard
from .spec import ContainerSpec, Limits, check_handle

__all__ = ["ContainerService", "DEFAULT_UID_RANGE"]

log = logging.getLogger("ironframe_py")

#: uids (and gids) handed to containers by default; configurable per service.
DEFAULT_UID_RANGE = range(1_900_000, 1_900_000 + 65_536)

_CLAIM_ATTEMPTS = 5  # a uid can be taken by another service between reserve() and its claim

_HANDLE_ALPHABET = string.ascii_lowercase + string.digits

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
        self.backend: Backend = backend or _platform.make_backend(
            self.root, admin_group=admin_group, cgroup_parent=cgroup_parent)
        self._prepare_root()
        self.store: Store = open_store(self.root)
        self._kills = KillLog(self.store, on_event)
        # Open containers, each with the state it shares with its Container object.
        self._live: dict[str, tuple[Container, LiveState]] = {}
        self._lock = threading.RLock()
        self._owner = _owner_identity()
        _OPEN_SERVICES.add(self._owner[2])
        self._closed = False
        self._guard_down_logged = False
        self._guard = ServiceGuard(guard_interval, self._kills.guard_event, self.backend.guard_target) \
            if guard_interval is not None else None

    def __repr__(self) -> str:
        return f"<ContainerService root={self.root!r} backend={self.backend.platform}>"

    def __enter__(self) -> ContainerService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public API ----------------------------------------------------------------

    def create(self, spec: ContainerSpec | None = None, *, detached: bool = False) -> Container:
        """Create a container: user, directory, limits, disk; all or nothing.

        On any failure every resource made so far is released in reverse
        order and the original error is raised (cleanup failures are added
        to it as notes).

        :param detached: the container outlives this process: :meth:`recover`
            leaves it alone while it is healthy (active or stopped), and only
            :meth:`destroy` removes it.  By default a container belongs to
            the process that created it, and ``recover()`` removes it once
            that process has exited.
        """
        spec = spec if spec is not None else ContainerSpec()
        if not isinstance(spec, ContainerSpec):
            raise SpecError("spec", "must be an ironframe_py.ContainerSpec", spec)
        if not isinstance(detached, bool):
            raise SpecError("detached", "must be True or False", detached)
        self._check_open()
        _check_isolation(self.backend, spec.isolation)
        if spec.isolation == "user":
            self.backend.check_host()  # the job isolation needs no privilege
        started = time.monotonic()
        handle = spec.handle or _random_handle()
        for attempt in range(_CLAIM_ATTEMPTS):
            record = self.store.reserve(
                handle, self.uid_range, self._path_for, _spec_to_dict(spec, detached),
                self._owner, self.backend.uid_claimed)
            log.debug("create %s: uid %d, limits %s%s", record.handle, record.uid,
                      spec.limits.as_dict(), ", detached" if detached else "")
            ctx = ContainerContext(handle=record.handle, uid=record.uid, gid=record.uid,
                                   path=record.path, limits=spec.limits, env=dict(spec.env),
                                   network=spec.network)
            try:
                self._apply_plan(ctx, spec.isolation)
                break
            except IdentityTaken:  # another service claimed the uid between reserve and claim
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
                log.debug("create %s: uid %d was taken meanwhile; picking another", handle,
                          record.uid)
        self.store.mark_created(handle, ACTIVE)
        try:
            container = self._adopt(ctx, record.created, ACTIVE, detached)
        except BaseException as err:  # e.g. the guard could not watch it: not half-made either
            self._abandon(record.handle, err)
            raise
        log.debug("create %s: done in %.1f ms", record.handle, (time.monotonic() - started) * 1e3)
        return container

    def get(self, handle: str) -> Container:
        """The container called ``handle`` (also one created by another process).

        Raises :class:`ContainerNotFound` if there is none.
        """
        check_handle(handle)
        with self._lock:
            live = self._live.get(handle.lower())
            if live is not None:
                return live[0]
            record = self.store.container(handle)
            if record.state in (CREATING, DESTROYING):
                raise InvalidState(record.state, "open the container", f"{handle!r} is being "
                                   f"{'created' if record.state == CREATING else 'destroyed'}")
            return self._adopt(_context(record), record.created, record.state, _detached(record))

    # Past this method, `list` in the class body names the method, so the annotations
    # below it spell the type `builtins.list`.
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
            self._teardown(record, live[1] if live is not None else None)
        except BaseException:
            if live is not None:  # keep the object usable for a retry
                live[1].state = DESTROYING
                with self._lock:
                    self._live[record.handle.lower()] = live
            raise
        if live is not None:
            live[1].state = DESTROYED
            live[1].view.close()

    def recover(self) -> builtins.list[str]:
        """Reclaim everything a dead host left behind; return the handles removed.

        Removed, from their recorded resources (processes, cgroups, mounts,
        ACL entries, directories, users and uid reservations): every
        container left half-made or half-destroyed by a host process that is
        no longer alive, and every owned container whose owner has exited.
        Containers this service holds open are skipped, and so are detached
        containers (``create(detached=True)``, as ``ironframe create``
        makes them) while they are healthy.
        """
        self._check_open()
        removed, errors = [], []
        for record in self.store.containers():
            if record.handle.lower() in self._live:
                continue
            if _owner_alive(record):
                continue
            if _detached(record) and record.state in (ACTIVE, STOPPED):
                continue
            log.debug("recover %s: state %s, owner pid %d gone", record.handle, record.state,
                      record.owner_pid)
            try:
                self._teardown(record, None)
                removed.append(record.handle)
            except Exception as err:  # keep going: recover the rest, report all at the end
                log.warning("recover %s: %s", record.handle, err)
                errors.append(err)
        if errors:
            raise CleanupError(f"recover: {len(errors)} containers could not be removed", errors)
        return removed

    @property
    def guard_status(self) -> str:
        """``"running"``; ``"down"`` if the guard thread died or was stopped (kernel limits
        still hold; see :meth:`restart_guard`); ``"off"`` for a service made without one."""
        if self._guard is None:
            return "off"
        status = self._guard.status
        if status != "running" and not self._guard_down_logged:
            self._guard_down_logged = True
            log.error("the guard of %s is down: kernel limits hold, guard-only limits and "
                      "escapees are not enforced until restart_guard()", self.root)
        return status

    def restart_guard(self) -> None:
        """Start a new guard thread watching every open container (after it died)."""
        self._check_open()
        if self._guard is None:
            raise InvalidState("off", "restart the guard", "the service was made with "
                               "guard_interval=None")
        self._guard.restart()
        self._guard_down_logged = False

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
        for _, live in list(self._live.values()):
            live.view.close()
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
                started = time.monotonic()
                result = step.do()
                log.debug("create %s: step %s done in %.2f ms", ctx.handle, step.name,
                          (time.monotonic() - started) * 1e3)
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

    def _release_all(self, handle: str,
                     resources: Sequence[Resource]) -> builtins.list[Exception]:
        """Release in reverse order; forget the container if all went, else record what went.

        Every resource is tried, except that the identity (the backend's
        ``identity_kinds``, e.g. the host-wide uid claim) is kept while
        anything else of the container failed to go.
        """
        failed: builtins.list[Exception] = []
        released: builtins.list[Resource] = []
        for resource in reversed(resources):
            if failed and resource.kind in self.backend.identity_kinds:
                continue
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
            self._teardown(self.store.container(handle), live[1] if live is not None else None)
        except Exception as cleanup_err:  # reported on the original error; destroy() can retry
            _note_rollback_failures(handle, err, [cleanup_err])

    def _adopt(self, ctx: ContainerContext, created: float, state: str,
               detached: bool) -> Container:
        view = self.backend.open(ctx, self.store.resources(ctx.handle))
        live = LiveState(ctx, view, state, created, detached, self.backend.user_name(ctx))
        container = Container(live, _Host(self), self.store, self._kills)
        with self._lock:
            self._live[ctx.handle.lower()] = (container, live)
        if self._guard is not None and state == ACTIVE:
            self._guard.watch(ctx, view)
        return container

    # --- teardown ---------------------------------------------------------------------------

    def _teardown(self, record: Any, live: LiveState | None) -> None:
        started = time.monotonic()
        log.debug("destroy %s: state %s", record.handle, record.state)
        self.store.set_state(record.handle, DESTROYING)
        ctx = live.ctx if live is not None else _context(record)
        if self._guard is not None:
            self._guard.unwatch(record.handle)
        resources = self.store.resources(record.handle)
        errors: list[Exception] = []
        view = live.view if live is not None else self.backend.open(ctx, resources)
        try:
            view.kill_all(timeout=10.0)
        except Exception as err:  # still try to release; reported below
            errors.append(err)
        finally:
            view.close()
        if live is not None:  # our children: reap what the kill left as zombies
            for proc in list(live.processes):
                proc.poll()
            _process.reap_abandoned()
        errors += self._release_all(record.handle, resources)
        if errors:
            for failure in errors:
                log.warning("destroy %s: %s", record.handle, failure)
            raise CleanupError(f"destroy {record.handle!r}: {len(errors)} steps failed", errors)
        log.debug("destroy %s: done in %.1f ms", record.handle, (time.monotonic() - started) * 1e3)

    # --- the Container's host interface ------------------------------------------------------

    def _limits_changed(self, live: LiveState) -> None:
        """A container's limits changed: record them and tell the guard."""
        spec = self.store.container(live.ctx.handle).spec
        spec["limits"] = live.ctx.limits.as_dict()
        self.store.set_spec(live.ctx.handle, spec)
        if self._guard is not None:
            self._guard.update(live.ctx, live.view)

    # --- root -------------------------------------------------------------------------------------

    def _path_for(self, handle: str) -> str:
        return os.path.join(self.root, "containers", handle)

    def _prepare_root(self) -> None:
        os.makedirs(os.path.join(self.root, "containers"), exist_ok=True)
        self.backend.prepare_root(self.root)

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidState("closed", "use the service")


class _Host:
    """The :class:`~ironframe_py.container.ContainerHost` a service gives its containers."""

    def __init__(self, service: ContainerService) -> None:
        self._service = service

    def destroy(self, handle: str) -> None:
        self._service.destroy(handle)

    def limits_changed(self, live: LiveState) -> None:
        self._service._limits_changed(live)

    def guard_status(self) -> str:
        return self._service.guard_status


# --- helpers -----------------------------------------------------------------------------------------

def _note_rollback_failures(handle: str, err: BaseException, failures: Sequence[Exception]) -> None:
    """Attach each cleanup failure to the error that caused the rollback, and log it."""
    for cleanup_err in failures:
        err.add_note(f"rollback: {cleanup_err}")
        log.warning("rollback of %s: %s", handle, cleanup_err)


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


def _spec_to_dict(spec: ContainerSpec, detached: bool) -> dict[str, Any]:
    return {"limits": spec.limits.as_dict(), "env": dict(spec.env),
            "properties": dict(spec.properties), "detached": detached, "network": spec.network}


def _detached(record: Any) -> bool:
    return bool(record.spec.get("detached", False))


def _context(record: Any) -> ContainerContext:
    return ContainerContext(handle=record.handle, uid=record.uid, gid=record.uid, path=record.path,
                            limits=Limits(**record.spec["limits"]), env=record.spec["env"],
                            network=record.spec.get("network"))


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
