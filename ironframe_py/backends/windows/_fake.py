"""An in-memory fake of the tier-1 Win32 API, for orchestration tests on any OS (private).

:class:`FakeWindows` offers the same function names and signatures as
:mod:`._api` (``fake.kernel32.CreateJobObject``, ``fake.netapi32.NetUserAdd``,
...), takes and fills the same cffi structs, and fails the same ways: the
typed errors of :func:`ironframe_py.errors.os_error` with the Win32 code the
real call would give.  It keeps the state the real OS would (users,
profiles, jobs and their processes, DACLs, quota entries, handles), so tests
can assert that nothing is left behind.

``fail_at=N`` makes the N-th call (counted from 1 over every function)
raise ``fail_code`` once, unless it is one of :data:`NEVER_FAILS`;
``calls`` lists every call made.  Directories are
real (the tests use a temporary one); only their DACLs are faked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from typing import Any

from ... import _winerror as W  # noqa: N812 (reads like the C names)
from ...errors import UnsupportedOnPlatform, os_error
from ._dll import NULL
from ._ffi import C, ffi

ALL_CAPABILITIES = ("ntfs_quota", "process_with_token", "user_profiles")
# Calls that cannot fail on a valid argument (CloseHandle fails only on a bad handle,
# which the fake reports by itself): failures are never injected into them.
NEVER_FAILS = frozenset({"CloseHandle", "GetCurrentProcess"})


@dataclasses.dataclass
class FakeJob:
    """A job object: name, limits as last set, processes, whether its last handle closed."""

    name: str | None
    extended: Any = None
    cpu_rate: tuple[int, int] | None = None
    ui: int = 0
    pids: list[int] = dataclasses.field(default_factory=list)
    handles: int = 1
    total_processes: int = 0


@dataclasses.dataclass
class FakeProcess:
    """A process: which job holds it, whether it runs, its commit and exit code."""

    pid: int
    memory: int = 1 << 20
    exit_code: int | None = None
    user: str | None = None


class _Part:
    """One fake DLL: attribute access finds its functions, each call counted by the owner."""

    def __init__(self, owner: FakeWindows, functions: dict[str, Any]) -> None:
        self._owner = owner
        self._functions = functions

    def __getattr__(self, name: str):
        function = self._functions.get(name)
        if function is None:
            raise AttributeError(name)

        def call(*args, **kwargs):
            self._owner._count(name)
            return function(*args, **kwargs)

        return call


class FakeWindows:
    """The fake OS and its five DLLs; pass it as ``api=`` to primitives and the backend."""

    def __init__(self, *, fail_at: int | None = None, fail_code: int = W.ERROR_ACCESS_DENIED,
                 capabilities: tuple[str, ...] = ALL_CAPABILITIES,
                 quota_flags: int = C.FILE_VC_QUOTA_ENFORCE) -> None:
        self.fail_at = fail_at
        self.fail_code = fail_code
        self.capabilities = set(capabilities)
        self.quota_flags = quota_flags
        self.calls: list[str] = []
        self.users: dict[str, dict[str, Any]] = {}  # lower-case name -> facts
        self.profiles: set[str] = set()  # SID strings
        self.jobs: dict[int, FakeJob] = {}  # handle value -> job
        self.processes: dict[int, FakeProcess] = {}
        self.acls: dict[str, tuple[int, list]] = {}  # path -> (control, entries)
        self.quotas: dict[tuple[str, str], int] = {}  # (drive, SID string) -> limit
        self.open_handles: dict[int, tuple[str, Any]] = {}
        self._acl_blobs: dict[bytes, list] = {}
        self._next = itertools.count(0x100, 4)
        self._pids = itertools.count(1000, 4)
        self._rid = itertools.count(1001)
        self.kernel32 = _Part(self, self._kernel32())
        self.advapi32 = _Part(self, self._advapi32())
        self.netapi32 = _Part(self, self._netapi32())
        self.userenv = _Part(self, self._userenv())
        self.ntdll = _Part(self, self._ntdll())

    # --- the Api protocol ----------------------------------------------------------------------

    def has(self, capability: str) -> bool:
        """Like ``_dll.has``: the capabilities this fake host was built with."""
        return capability in self.capabilities

    def require(self, capability: str) -> None:
        """Like ``_dll.require``."""
        if capability not in self.capabilities:
            raise UnsupportedOnPlatform(capability, "not exported on this (fake) host")

    def is_wine(self) -> bool:
        """The fake is not Wine."""
        return False

    # --- bookkeeping -----------------------------------------------------------------------------

    def _count(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_at is not None and len(self.calls) == self.fail_at and name not in NEVER_FAILS:
            raise os_error(name, winerror=self.fail_code, target="injected failure")

    def _handle(self, kind: str, obj: Any):
        value = next(self._next)
        self.open_handles[value] = (kind, obj)
        return ffi.cast("HANDLE", value)

    def _get(self, handle, kind: str, function: str):
        entry = self.open_handles.get(int(ffi.cast("uintptr_t", handle)))
        if entry is None or entry[0] != kind:
            raise os_error(function, winerror=W.ERROR_INVALID_HANDLE)
        return entry[1]

    def leftovers(self) -> dict[str, Any]:
        """Everything that still exists in the fake OS (empty dict: nothing leaked)."""
        live_jobs = {h: j.name for h, j in self.jobs.items() if j.handles > 0}
        running = {p.pid for p in self.processes.values() if p.exit_code is None}
        found = {"users": sorted(self.users), "profiles": sorted(self.profiles),
                 "jobs": live_jobs, "processes": sorted(running), "quotas": sorted(self.quotas),
                 "handles": {h: k for h, (k, _) in self.open_handles.items()}}
        return {key: value for key, value in found.items() if value}

    def start_process(self, job_handle=None, *, memory: int = 1 << 20, user: str | None = None) -> int:
        """A running process (in the job of ``job_handle``, if given); returns its pid."""
        process = FakeProcess(next(self._pids), memory, user=user)
        self.processes[process.pid] = process
        if job_handle is not None:
            job = self._get(job_handle, "job", "AssignProcessToJobObject")
            job.pids.append(process.pid)
            job.total_processes += 1
        return process.pid

    def _end(self, pid: int, code: int) -> None:
        process = self.processes[pid]
        if process.exit_code is None:
            process.exit_code = code
        for job in self.jobs.values():
            if pid in job.pids:
                job.pids.remove(pid)

    # --- kernel32 ---------------------------------------------------------------------------------

    def _kernel32(self) -> dict[str, Any]:
        def CreateJobObject(name=None):
            for job in self.jobs.values():
                if name is not None and job.name == name and job.handles > 0:
                    job.handles += 1  # as on Windows: the existing job is opened
                    return self._handle("job", job)
            job = FakeJob(name)
            handle = self._handle("job", job)
            self.jobs[int(ffi.cast("uintptr_t", handle))] = job
            return handle

        def OpenJobObject(access, name):
            for job in self.jobs.values():
                if job.name == name and job.handles > 0:
                    job.handles += 1
                    return self._handle("job", job)
            raise os_error("OpenJobObjectW", winerror=W.ERROR_FILE_NOT_FOUND, target=name)

        def SetInformationJobObject(job_handle, info_class, info):
            job = self._get(job_handle, "job", "SetInformationJobObject")
            if info_class == C.JobObjectExtendedLimitInformation:
                job.extended = ffi.new("JOBOBJECT_EXTENDED_LIMIT_INFORMATION *", info[0])
            elif info_class == C.JobObjectCpuRateControlInformation:
                job.cpu_rate = (info.ControlFlags, info.CpuRate)
            elif info_class == C.JobObjectBasicUIRestrictions:
                job.ui = info.UIRestrictionsClass
            elif info_class != C.JobObjectAssociateCompletionPortInformation:
                raise os_error("SetInformationJobObject", winerror=W.ERROR_INVALID_PARAMETER)

        def QueryInformationJobObject(job_handle, info_class, info, size=None):
            job = self._get(job_handle, "job", "QueryInformationJobObject")
            if info_class == C.JobObjectExtendedLimitInformation:
                if job.extended is not None:
                    info[0] = job.extended[0]
            elif info_class == C.JobObjectBasicProcessIdList:
                capacity = (size - ffi.offsetof("JOBOBJECT_BASIC_PROCESS_ID_LIST", "ProcessIdList")) \
                    // ffi.sizeof("ULONG_PTR")
                listed = job.pids[:capacity]
                info.NumberOfAssignedProcesses = len(job.pids)
                info.NumberOfProcessIdsInList = len(listed)
                ids = ffi.cast("ULONG_PTR *", ffi.addressof(info, "ProcessIdList"))
                for index, pid in enumerate(listed):
                    ids[index] = pid
            elif info_class == C.JobObjectBasicAccountingInformation:
                info.ActiveProcesses = len(job.pids)
                info.TotalProcesses = job.total_processes
            return 0

        def AssignProcessToJobObject(job_handle, process_handle):
            job = self._get(job_handle, "job", "AssignProcessToJobObject")
            process = self._get(process_handle, "process", "AssignProcessToJobObject")
            job.pids.append(process.pid)
            job.total_processes += 1

        def TerminateJobObject(job_handle, code):
            job = self._get(job_handle, "job", "TerminateJobObject")
            for pid in list(job.pids):
                self._end(pid, code)

        def IsProcessInJob(process_handle, job_handle=NULL):
            process = self._get(process_handle, "process", "IsProcessInJob")
            if job_handle == NULL:
                return any(process.pid in job.pids for job in self.jobs.values())
            return process.pid in self._get(job_handle, "job", "IsProcessInJob").pids

        def CloseHandle(handle):
            value = int(ffi.cast("uintptr_t", handle))
            entry = self.open_handles.pop(value, None)
            if entry is None:
                raise os_error("CloseHandle", winerror=W.ERROR_INVALID_HANDLE)
            kind, obj = entry
            if kind == "job":
                obj.handles -= 1
                flags = obj.extended.BasicLimitInformation.LimitFlags if obj.extended else 0
                if obj.handles == 0 and flags & C.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE:
                    for pid in list(obj.pids):
                        self._end(pid, 0)

        def OpenProcess(access, pid):
            process = self.processes.get(pid)
            if process is None or process.exit_code is not None:
                raise os_error("OpenProcess", winerror=W.ERROR_INVALID_PARAMETER, target=str(pid))
            return self._handle("process", process)

        def GetProcessMemoryInfo(process_handle):
            process = self._get(process_handle, "process", "K32GetProcessMemoryInfo")
            counters = ffi.new("PROCESS_MEMORY_COUNTERS_EX *")
            counters.PagefileUsage = process.memory
            return counters

        def GetCurrentProcess():
            return ffi.cast("HANDLE", -1)

        def GetVolumePathName(path):
            return (path[:2] + "\\") if path[1:2] == ":" else "C:\\"

        def CreateFile(path, access, share, disposition, flags):
            return self._handle("file", path)

        return {name: value for name, value in locals().items() if name[0].isupper()}

    # --- advapi32 ---------------------------------------------------------------------------------

    def _sid_for(self, name: str) -> bytes:
        return b"SID:" + name.lower().encode()

    def _advapi32(self) -> dict[str, Any]:
        well_known = {"S-1-5-18": b"SID:system", "S-1-5-32-544": b"SID:administrators"}

        def LookupAccountName(name):
            user = self.users.get(name.lower())
            if user is None:
                raise os_error("LookupAccountNameW", winerror=W.ERROR_NONE_MAPPED, target=name)
            return user["sid"], "FAKEHOST", C.SidTypeUser

        def ConvertSidToStringSid(sid):
            for text, value in well_known.items():
                if value == sid:
                    return text
            for user in self.users.values():
                if user["sid"] == sid:
                    return user["sid_string"]
            return "S-1-5-21-" + hashlib.sha1(sid).hexdigest()[:8]

        def ConvertStringSidToSid(text):
            if text in well_known:
                return well_known[text]
            for user in self.users.values():
                if user["sid_string"] == text:
                    return user["sid"]
            if not text.startswith("S-1-"):
                raise os_error("ConvertStringSidToSidW", winerror=W.ERROR_INVALID_SID, target=text)
            return b"SID:" + text.encode()

        def SetEntriesInAcl(entries):
            blob = b"ACL:%d" % len(self._acl_blobs)
            self._acl_blobs[blob] = [tuple(entry) for entry in entries]
            return blob

        def SetNamedSecurityInfo(path, info, dacl=None, owner=None):
            import os

            if not os.path.exists(path):
                raise os_error("SetNamedSecurityInfoW", winerror=W.ERROR_FILE_NOT_FOUND, target=path)
            protected = C.SE_DACL_PROTECTED if info & C.PROTECTED_DACL_SECURITY_INFORMATION else 0
            self.acls[path] = (C.SE_DACL_PRESENT | protected, dacl)

        def GetNamedSecurityInfo(path):
            control, dacl = self.acls.get(path, (C.SE_DACL_PRESENT, None))
            return control, list(self._acl_blobs.get(dacl, []))

        def LogonUser(user, domain, password, logon_type, provider=0):
            facts = self.users.get(user.lower())
            if facts is None or facts["password"] != password:
                raise os_error("LogonUserW", winerror=W.ERROR_LOGON_FAILURE, target=user)
            return self._handle("token", user)

        def CreateProcessWithToken(token, logon_flags, command_line, flags, environment, cwd, startup):
            user = self._get(token, "token", "CreateProcessWithTokenW")
            process = FakeProcess(next(self._pids), user=user)
            self.processes[process.pid] = process
            info = ffi.new("PROCESS_INFORMATION *")
            info.hProcess, info.hThread = self._handle("process", process), self._handle("thread", process)
            info.dwProcessId = process.pid
            return info

        def OpenProcessToken(process, access):
            return self._handle("token", "host")

        def AdjustTokenPrivileges(token, name, enable):
            self._get(token, "token", "AdjustTokenPrivileges")

        return {name: value for name, value in locals().items() if name[0].isupper()}

    # --- netapi32 ---------------------------------------------------------------------------------

    def _netapi32(self) -> dict[str, Any]:
        def NetUserAdd(server, name, password, comment="", flags=0):
            if name.lower() in self.users:
                raise os_error("NetUserAdd", winerror=W.NERR_UserExists, target=name)
            rid = next(self._rid)
            self.users[name.lower()] = {"name": name, "password": password, "groups": ["Users"],
                                        "comment": comment,
                                        "sid": self._sid_for(name),
                                        "sid_string": f"S-1-5-21-1-2-3-{rid}"}

        def NetUserDel(server, name):
            if self.users.pop(name.lower(), None) is None:
                raise os_error("NetUserDel", winerror=W.NERR_UserNotFound, target=name)

        def NetUserGetInfo(server, name):
            user = self.users.get(name.lower())
            if user is None:
                raise os_error("NetUserGetInfo", winerror=W.NERR_UserNotFound, target=name)
            return {"name": user["name"], "priv": 1, "flags": 0, "comment": user["comment"]}

        def NetUserSetPassword(server, name, password):
            user = self.users.get(name.lower())
            if user is None:
                raise os_error("NetUserSetInfo", winerror=W.NERR_UserNotFound, target=name)
            user["password"] = password

        def NetUserGetLocalGroups(server, name):
            user = self.users.get(name.lower())
            if user is None:
                raise os_error("NetUserGetLocalGroups", winerror=W.NERR_UserNotFound, target=name)
            return list(user["groups"])

        def NetLocalGroupAddMembers(server, group, members):
            for member in members:
                self.users[member.lower()]["groups"].append(group)

        return {name: value for name, value in locals().items() if name[0].isupper()}

    # --- userenv ----------------------------------------------------------------------------------

    def _userenv(self) -> dict[str, Any]:
        def LoadUserProfile(token, user):
            facts = self.users[self._get(token, "token", "LoadUserProfileW").lower()]
            self.profiles.add(facts["sid_string"])
            return self._handle("profile", user)

        def UnloadUserProfile(token, profile):
            self._get(profile, "profile", "UnloadUserProfile")
            self.open_handles.pop(int(ffi.cast("uintptr_t", profile)))

        def DeleteProfile(sid_string):
            if sid_string not in self.profiles:
                raise os_error("DeleteProfileW", winerror=W.ERROR_FILE_NOT_FOUND, target=sid_string)
            self.profiles.discard(sid_string)

        return {name: value for name, value in locals().items() if name[0].isupper()}

    # --- ntdll --------------------------------------------------------------------------------------

    def _ntdll(self) -> dict[str, Any]:
        def _drive(volume) -> str:
            return self._get(volume, "file", "NtSetQuotaInformationFile")[4:6]

        def NtSetQuotaInformationFile(volume, sid, threshold, limit):
            key = (_drive(volume), self.advapi32.ConvertSidToStringSid(sid))
            if limit == -2:
                self.quotas.pop(key, None)
            else:
                self.quotas[key] = limit

        def NtQueryQuotaInformationFile(volume, sid):
            key = (_drive(volume), self.advapi32.ConvertSidToStringSid(sid))
            return None if key not in self.quotas else (0, self.quotas[key], self.quotas[key])

        def query_volume_control(volume):
            _drive(volume)
            return self.quota_flags, -1, -1

        def set_volume_control(volume, flags):
            _drive(volume)
            self.quota_flags = flags

        return {name: value for name, value in locals().items()
                if not name.startswith("_") and name != "self"}
