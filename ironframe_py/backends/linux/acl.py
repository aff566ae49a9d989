"""Named-group POSIX ACL entries on a path, through libacl (tier 2).

The container directory is owned by the container uid with mode 0700; the
host's admin group gets in through a named-group entry
(``group:<gid>:rwx``).  :func:`grant_group` puts that entry in the access
ACL and, for a directory, in the default ACL too, so files the container
creates inherit it and stay readable by the admins.  The ``mask`` entry is
recomputed on every change (as ``setfacl`` does), so the entry is effective.

Every change is a read-modify-write of the whole ACL: read the entries,
change the one for ``gid``, write the result back with ``acl_set_file``
after ``acl_valid``.  The libacl objects themselves never leave
:mod:`._api`.  When no named entry is left, :func:`remove_group` returns
the file to a minimal ACL (no mask; the mode's group bits are the owning
group's again) and drops a default ACL altogether.
"""

from __future__ import annotations

import dataclasses
import os

from ...errors import NotFound, SpecError
from . import _api
from ._native import lib

_TAGS = {lib.ACL_USER_OBJ: "user_obj", lib.ACL_USER: "user", lib.ACL_GROUP_OBJ: "group_obj",
         lib.ACL_GROUP: "group", lib.ACL_MASK: "mask", lib.ACL_OTHER: "other"}
_PERMS = (("r", lib.ACL_READ), ("w", lib.ACL_WRITE), ("x", lib.ACL_EXECUTE))
_BASE_TAGS = (lib.ACL_USER_OBJ, lib.ACL_GROUP_OBJ, lib.ACL_OTHER)
_NAMED_TAGS = (lib.ACL_USER, lib.ACL_GROUP)


@dataclasses.dataclass(frozen=True)
class AclEntry:
    """One ACL entry: ``tag`` (``"user_obj"``, ``"user"``, ``"group_obj"``, ``"group"``,
    ``"mask"``, ``"other"``), the uid/gid ``qualifier`` of named entries (else ``None``)
    and ``perms`` as ``"rwx"`` / ``"r-x"`` / ...
    """

    tag: str
    qualifier: int | None
    perms: str


def _perm_bits(perms: str) -> int:
    if not perms or set(perms) - set("rwx-"):
        raise SpecError("perms", "must be letters from 'rwx' (or '-')", perms)
    return sum(bit for letter, bit in _PERMS if letter in perms)


def _perm_text(bits: int) -> str:
    return "".join(letter if bits & bit else "-" for letter, bit in _PERMS)


def read_acl(path: str, default: bool = False) -> list[AclEntry]:
    """The access ACL of ``path`` (or its default ACL: ``[]`` when it has none), in libacl order."""
    return [AclEntry(_TAGS[raw.tag], raw.qualifier, _perm_text(raw.perms))
            for raw in _api.acl_get_file(path, default)]


def _is_group(raw: _api.RawAclEntry, gid: int) -> bool:
    return raw.tag == lib.ACL_GROUP and raw.qualifier == gid


def _write(path: str, entries: list[_api.RawAclEntry], default: bool) -> None:
    """Write ``entries`` (mask left out): with a recomputed mask if any named entry remains."""
    named = any(raw.tag in _NAMED_TAGS for raw in entries)
    if default and not named:
        _api.acl_delete_def_file(path)  # nothing left to inherit beyond the mode
        return
    _api.acl_set_file(path, entries, default=default, calc_mask=named)


def _with_group(entries: list[_api.RawAclEntry], gid: int, bits: int) -> list[_api.RawAclEntry]:
    kept = [raw for raw in entries if raw.tag != lib.ACL_MASK and not _is_group(raw, gid)]
    return [*kept, _api.RawAclEntry(lib.ACL_GROUP, gid, bits)]


def grant_group(path: str, gid: int, perms: str = "rwx", default: bool = True) -> None:
    """Give group ``gid`` exactly ``perms`` on ``path`` (replacing an entry it had).

    For a directory with ``default=True`` the default ACL gets the same
    entry, so what is created inside inherits it; a directory without a
    default ACL gets one built from its access ACL's owner, group and
    other entries.
    """
    bits = _perm_bits(perms)
    access = _api.acl_get_file(path)
    if default and os.path.isdir(path):
        inherited = _api.acl_get_file(path, default=True) or [
            raw for raw in access if raw.tag in _BASE_TAGS]
        _write(path, _with_group(inherited, gid, bits), default=True)
    _write(path, _with_group(access, gid, bits), default=False)


def remove_group(path: str, gid: int) -> None:
    """Remove group ``gid``'s entries from the access and default ACLs of ``path``.

    Idempotent: no error when there is no such entry, nor when ``path`` is gone.
    """
    try:
        kinds = (False, True) if os.path.isdir(path) else (False,)
        for default in kinds:
            entries = _api.acl_get_file(path, default)
            if any(_is_group(raw, gid) for raw in entries):
                kept = [raw for raw in entries if raw.tag != lib.ACL_MASK and not _is_group(raw, gid)]
                _write(path, kept, default)
    except NotFound:
        return
