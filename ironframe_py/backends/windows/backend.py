"""WindowsBackend: composes a local user, its profile, an NTFS quota, the container
directory with its protected DACL, and a Job Object into a container.

Creation plan, in order (each resource recorded before it is made):

1. the local user ``c_<18 hex>`` with a random in-memory password;
2. with a disk limit: the user's NTFS quota on the directory's volume
   (checked first: quotas must be enforced there);
3. the user's profile (created now, as IronFrame learnt, not racily by the
   first launch);
4. the container directory, then its protected DACL (user, SYSTEM,
   Administrators: no resource of its own, it lives on the directory);
5. the named Job Object with kill-on-close and the limits (no UI
   restrictions: a job with them cannot nest inside the job the Secondary
   Logon service starts each child in).
   This process keeps its handle: if the host dies, Windows closes it and
   kill-on-close ends every process of the container.

Release runs in reverse: the job (killing what is left), the directory
(files gone, so NTFS lets the quota entry go), the profile, the quota
entry, the user.  ``release`` needs nothing but the recorded resource, so
rollback, ``destroy`` and ``recover`` share it; "already gone" is success.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import stat
import threading
import time
from collections.abc import Mapping, Sequence

from ..._winerror import ERROR_NOT_ALL_ASSIGNED, NERR_UserExists
from ...errors import (
    InvalidState,
    NotFound,
    OSCallError,
    ProcessesSurvived,
    SpecError,
    UnsupportedOnPlatform,
    os_error,
)
from ...spec import Limits, ProcessSpec
from ..base import ContainerContext, Resource, Stats, Step
from . import acl, launch, quota, users
from ._api import REAL, Api
from ._ffi import C
from .guard_target import WindowsGuardTarget, target_for
from .job import JobObject, cpu_rate_for, terminate_named, weight_for

LOGON_TYPES = {"interactive": C.LOGON32_LOGON_INTERACTIVE, "batch": C.LOGON32_LOGON_BATCH}
# Enabled by check_host(): each is checked enabled (not merely held) by the call that needs it.
PRIVILEGES = (
    "SeImpersonatePrivilege",  # CreateProcessWithTokenW
    "SeRestorePrivilege",  # LoadUserProfileW (with SeBackup); setting a file's owner to another
    "SeBackupPrivilege",
    "SeDebugPrivilege",  # opening container processes (the guard, stats, kill)
    "SeTakeOwnershipPrivilege",  # taking back files a container locked the host out of
)
# Held by LocalSystem (not by administrators): with them a child is created by
# CreateProcessAsUserW inside the container's job, instead of by the Secondary Logon service.
AS_USER_PRIVILEGES = ("SeAssignPrimaryTokenPrivilege", "SeIncreaseQuotaPrivilege")
EXIT_KILLED = 1


def job_name_for(root: str, user: str) -> str:
    """The job's name: unique per service root and container (session namespace)."""
    service = hashlib.sha1(os.path.normcase(root).encode("utf-8")).hexdigest()[:8]
    return f"ironframe-{service}-{user}"


def check_limits(limits: Limits, *, quotas: bool) -> None:
    """Raise :class:`UnsupportedOnPlatform` for limits a Windows job or volume cannot hold."""
    if limits.cpu_max is not None and limits.cpu_weight is not None:
        raise UnsupportedOnPlatform("cpu_max with cpu_weight", "a Windows job has either a CPU "
                                    "hard cap or a relative weight, not both")
    if limits.disk is not None and not quotas:
        raise UnsupportedOnPlatform("limit_disk", "this host's ntdll has no NT quota calls "
                                    "(NtSetQuotaInformationFile): quotas unavailable")


class WindowsBackend:
    """The :class:`~ironframe_py.backends.base.Backend` for Windows (needs an administrator).

    :param admin_group: the account or group given full control of container
        directories next to SYSTEM (default ``BUILTIN\\Administrators``).
    :param cgroup_parent: Linux only; must be ``None`` here.
    :param groups: local groups to add each container user to (none by default;
        IronFrame added ``IIS_IUSRS`` for the batch-logon right).
    :param logon_type: ``"interactive"`` (default; ``Users`` may log on locally)
        or ``"batch"`` (needs the "Log on as a batch job" right).
    :param profiles: create and delete a profile per user (default ``True``).
    :param api: the tier-1 calls (tests pass the in-memory fake).
    """

    platform = "windows"
    identity_kinds: frozenset[str] = frozenset()  # SIDs are never reused
    isolations = ("user", "job")  # see ContainerSpec.isolation and plan_job()

    def __init__(self, root: str, *, admin_group: int | str | None = None,
                 cgroup_parent: str | None = None, groups: Sequence[str] = (),
                 logon_type: str = "interactive", profiles: bool = True, api: Api = REAL) -> None:
        if logon_type not in LOGON_TYPES:
            raise SpecError("logon_type", f"must be one of {sorted(LOGON_TYPES)}", logon_type)
        if cgroup_parent is not None:
            raise UnsupportedOnPlatform("cgroup_parent", "Windows has job objects, not cgroups")
        if admin_group is not None and not isinstance(admin_group, str):
            raise SpecError("admin_group", "must be an account or group name on Windows", admin_group)
        self.root = root
        self.admin_group = admin_group
        self.groups = tuple(groups)
        self.logon_type = LOGON_TYPES[logon_type]
        self.profiles = profiles
        self.api = api
        self._users: dict[str, users.LocalUser] = {}  # passwords live here only
        self._jobs: dict[str, JobObject] = {}
        self._lock = threading.Lock()
        self._privileges_enabled = False
        self._as_user = False  # CreateProcessAsUserW allowed (see AS_USER_PRIVILEGES)

    def __repr__(self) -> str:
        return f"<WindowsBackend root={self.root!r} jobs={len(self._jobs)}>"

    # --- host ----------------------------------------------------------------------------

    def check_host(self) -> None:
        """Raise unless this process can launch as other users; enable the privileges it needs.

        Holding a privilege is not enough: each call checks it is *enabled* in the
        caller's token, and an administrator's token has most of them disabled.
        """
        self.api.require("process_with_token")
        if self.profiles:
            self.api.require("user_profiles")
        self._enable_privileges()

    def _enable_privileges(self) -> None:
        """Enable :data:`PRIVILEGES` in this process's token (once per backend)."""
        if self._privileges_enabled:
            return
        k32, adv = self.api.kernel32, self.api.advapi32
        token = adv.OpenProcessToken(k32.GetCurrentProcess(),
                                     C.TOKEN_ADJUST_PRIVILEGES | C.TOKEN_QUERY)
        try:
            for name in PRIVILEGES:
                adv.AdjustTokenPrivileges(token, name, True)
            try:
                for name in AS_USER_PRIVILEGES:
                    adv.AdjustTokenPrivileges(token, name, True)
                self._as_user = True
            except OSCallError as err:
                if err.winerror != ERROR_NOT_ALL_ASSIGNED:
                    raise
                self._as_user = False  # an administrator, not LocalSystem: CreateProcessWithTokenW
        finally:
            k32.CloseHandle(token)
        self._privileges_enabled = True

    def prepare_root(self, root: str) -> None:
        """Nothing beyond the service's own directories: each container directory is
        protected by its own DACL (and traversal needs no rights on Windows)."""

    def uid_claimed(self, uid: int) -> bool:
        """Windows identifies containers by user name, not uid: never claimed elsewhere."""
        return False

    def user_name(self, ctx: ContainerContext) -> str:
        """``c_`` + 18 upper-case hex chars of SHA-1(handle)."""
        return users.user_name_for(ctx.handle)

    def guard_target(self, ctx: ContainerContext, view: WindowsContainerView) -> WindowsGuardTarget:
        """The job handle and user SID through which the guard watches this container."""
        return target_for(ctx, view, exit_code=EXIT_KILLED)

    def close(self) -> None:
        """Close the job handles this service still holds (kill-on-close ends their processes)."""
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job.close()

    # --- plan ----------------------------------------------------------------------------------

    def plan(self, ctx: ContainerContext) -> list[Step]:
        """Ordered creation steps for ``ctx`` (see the module docstring)."""
        check_limits(ctx.limits, quotas=self.api.has("ntfs_quota"))
        if self.profiles:
            self.api.require("user_profiles")
        name = self.user_name(ctx)
        if users.LocalUser.exists(name, api=self.api):  # someone else's: never ours to delete
            raise os_error("NetUserAdd", winerror=NERR_UserExists, target=name,
                           strerror="a local account with this container's user name exists")
        comment = f"ironframe container {ctx.handle}"
        steps = [Step("user", lambda: self._create_user(name, comment),
                      Resource("user", name, {"comment": comment}))]
        if ctx.limits.disk is not None:
            steps.append(self._quota_step(ctx, name))
        if self.profiles:
            steps.append(Step("profile", lambda: self._create_profile(name),
                              Resource("profile", name)))
        steps.append(Step("directory", lambda: _make_dir(ctx.path), Resource("dir", ctx.path)))
        steps.append(Step("secure directory", lambda: self._secure_dir(ctx, name)))
        job_name = job_name_for(self.root, name)
        steps.append(Step("job", lambda: self._create_job(ctx, job_name), Resource("job", job_name)))
        return steps

    def plan_job(self, ctx: ContainerContext) -> list[Step]:
        """Creation steps for ``isolation="job"``: the directory and the job, nothing else.

        No user (processes run as this service's own user), no DACL, no quota, no
        profile: nothing that needs an administrator.  The job and its resources are
        marked ``isolation: job`` so that a later ``open()`` knows the mode.
        """
        check_limits(ctx.limits, quotas=True)
        if ctx.limits.disk is not None:
            raise UnsupportedOnPlatform("limit_disk", "isolation='job' has no user of its own to "
                                        "hold an NTFS quota (quotas are per user and volume)")
        mark = {"isolation": "job"}
        job_name = job_name_for(self.root, users.user_name_for(ctx.handle))
        return [Step("directory", lambda: _make_dir(ctx.path), Resource("dir", ctx.path, mark)),
                Step("job", lambda: self._create_job(ctx, job_name), Resource("job", job_name, mark))]

    def _user(self, name: str) -> users.LocalUser:
        with self._lock:
            user = self._users.get(name)
        return user if user is not None else users.LocalUser(name, None, api=self.api)

    def _create_user(self, name: str, comment: str) -> Resource:
        user = users.LocalUser.create(name, comment=comment, api=self.api)
        with self._lock:
            self._users[name] = user
        for group in self.groups:
            self.api.netapi32.NetLocalGroupAddMembers(None, group, [name])
        return Resource("user", name, {"comment": comment, "sid": user.sid_string()})

    def _quota_step(self, ctx: ContainerContext, name: str) -> Step:
        drive = quota.volume_of(os.path.dirname(ctx.path) or ctx.path, api=self.api)
        quota.check_volume(drive, api=self.api)  # before any resource exists or is recorded
        resource = Resource("quota", name, {"drive": drive})

        def do() -> Resource:
            user = self._user(name)
            disk = quota.DiskQuota(drive, user.sid(), api=self.api)
            assert ctx.limits.disk is not None  # the step exists only for a disk limit
            disk.set_limit(ctx.limits.disk)
            return Resource("quota", name, {"drive": drive, "sid": user.sid_string()})

        return Step("disk quota", do, resource)

    def _create_profile(self, name: str) -> Resource:
        user = self._user(name)
        user.create_profile(self.logon_type)
        return Resource("profile", name, {"sid": user.sid_string()})

    def _secure_dir(self, ctx: ContainerContext, name: str) -> None:
        admin_sid = None
        if self.admin_group is not None:
            admin_sid = self.api.advapi32.LookupAccountName(self.admin_group)[0]
        acl.DirectoryAcl(ctx.path, self._user(name).sid(), admin_sid=admin_sid, api=self.api).apply()

    def _create_job(self, ctx: ContainerContext, job_name: str) -> None:
        job = JobObject(job_name, api=self.api)
        with self._lock:
            self._jobs[job_name] = job  # registered first: release() closes it on rollback
        job.set_limits(kill_on_close=True)  # no UI limits: a job with them cannot nest (see launch)
        apply_limits(job, ctx.limits)

    # --- release ---------------------------------------------------------------------------------

    def release(self, resource: Resource) -> None:
        """Remove one recorded resource; succeeds if it is already gone."""
        kind = resource.kind
        if kind == "job":
            self._release_job(resource.key)
        elif kind == "dir":
            if resource.data.get("isolation") != "job":  # nothing ran as another user there
                self._enable_privileges()  # SeTakeOwnership/SeRestore, for files a container locked
            remove_tree(resource.key, api=self.api)
        elif kind == "profile":
            sid = resource.data.get("sid") or self._sid_string_or_none(resource.key)
            if sid is not None:
                users.delete_profile(sid, api=self.api)
        elif kind == "quota":
            self._release_quota(resource)
        elif kind == "user":
            with self._lock:
                made_here = resource.key in self._users  # NetUserAdd succeeded in this process
            if "sid" in resource.data or made_here or self._is_ours(resource):
                users.delete_user(resource.key, api=self.api)
            with self._lock:
                self._users.pop(resource.key, None)
        else:
            raise ValueError(f"unknown resource kind {kind!r} in the state store")

    def _release_job(self, job_name: str) -> None:
        with self._lock:
            job = self._jobs.pop(job_name, None)
        if job is None:
            terminate_named(job_name, EXIT_KILLED, api=self.api)
            return
        try:
            job.terminate(EXIT_KILLED)
        finally:
            job.close()

    def _is_ours(self, resource: Resource) -> bool:
        """For a user step that never finished: does the account carry our comment?
        (NetUserAdd may have failed because the name was taken by someone else.)"""
        try:
            info = self.api.netapi32.NetUserGetInfo(None, resource.key)
        except NotFound:
            return False
        return info["comment"] == resource.data.get("comment")

    def _sid_string_or_none(self, name: str) -> str | None:
        """The user's SID if the user still exists (a step recorded but never finished)."""
        try:
            return self._user(name).sid_string()
        except NotFound:
            return None

    def _release_quota(self, resource: Resource) -> None:
        sid = resource.data.get("sid") or self._sid_string_or_none(resource.key)
        if sid is None or "drive" not in resource.data:
            return  # the user never existed or the step never started: no entry was made
        sid_bytes = self.api.advapi32.ConvertStringSidToSid(sid)
        quota.DiskQuota(resource.data["drive"], sid_bytes, api=self.api).delete()

    # --- runtime ---------------------------------------------------------------------------------

    def open(self, ctx: ContainerContext, resources: Sequence[Resource]) -> WindowsContainerView:
        """Runtime view of a created container.  Pure: it makes nothing, so get(), destroy()
        and recover() create no job; the job is found when needed (see ``find_job``)."""
        job = next((r for r in resources if r.kind == "job"), None)
        disk = next((r for r in resources if r.kind == "quota"), None)
        own_user = job is None or job.data.get("isolation") != "job"
        return WindowsContainerView(self, ctx, self.user_name(ctx) if own_user else None,
                                    job.key if job is not None else None, disk)

    def find_job(self, ctx: ContainerContext, job_name: str, *, create: bool) -> JobObject | None:
        """The container's job: the handle this service holds, else the named job opened
        (another handle still keeps it), else -- only if ``create`` -- a fresh one with the
        container's limits (the host that made it died, and kill-on-close took its processes
        with it).  ``None`` when it does not exist and ``create`` is false."""
        with self._lock:
            job = self._jobs.get(job_name)
        if job is not None:
            return job
        try:
            opened = JobObject.open(job_name, api=self.api)
        except NotFound:
            if not create:
                return None
            self._create_job(ctx, job_name)
        else:
            with self._lock:
                job = self._jobs.setdefault(job_name, opened)
            if job is not opened:
                opened.close()  # another thread registered it first
        with self._lock:
            return self._jobs[job_name]


def apply_limits(job: JobObject, limits: Limits) -> None:
    """Write the non-``None`` fields of ``limits`` to the job."""
    if limits.memory is not None or limits.processes is not None:
        job.set_limits(job_memory=limits.memory, active_processes=limits.processes)
    if limits.cpu_max is not None:
        job.set_cpu_rate(hard_cap=cpu_rate_for(limits.cpu_max, os.cpu_count() or 1))
    elif limits.cpu_weight is not None:
        job.set_cpu_rate(weight=weight_for(limits.cpu_weight))


def _make_dir(path: str) -> None:
    os.makedirs(path, exist_ok=True)


def remove_tree(path: str, *, api: Api = REAL) -> None:
    """Delete a directory tree; "already gone" is success, anything left behind is raised.

    Read-only files are made writable and retried.  A file or directory whose
    DACL the container user changed to lock the host out is taken back first
    (:func:`_reclaim`; the caller enables SeTakeOwnership and SeRestore), and
    the tree is walked again, since a directory we could not list hid what is
    below it.  On Windows the walk uses extended-length (``\\\\?\\``) paths, so that a tree
    deeper than MAX_PATH is removed, not reported as missing.
    """
    target = long_path(path)

    def on_error(function, failed, excinfo) -> None:
        err = excinfo[1] if isinstance(excinfo, tuple) else excinfo
        if not os.path.lexists(failed):
            return  # removed meanwhile
        if isinstance(err, PermissionError):
            _reclaim(failed, api)
        os.chmod(failed, stat.S_IWRITE | stat.S_IREAD)
        function(failed)

    for walk in range(REMOVE_WALKS):
        if not os.path.lexists(target):
            return
        try:
            shutil.rmtree(target, onerror=on_error)
        except OSError:
            if walk == REMOVE_WALKS - 1 and os.path.lexists(target):
                raise


REMOVE_WALKS = 3


def long_path(path: str) -> str:
    """``path`` with the ``\\\\?\\`` prefix on Windows (no MAX_PATH limit); else unchanged."""
    if os.name != "nt" or path.startswith("\\\\?\\"):
        return path
    full = os.path.abspath(path)
    if full.startswith("\\\\"):
        return "\\\\?\\UNC\\" + full[2:]
    return "\\\\?\\" + full


def _reclaim(target: str, api: Api) -> None:
    """Give SYSTEM and Administrators full control of ``target`` again: the owner first (which
    SeTakeOwnership/SeRestore allow), then -- as the owner, who may always write the DACL --
    the DACL.  One call setting both needs WRITE_DAC, which those privileges do not give."""
    system = api.advapi32.ConvertStringSidToSid(acl.SYSTEM_SID)
    admins = api.advapi32.ConvertStringSidToSid(acl.ADMINISTRATORS_SID)
    api.advapi32.SetNamedSecurityInfo(target, C.OWNER_SECURITY_INFORMATION, owner=admins)
    entries = [(sid, C.FILE_ALL_ACCESS, C.SET_ACCESS, C.NO_INHERITANCE) for sid in (system, admins)]
    api.advapi32.SetNamedSecurityInfo(target, C.DACL_SECURITY_INFORMATION,
                                      api.advapi32.SetEntriesInAcl(entries))


class WindowsContainerView:
    """Processes, usage and limits of one Windows container (its job found on each use)."""

    def __init__(self, backend: WindowsBackend, ctx: ContainerContext, user_name: str | None,
                 job_name: str | None, disk: Resource | None) -> None:
        self.backend = backend
        self.ctx = ctx
        self.user_name = user_name
        self.job_name = job_name
        self.disk = disk
        self._api = backend.api

    def __repr__(self) -> str:
        return f"<WindowsContainerView {self.ctx.handle!r} user={self.user_name} {self.job_name}>"

    def _find_job(self, *, create: bool) -> JobObject | None:
        if self.job_name is None:
            if create:
                raise InvalidState("incomplete", "run or measure processes",
                                   f"{self.ctx.handle!r} has no job (its creation never finished)")
            return None
        return self.backend.find_job(self.ctx, self.job_name, create=create)

    @property
    def job(self) -> JobObject:
        """The job, for the guard (which must watch one): made again if the host lost it."""
        job = self._find_job(create=True)
        assert job is not None
        return job

    def spawn(self, spec: ProcessSpec, env: Mapping[str, str],
              stdio: Sequence[int | None]) -> launch.WindowsProcess:
        """Start ``spec`` as the container user, inside the job."""
        job = self.job
        cwd = os.path.join(self.ctx.path, *spec.cwd.split("/")) if spec.cwd else self.ctx.path
        full_env = {**_system_env(), "USERPROFILE": self.ctx.path, "TEMP": self.ctx.path,
                    "TMP": self.ctx.path, **env}
        if self.user_name is None:  # isolation="job": as this service's own user
            return launch.spawn(job, list(spec.argv), full_env, cwd, stdio, api=self._api)
        self.backend._enable_privileges()  # a restarted service may not have created anything
        user = self.backend._user(self.user_name)
        if user.password is None:
            user.reset_password()  # the service restarted: only a new password lets us log on
            with self.backend._lock:
                self.backend._users[self.user_name] = user
        token = user.logon(self.backend.logon_type)
        try:
            return launch.spawn(job, list(spec.argv), full_env, cwd, stdio, token=token,
                                as_user=self.backend._as_user, api=self._api)
        finally:
            users.close_token(token, api=self._api)

    def user_sid(self) -> bytes | None:
        """The container user's SID (binary), as the guard's escapee sweep wants it; ``None``
        (no sweep) for ``isolation="job"``, whose processes run as the service's own user."""
        if self.user_name is None:
            return None
        return self.backend._user(self.user_name).sid()

    def pids(self) -> list[int]:
        """Every process in the container's job (none if there is no job)."""
        job = self._find_job(create=False)
        return job.pids() if job is not None else []

    def kill_all(self, timeout: float) -> None:
        """Terminate the job's processes and the user's escapees; wait until none is left."""
        job = self._find_job(create=False)
        if job is not None:
            job.terminate(EXIT_KILLED)
        if self.user_name is not None:
            kill_escapees(self.user_name, set(), self._api)
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            if time.monotonic() > deadline:
                raise ProcessesSurvived(f"job {self.ctx.handle}", pids, timeout)
            time.sleep(0.01)

    def signal_all(self, sig: int) -> None:
        """Windows has no signals: every process of the container is terminated."""
        job = self._find_job(create=False)
        if job is not None:
            job.terminate(EXIT_KILLED)

    def stats(self) -> Stats:
        """Usage from the job's accounting, its processes' commit, and the quota."""
        limits = self.ctx.limits
        disk_usage = disk_limit = None
        if self.disk is not None:
            entry = self._quota().query()
            if entry is not None:
                disk_usage, disk_limit = entry
        job = self._find_job(create=False)
        if job is None:  # no job (yet): nothing runs
            return Stats(memory_usage=0, memory_limit=limits.memory, cpu_time=0.0, processes=0,
                         process_limit=limits.processes, disk_usage=disk_usage,
                         disk_limit=disk_limit, disk_method="quota" if self.disk else None)
        accounting = job.accounting()
        return Stats(memory_usage=memory_of(job.pids(), self._api),
                     memory_peak=accounting.peak_job_memory or None, memory_limit=limits.memory,
                     cpu_time=accounting.user_time + accounting.kernel_time,
                     processes=accounting.active_processes, process_limit=limits.processes,
                     disk_usage=disk_usage, disk_limit=disk_limit,
                     disk_method="quota" if self.disk is not None else None)

    def _quota(self) -> quota.DiskQuota:
        assert self.disk is not None
        sid = self._api.advapi32.ConvertStringSidToSid(self.disk.data["sid"])
        return quota.DiskQuota(self.disk.data["drive"], sid, api=self._api)

    def set_limits(self, limits: Limits) -> None:
        """Apply the non-``None`` fields of ``limits`` to the running job (and the quota); a job
        made later (see ``find_job``) gets them too."""
        check_limits(limits, quotas=True)
        if limits.disk is not None:
            if self.disk is None:
                raise UnsupportedOnPlatform(
                    "limit_disk", "a disk limit can only be changed on a container created with one")
            self._quota().set_limit(limits.disk)
        changed = {field.name: getattr(limits, field.name) for field in dataclasses.fields(limits)
                   if getattr(limits, field.name) is not None}
        self.ctx = dataclasses.replace(self.ctx, limits=dataclasses.replace(self.ctx.limits,
                                                                            **changed))
        job = self._find_job(create=False)
        if job is not None:
            apply_limits(job, limits)

    def close(self) -> None:
        """The job handle belongs to the backend (it must outlive views); nothing to release."""


def memory_of(pids: Sequence[int], api: Api = REAL) -> int:
    """Sum of the processes' commit (PagefileUsage; Wine reports PrivateUsage as 0).
    Processes that exit while being read are skipped."""
    total = 0
    access = C.PROCESS_QUERY_LIMITED_INFORMATION | C.PROCESS_VM_READ
    for pid in pids:
        try:
            handle = api.kernel32.OpenProcess(access, pid)
        except OSCallError:
            continue  # gone (or not ours to read) between listing and opening
        try:
            total += api.kernel32.GetProcessMemoryInfo(handle).PagefileUsage
        except OSCallError:
            pass  # it exited meanwhile; its memory is no longer in use
        finally:
            api.kernel32.CloseHandle(handle)
    return total


def kill_escapees(user_name: str, keep: set[int], api: Api = REAL) -> list[int]:
    """Terminate processes running as ``user_name`` (outside ``keep``); return their pids."""
    if os.name != "nt":
        return []
    import psutil  # type: ignore[import-untyped]

    killed = []
    suffix = "\\" + user_name.lower()
    for process in psutil.process_iter(["username"]):
        owner = (process.info.get("username") or "").lower()
        if (owner == user_name.lower() or owner.endswith(suffix)) and process.pid not in keep:
            try:
                process.kill()
                killed.append(process.pid)
            except psutil.Error:
                continue  # exited already, or vanished between listing and killing
    return killed


def _system_env() -> dict[str, str]:
    """The few variables most Windows programs cannot start without."""
    names = ("SystemRoot", "SystemDrive", "windir", "ComSpec", "PATHEXT")
    return {name: os.environ[name] for name in names if name in os.environ}
