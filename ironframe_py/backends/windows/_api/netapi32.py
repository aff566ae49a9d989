"""netapi32: checked calls for local user accounts and local group membership.

All of these return a ``NET_API_STATUS`` (the ``status`` convention);
buffers the system allocates are copied out and freed with
``NetApiBufferFree`` before returning.  ``server`` ``None`` is this machine.
"""

from __future__ import annotations

from ....errors import UnsupportedOnPlatform
from .._dll import NULL, check_status, dll, is_wine, text_of, wide
from .._ffi import ffi

USER_PRIV_USER = 1
UF_SCRIPT = 0x0001
UF_DONT_EXPIRE_PASSWD = 0x10000
UF_PASSWD_CANT_CHANGE = 0x0040


def _net():
    return dll("netapi32.dll")


def NetUserAdd(server: str | None, name: str, password: str, comment: str = "",
               flags: int = UF_SCRIPT | UF_DONT_EXPIRE_PASSWD | UF_PASSWD_CANT_CHANGE) -> None:
    """Create a local user with ordinary (USER_PRIV_USER) rights, level 1.
    https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netuseradd"""
    info = ffi.new("USER_INFO_1 *")
    keep = [wide(name), wide(password), wide(comment)]
    info.usri1_name, info.usri1_password, info.usri1_comment = keep
    info.usri1_priv = USER_PRIV_USER
    info.usri1_flags = flags
    error_field = ffi.new("DWORD *")
    check_status("NetUserAdd", _net().NetUserAdd(wide(server), 1, ffi.cast("BYTE *", info),
                                                 error_field), target=name)


def NetUserDel(server: str | None, name: str) -> None:
    """https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netuserdel"""
    check_status("NetUserDel", _net().NetUserDel(wide(server), wide(name)), target=name)


def NetUserGetInfo(server: str | None, name: str) -> dict[str, object]:
    """Level-1 facts of a user: name, privilege level, flags, comment.
    https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netusergetinfo"""
    buffer = ffi.new("BYTE **")
    check_status("NetUserGetInfo", _net().NetUserGetInfo(wide(server), wide(name), 1, buffer),
                 target=name)
    try:
        info = ffi.cast("USER_INFO_1 *", buffer[0])
        return {"name": text_of(info.usri1_name), "priv": info.usri1_priv,
                "flags": info.usri1_flags, "comment": text_of(info.usri1_comment)}
    finally:
        NetApiBufferFree(buffer[0])


def NetUserSetPassword(server: str | None, name: str, password: str) -> None:
    """NetUserSetInfo at level 1003 (the password).
    https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netusersetinfo"""
    if is_wine():
        raise UnsupportedOnPlatform("NetUserSetInfo", "Wine's NetUserSetInfo is an unimplemented "
                                    "stub that aborts the calling process")
    info = ffi.new("USER_INFO_1003 *")
    keep = wide(password)
    info.usri1003_password = keep
    check_status("NetUserSetInfo", _net().NetUserSetInfo(
        wide(server), wide(name), 1003, ffi.cast("BYTE *", info), NULL), target=name)


def NetUserGetLocalGroups(server: str | None, name: str) -> list[str]:
    """Names of the local groups ``name`` belongs to, directly or not.
    https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netusergetlocalgroups"""
    buffer, read, total = ffi.new("BYTE **"), ffi.new("DWORD *"), ffi.new("DWORD *")
    check_status("NetUserGetLocalGroups", _net().NetUserGetLocalGroups(
        wide(server), wide(name), 0, 0x0001, buffer, 0xFFFFFFFF, read, total), target=name)
    try:
        groups = ffi.cast("LOCALGROUP_USERS_INFO_0 *", buffer[0])
        return [text_of(groups[i].lgrui0_name) for i in range(read[0])]
    finally:
        NetApiBufferFree(buffer[0])


def _members(names: list[str]):
    array = ffi.new("LOCALGROUP_MEMBERS_INFO_3[]", len(names))
    keep = [wide(name) for name in names]
    for slot, text in zip(array, keep):
        slot.lgrmi3_domainandname = text
    return array, keep


def NetLocalGroupAddMembers(server: str | None, group: str, members: list[str]) -> None:
    """https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netlocalgroupaddmembers"""
    array, _keep = _members(members)
    check_status("NetLocalGroupAddMembers", _net().NetLocalGroupAddMembers(
        wide(server), wide(group), 3, ffi.cast("BYTE *", array), len(members)), target=group)


def NetApiBufferFree(buffer) -> None:
    """https://learn.microsoft.com/windows/win32/api/lmapibuf/nf-lmapibuf-netapibufferfree"""
    if buffer != NULL:
        check_status("NetApiBufferFree", _net().NetApiBufferFree(buffer))
