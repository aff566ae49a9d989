"""ntdll: checked calls for per-user NTFS quotas and the volume's quota state.

NT calls, declared in the WDK's ntifs.h rather than the SDK; available
since Windows 2000 and not exported by Wine 8 -- every function here first
checks the ``ntfs_quota`` capability and raises
:class:`~ironframe_py.UnsupportedOnPlatform` when it is missing.  They use
the ``ntstatus`` failure convention.
"""

from __future__ import annotations

from ...._winerror import STATUS_NO_MORE_ENTRIES
from .._dll import NULL, check_ntstatus, dll, ntstatus_failed, require
from .._ffi import ffi

FILE_FS_CONTROL_INFORMATION_CLASS = 6  # FileFsControlInformation
_ENTRY_HEADER = ffi.offsetof("FILE_QUOTA_INFORMATION", "Sid")


def _nt():
    require("ntfs_quota")
    return dll("ntdll.dll")


def _entry(sid: bytes, threshold: int, limit: int):
    size = (_ENTRY_HEADER + len(sid) + 7) & ~7
    buffer = ffi.new("char[]", size)
    entry = ffi.cast("FILE_QUOTA_INFORMATION *", buffer)
    entry.NextEntryOffset = 0
    entry.SidLength = len(sid)
    entry.QuotaThreshold = threshold
    entry.QuotaLimit = limit
    ffi.memmove(ffi.addressof(entry, "Sid"), sid, len(sid))
    return buffer, size


def NtSetQuotaInformationFile(volume, sid: bytes, threshold: int, limit: int) -> None:
    """Set one user's quota on the volume of handle ``volume`` (limit -2 deletes the entry;
    -1 is "no limit").
    https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/nf-ntifs-zwsetquotainformationfile"""
    nt = _nt()
    buffer, size = _entry(sid, threshold, limit)
    status_block = ffi.new("IO_STATUS_BLOCK *")
    check_ntstatus("NtSetQuotaInformationFile",
                   nt.NtSetQuotaInformationFile(volume, status_block, buffer, size))


def NtQueryQuotaInformationFile(volume, sid: bytes) -> tuple[int, int, int] | None:
    """``(used, threshold, limit)`` of one user's quota entry, ``None`` if it has none.
    https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/nf-ntifs-zwqueryquotainformationfile"""
    nt = _nt()
    wanted_size = (ffi.offsetof("FILE_GET_QUOTA_INFORMATION", "Sid") + len(sid) + 7) & ~7
    wanted_buffer = ffi.new("char[]", wanted_size)
    wanted = ffi.cast("FILE_GET_QUOTA_INFORMATION *", wanted_buffer)
    wanted.SidLength = len(sid)
    ffi.memmove(ffi.addressof(wanted, "Sid"), sid, len(sid))
    size = _ENTRY_HEADER + 128
    out = ffi.new("char[]", size)
    status_block = ffi.new("IO_STATUS_BLOCK *")
    status = nt.NtQueryQuotaInformationFile(volume, status_block, out, size, 1, wanted_buffer,
                                            wanted_size, NULL, 1)
    if ntstatus_failed(status) and (status & 0xFFFFFFFF) == STATUS_NO_MORE_ENTRIES:
        return None
    check_ntstatus("NtQueryQuotaInformationFile", status)
    entry = ffi.cast("FILE_QUOTA_INFORMATION *", out)
    if entry.SidLength == 0:
        return None
    return entry.QuotaUsed, entry.QuotaThreshold, entry.QuotaLimit


def query_volume_control(volume) -> tuple[int, int, int]:
    """``(flags, default_threshold, default_limit)`` of the volume's quota state
    (NtQueryVolumeInformationFile, FileFsControlInformation).
    https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntqueryvolumeinformationfile"""
    nt = _nt()
    info, status_block = ffi.new("FILE_FS_CONTROL_INFORMATION *"), ffi.new("IO_STATUS_BLOCK *")
    check_ntstatus("NtQueryVolumeInformationFile", nt.NtQueryVolumeInformationFile(
        volume, status_block, info, ffi.sizeof(info[0]), FILE_FS_CONTROL_INFORMATION_CLASS))
    return info.FileSystemControlFlags, info.DefaultQuotaThreshold, info.DefaultQuotaLimit
