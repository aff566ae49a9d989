"""The container directory's protected DACL (tier 2).

The DACL grants full control to exactly three trustees -- the container
user, ``SYSTEM`` and ``BUILTIN\\Administrators`` -- inherited by every file
and sub-directory, and is *protected*: nothing is inherited from the parent,
so no other account (not even other containers' users, or ``Users``) can
read the directory.  Under Wine ``SetNamedSecurityInfoW`` succeeds but the
DACL does not read back as set.
"""

from __future__ import annotations

import dataclasses

from ._api import REAL, Api
from ._ffi import C

SYSTEM_SID = "S-1-5-18"
ADMINISTRATORS_SID = "S-1-5-32-544"


@dataclasses.dataclass(frozen=True)
class AclEntry:
    """One explicit access entry, as read back: trustee SID, rights, mode and inheritance."""

    sid: str
    rights: int
    mode: int
    inheritance: int


class DirectoryAcl:
    """The protected DACL of one directory for one container user."""

    def __init__(self, path: str, user_sid: bytes, *, admin_sid: bytes | None = None,
                 api: Api = REAL) -> None:
        self.path = path
        self.user_sid = user_sid
        self.admin_sid = admin_sid  # None: BUILTIN\Administrators
        self._api = api

    def __repr__(self) -> str:
        return f"<DirectoryAcl {self.path!r}>"

    def trustees(self) -> list[bytes]:
        """The SIDs granted full control: the user, SYSTEM and Administrators (or the admin group)."""
        convert = self._api.advapi32.ConvertStringSidToSid
        admins = self.admin_sid if self.admin_sid is not None else convert(ADMINISTRATORS_SID)
        return [self.user_sid, convert(SYSTEM_SID), admins]

    def apply(self) -> None:
        """Replace the directory's DACL with the protected three-entry one."""
        entries = [(sid, C.FILE_ALL_ACCESS, C.SET_ACCESS, C.SUB_CONTAINERS_AND_OBJECTS_INHERIT)
                   for sid in self.trustees()]
        acl = self._api.advapi32.SetEntriesInAcl(entries)
        self._api.advapi32.SetNamedSecurityInfo(
            self.path, C.DACL_SECURITY_INFORMATION | C.PROTECTED_DACL_SECURITY_INFORMATION, acl)

    def query(self) -> tuple[bool, list[AclEntry]]:
        """``(protected, entries)`` of the directory's DACL as the OS reports it."""
        control, entries = self._api.advapi32.GetNamedSecurityInfo(self.path)
        to_text = self._api.advapi32.ConvertSidToStringSid
        return (bool(control & C.SE_DACL_PROTECTED),
                [AclEntry(to_text(sid), rights, mode, inherit)
                 for sid, rights, mode, inherit in entries or []])

    def is_applied(self) -> bool:
        """True if the DACL is protected and grants exactly our three trustees full control."""
        protected, entries = self.query()
        to_text = self._api.advapi32.ConvertSidToStringSid
        wanted = {to_text(sid) for sid in self.trustees()}
        return protected and {e.sid for e in entries} == wanted and all(
            e.rights & C.FILE_ALL_ACCESS == C.FILE_ALL_ACCESS for e in entries)
