"""advapi32: checked calls for logon, tokens, privileges, SIDs, security descriptors.

SIDs cross this tier as ``bytes`` (Python-owned copies), security
descriptors and ACLs the system allocates are copied out and freed with
``LocalFree`` before returning.  ``EXPLICIT_ACCESS_W`` entries are passed
as ``(sid_bytes, permissions, mode, inheritance)`` tuples.
"""

from __future__ import annotations

from ...._winerror import ERROR_INSUFFICIENT_BUFFER, ERROR_NOT_ALL_ASSIGNED
from ....errors import os_error
from .._dll import NULL, check_lasterror, check_status, dll, text_of, wide
from .._ffi import ffi
from . import kernel32

TRUSTEE_IS_SID = 0
TRUSTEE_IS_UNKNOWN = 0
SE_FILE_OBJECT = 1


def _adv():
    return dll("advapi32.dll")


def LogonUser(user: str, domain: str | None, password: str, logon_type: int, provider: int = 0):
    """The primary token of ``user`` (close it with ``CloseHandle``).
    https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-logonuserw"""
    token = ffi.new("HANDLE *")
    check_lasterror("LogonUserW", _adv().LogonUserW(
        wide(user), wide(domain), wide(password), logon_type, provider, token), target=user)
    return token[0]


def CreateProcessWithToken(token, logon_flags: int, command_line: str, flags: int, environment,
                           cwd: str | None, startup):
    """``PROCESS_INFORMATION`` of a process started with ``token`` (needs SeImpersonatePrivilege
    and the Secondary Logon service).
    https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-createprocesswithtokenw"""
    info = ffi.new("PROCESS_INFORMATION *")
    check_lasterror("CreateProcessWithTokenW", _adv().CreateProcessWithTokenW(
        token, logon_flags, NULL, wide(command_line), flags, environment, wide(cwd), startup, info),
        target=command_line)
    return info


def CreateProcessAsUser(token, command_line: str, flags: int, environment, cwd: str | None,
                        startup, inherit_handles: bool, jobs=()):
    """``PROCESS_INFORMATION`` of a process started with ``token`` (needs
    SeAssignPrimaryTokenPrivilege and SeIncreaseQuotaPrivilege); with ``jobs`` it starts in
    those jobs (PROC_THREAD_ATTRIBUTE_JOB_LIST).
    https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessasuserw"""
    info = ffi.new("PROCESS_INFORMATION *")
    with kernel32.startup_with_jobs(startup, jobs) as (extended, extra_flags):
        check_lasterror("CreateProcessAsUserW", _adv().CreateProcessAsUserW(
            token, NULL, wide(command_line), NULL, NULL, int(inherit_handles), flags | extra_flags,
            environment, wide(cwd), extended, info), target=command_line)
    return info


def OpenProcessToken(process, access: int):
    """https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-openprocesstoken"""
    token = ffi.new("HANDLE *")
    check_lasterror("OpenProcessToken", _adv().OpenProcessToken(process, access, token))
    return token[0]


def GetTokenInformation(token, info_class: int):
    """The information of ``info_class`` in an owned cffi buffer (probe the size, then ask
    again).  Structures in it point into the buffer itself (``TOKEN_USER.User.Sid``), so
    read through it while it is alive: a ``bytes`` copy would keep dangling pointers.
    https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-gettokeninformation"""
    needed = ffi.new("DWORD *")
    size = 256
    for _ in range(3):
        buffer = ffi.new("char[]", size)
        if _adv().GetTokenInformation(token, info_class, buffer, size, needed):
            return buffer
        code, text = ffi.getwinerror()
        if code != ERROR_INSUFFICIENT_BUFFER:
            raise os_error("GetTokenInformation", winerror=code, strerror=text)
        size = max(needed[0], size * 2)
    raise os_error("GetTokenInformation", winerror=ERROR_INSUFFICIENT_BUFFER)


def token_user_sid(token) -> bytes:
    """The SID of a token's user (``TokenUser``), as bytes."""
    buffer = GetTokenInformation(token, 1)  # TokenUser; the SID lies inside this buffer
    user = ffi.cast("TOKEN_USER *", buffer)
    return _sid_bytes(user.User.Sid)


def LookupPrivilegeValue(name: str):
    """The LUID of privilege ``name`` (``"SeImpersonatePrivilege"``).
    https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-lookupprivilegevaluew"""
    luid = ffi.new("LUID *")
    check_lasterror("LookupPrivilegeValueW", _adv().LookupPrivilegeValueW(NULL, wide(name), luid),
                    target=name)
    return luid[0]


def AdjustTokenPrivileges(token, name: str, enable: bool) -> None:
    """Enable (or disable) one privilege; ERROR_NOT_ALL_ASSIGNED (success with a warning:
    the token lacks it) is raised as an error.
    https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-adjusttokenprivileges"""
    state = ffi.new("TOKEN_PRIVILEGES *")
    state.PrivilegeCount = 1
    state.Privileges[0].Luid = LookupPrivilegeValue(name)
    state.Privileges[0].Attributes = 0x00000002 if enable else 0  # SE_PRIVILEGE_ENABLED
    check_lasterror("AdjustTokenPrivileges", _adv().AdjustTokenPrivileges(
        token, 0, state, 0, NULL, NULL), target=name)
    code, text = ffi.getwinerror()
    if code == ERROR_NOT_ALL_ASSIGNED:
        raise os_error("AdjustTokenPrivileges", winerror=code, strerror=text, target=name)


def _sid_bytes(sid) -> bytes:
    length = _adv().GetLengthSid(sid)
    return bytes(ffi.buffer(ffi.cast("char *", sid), length))


def LookupAccountName(name: str) -> tuple[bytes, str, int]:
    """``(sid, domain, sid_name_use)`` of an account name.
    https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-lookupaccountnamew"""
    sid_size, domain_size = ffi.new("DWORD *", 68), ffi.new("DWORD *", 256)
    use = ffi.new("SID_NAME_USE *")
    for _ in range(3):
        sid = ffi.new("char[]", sid_size[0])
        domain = ffi.new("WCHAR[]", domain_size[0])
        if _adv().LookupAccountNameW(NULL, wide(name), sid, sid_size, domain, domain_size, use):
            # On success cbSid is left as we passed it (only a short buffer updates it), so
            # the SID is GetLengthSid bytes of the buffer, not all of it.
            return _sid_bytes(sid), text_of(domain), use[0]
        code, text = ffi.getwinerror()
        if code != ERROR_INSUFFICIENT_BUFFER:
            raise os_error("LookupAccountNameW", winerror=code, strerror=text, target=name)
    raise os_error("LookupAccountNameW", winerror=ERROR_INSUFFICIENT_BUFFER, target=name)


def LookupAccountSid(sid: bytes) -> tuple[str, str, int]:
    """``(name, domain, sid_name_use)`` of a SID.
    https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-lookupaccountsidw"""
    name_size, domain_size = ffi.new("DWORD *", 257), ffi.new("DWORD *", 256)
    use = ffi.new("SID_NAME_USE *")
    sid_buffer = ffi.from_buffer(sid)
    for _ in range(3):
        name, domain = ffi.new("WCHAR[]", name_size[0]), ffi.new("WCHAR[]", domain_size[0])
        if _adv().LookupAccountSidW(NULL, sid_buffer, name, name_size, domain, domain_size, use):
            return text_of(name), text_of(domain), use[0]
        code, text = ffi.getwinerror()
        if code != ERROR_INSUFFICIENT_BUFFER:
            raise os_error("LookupAccountSidW", winerror=code, strerror=text)
    raise os_error("LookupAccountSidW", winerror=ERROR_INSUFFICIENT_BUFFER)


def ConvertSidToStringSid(sid: bytes) -> str:
    """``"S-1-5-21-..."`` for a SID.
    https://learn.microsoft.com/windows/win32/api/sddl/nf-sddl-convertsidtostringsidw"""
    out = ffi.new("WCHAR **")
    check_lasterror("ConvertSidToStringSidW", _adv().ConvertSidToStringSidW(ffi.from_buffer(sid), out))
    try:
        return text_of(out[0])
    finally:
        kernel32.LocalFree(out[0])


def ConvertStringSidToSid(text: str) -> bytes:
    """The SID for ``"S-1-5-18"``-style text.
    https://learn.microsoft.com/windows/win32/api/sddl/nf-sddl-convertstringsidtosidw"""
    out = ffi.new("PSID *")
    check_lasterror("ConvertStringSidToSidW", _adv().ConvertStringSidToSidW(wide(text), out),
                    target=text)
    try:
        return _sid_bytes(out[0])
    finally:
        kernel32.LocalFree(out[0])


def SetEntriesInAcl(entries: list[tuple[bytes, int, int, int]]) -> bytes:
    """A new ACL (as bytes) holding exactly ``entries`` of ``(sid, permissions, mode, inheritance)``.
    https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-setentriesinaclw"""
    array = ffi.new("EXPLICIT_ACCESS_W[]", len(entries))
    keep = []  # the SID buffers must outlive the call
    for slot, (sid, permissions, mode, inheritance) in zip(array, entries):
        sid_buffer = ffi.from_buffer(sid)
        keep.append(sid_buffer)
        slot.grfAccessPermissions = permissions
        slot.grfAccessMode = mode
        slot.grfInheritance = inheritance
        slot.Trustee.TrusteeForm = TRUSTEE_IS_SID
        slot.Trustee.TrusteeType = TRUSTEE_IS_UNKNOWN
        slot.Trustee.ptstrName = ffi.cast("WCHAR *", sid_buffer)
    acl = ffi.new("ACL **")
    check_status("SetEntriesInAclW", _adv().SetEntriesInAclW(len(entries), array, NULL, acl))
    try:
        return bytes(ffi.buffer(ffi.cast("char *", acl[0]), acl[0].AclSize))
    finally:
        kernel32.LocalFree(acl[0])


def SetNamedSecurityInfo(path: str, info: int, dacl: bytes | None = None, owner: bytes | None = None) -> None:
    """Set the DACL (and/or owner) of a file or directory.
    https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-setnamedsecurityinfow"""
    dacl_ptr = NULL if dacl is None else ffi.cast("ACL *", ffi.from_buffer(dacl))
    owner_ptr = NULL if owner is None else ffi.from_buffer(owner)
    check_status("SetNamedSecurityInfoW", _adv().SetNamedSecurityInfoW(
        wide(path), SE_FILE_OBJECT, info, owner_ptr, NULL, dacl_ptr, NULL), target=path)


def GetNamedSecurityInfo(path: str) -> tuple[int, list[tuple[bytes, int, int, int]] | None]:
    """``(control, entries)`` of a file's DACL: the descriptor's control bits and its explicit
    entries as ``(sid, permissions, mode, inheritance)`` (``None`` for a NULL DACL).
    https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-getnamedsecurityinfow"""
    dacl, descriptor = ffi.new("ACL **"), ffi.new("PSECURITY_DESCRIPTOR *")
    check_status("GetNamedSecurityInfoW", _adv().GetNamedSecurityInfoW(
        wide(path), SE_FILE_OBJECT, 0x00000004, NULL, NULL, dacl, NULL, descriptor), target=path)
    try:
        control, revision = ffi.new("SECURITY_DESCRIPTOR_CONTROL *"), ffi.new("DWORD *")
        check_lasterror("GetSecurityDescriptorControl",
                        _adv().GetSecurityDescriptorControl(descriptor[0], control, revision))
        entries = None if dacl[0] == NULL else GetExplicitEntriesFromAcl(dacl[0])
        return control[0], entries
    finally:
        kernel32.LocalFree(descriptor[0])


def GetExplicitEntriesFromAcl(acl) -> list[tuple[bytes, int, int, int]]:
    """The explicit entries of an ACL (SID trustees only; named trustees are skipped).
    https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-getexplicitentriesfromaclw"""
    count, entries = ffi.new("ULONG *"), ffi.new("EXPLICIT_ACCESS_W **")
    check_status("GetExplicitEntriesFromAclW", _adv().GetExplicitEntriesFromAclW(acl, count, entries))
    try:
        result = []
        for index in range(count[0]):
            entry = entries[0][index]
            if entry.Trustee.TrusteeForm == TRUSTEE_IS_SID:
                sid = _sid_bytes(ffi.cast("PSID", entry.Trustee.ptstrName))
                result.append((sid, entry.grfAccessPermissions, entry.grfAccessMode,
                               entry.grfInheritance))
        return result
    finally:
        kernel32.LocalFree(entries[0])


__all__ = ["AdjustTokenPrivileges", "ConvertSidToStringSid", "ConvertStringSidToSid",
           "CreateProcessAsUser", "CreateProcessWithToken",
           "GetExplicitEntriesFromAcl", "GetNamedSecurityInfo", "GetTokenInformation",
           "LogonUser", "LookupAccountName", "LookupAccountSid", "LookupPrivilegeValue",
           "OpenProcessToken", "SetEntriesInAcl", "SetNamedSecurityInfo", "token_user_sid"]
