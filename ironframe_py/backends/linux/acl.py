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
:mod:`._api`.  The entry is never removed again: the directory goes with
the container.
"""

from __future__ import annotations

import os

from ...errors import SpecError
from . import _api
from ._native import lib

_PERMS = (("r", lib.ACL_READ), ("w", lib.ACL_WRITE), ("x", lib.ACL_EXECUTE))
_BASE_TAGS = (lib.ACL_USER_OBJ, lib.ACL_GROUP_OBJ, lib.ACL_OTHER)


def _perm_bits(perms: str) -> int:
    if not perms or set(perms) - set("rwx-"):
        raise SpecError("perms", "must be letters from 'rwx' (or '-')", perms)
    return sum(bit for letter, bit in _PERMS if letter in perms)


def _is_group(raw: _api.RawAclEntry, gid: int) -> bool:
    return raw.tag == lib.ACL_GROUP and raw.qualifier == gid


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
        _api.acl_set_file(path, _with_group(inherited, gid, bits), default=True, calc_mask=True)
    _api.acl_set_file(path, _with_group(access, gid, bits), default=False, calc_mask=True)

