"""Per-user NTFS disk quota on the volume of the container directory (tier 2).

NTFS quotas are per user and per *volume* (not per directory), as in
IronFrame: the limit covers everything the container user owns on that
volume.  They must be enabled and enforced on the volume by the operator
(``fsutil quota enforce C:``); :meth:`DiskQuota.check_volume` raises a clear
:class:`~ironframe_py.UnsupportedOnPlatform` otherwise, and so does every
call on a host whose ntdll lacks the NT quota calls (Wine).

NT APIs used (ntifs.h): NtSetQuotaInformationFile,
NtQueryQuotaInformationFile and NtQueryVolumeInformationFile
(FileFsControlInformation), on a handle to the
volume's quota index ``\\\\.\\C:\\$Extend\\$Quota:$Q:$INDEX_ALLOCATION`` as
``fsutil`` opens it.  Needs an administrator.  Windows 2000+.
"""

from __future__ import annotations

import re

from ..._winerror import STATUS_INVALID_DEVICE_REQUEST, STATUS_NO_MATCH
from ...errors import OSCallError, UnsupportedOnPlatform
from ._api import REAL, Api
from ._ffi import C

QUOTA_INDEX = "\\$Extend\\$Quota:$Q:$INDEX_ALLOCATION"
NO_LIMIT = -1
DELETE_ENTRY = -2  # a QuotaLimit of -2 asks NTFS to remove the entry (MS-FSCC 2.4.36)
GONE = (STATUS_NO_MATCH, STATUS_INVALID_DEVICE_REQUEST)  # a delete that finds nothing to delete


def volume_of(path: str, *, api: Api = REAL) -> str:
    """The drive (``C:``) holding ``path``; quotas on mount-point volumes are not supported."""
    root = api.kernel32.GetVolumePathName(path)
    match = re.fullmatch(r"([A-Za-z]:)\\?", root)
    if match is None:
        raise UnsupportedOnPlatform("limit_disk", f"{path!r} is on volume {root!r}, which has no "
                                    "drive letter; NTFS quotas are set per drive here")
    return match.group(1).upper()


class DiskQuota:
    """The quota entry of one user (by SID) on one volume."""

    def __init__(self, drive: str, sid: bytes, *, api: Api = REAL) -> None:
        self.drive = drive
        self.sid = sid
        self._api = api

    def __repr__(self) -> str:
        return f"<DiskQuota {self.drive}>"

    def _open(self):
        self._api.require("ntfs_quota")
        k32 = self._api.kernel32
        return k32.CreateFile("\\\\.\\" + self.drive + QUOTA_INDEX, C.GENERIC_READ | C.GENERIC_WRITE,
                              C.FILE_SHARE_READ | C.FILE_SHARE_WRITE, C.OPEN_EXISTING,
                              C.FILE_FLAG_BACKUP_SEMANTICS)

    def _with_volume(self, action):
        handle = self._open()
        try:
            return action(handle)
        finally:
            self._api.kernel32.CloseHandle(handle)

    def check_volume(self) -> None:
        """Raise :class:`UnsupportedOnPlatform` unless quotas are *enforced* on the volume."""
        flags, _, _ = self._with_volume(self._api.ntdll.query_volume_control)
        if not flags & C.FILE_VC_QUOTA_ENFORCE:
            state = "tracked but not enforced" if flags & C.FILE_VC_QUOTA_TRACK else "disabled"
            raise UnsupportedOnPlatform(
                "limit_disk", f"NTFS quotas are {state} on {self.drive}; an administrator must run "
                f"`fsutil quota enforce {self.drive}`")

    def set_limit(self, limit: int) -> None:
        """Limit the user to ``limit`` bytes on the volume (threshold = limit)."""
        self._with_volume(lambda h: self._api.ntdll.NtSetQuotaInformationFile(h, self.sid, limit, limit))

    def query(self) -> tuple[int, int | None] | None:
        """``(used, limit)`` in bytes (limit ``None`` when unlimited); ``None`` if no entry."""
        entry = self._with_volume(lambda h: self._api.ntdll.NtQueryQuotaInformationFile(h, self.sid))
        if entry is None:
            return None
        used, _threshold, limit = entry
        return used, None if limit < 0 else limit

    def delete(self) -> None:
        """Remove the user's entry (NTFS refuses while the user still owns files there).

        "Already gone" is success: no such entry (``STATUS_NO_MATCH``), or a
        volume whose quotas were turned off (``STATUS_INVALID_DEVICE_REQUEST``).
        """
        try:
            self._with_volume(lambda h: self._api.ntdll.NtSetQuotaInformationFile(
                h, self.sid, DELETE_ENTRY, DELETE_ENTRY))
        except OSCallError as err:
            if err.ntstatus not in GONE:
                raise


def check_volume(drive: str, *, api: Api = REAL) -> None:
    """:meth:`DiskQuota.check_volume` for ``drive`` (no user needed: run it before any exists)."""
    DiskQuota(drive, b"", api=api).check_volume()
