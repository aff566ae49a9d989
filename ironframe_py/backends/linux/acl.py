"""POSIX ACL entries on a container directory, through libacl (tier 2).

Only named-group entries are managed: :func:`grant_group` adds (or replaces)
``group:<gid>:<perms>`` in the access ACL and, for directories, the default
ACL, then recomputes the mask.  Every ``acl_t`` is freed before returning.
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import os
import stat

from ...errors import os_error
from ._native import ffi, lib

_TAGS = {lib.ACL_USER_OBJ: "user_obj", lib.ACL_USER: "user", lib.ACL_GROUP_OBJ: "group_obj",
         lib.ACL_GROUP: "group", lib.ACL_MASK: "mask", lib.ACL_OTHER: "other"}
_PERMS = (("r", lib.ACL_READ), ("w", lib.ACL_WRITE), ("x", lib.ACL_EXECUTE))


@dataclasses.dataclass(frozen=True)
class AclEntry:
    """One ACL entry: tag, uid/gid qualifier (named entries only) and ``rwx``-style perms."""

    tag: str
    qualifier: int | None
    perms: str


def _check(result: int, function: str, path: str) -> None:
    if result != 0:
        raise os_error(function, errno=ffi.errno, target=path)


def _entries(acl) -> list:
    entries = []
    entry = ffi.new("acl_entry_t *")
    which = lib.ACL_FIRST_ENTRY
    while lib.acl_get_entry(acl, which, entry) == 1:
        entries.append(entry[0])
        which = lib.ACL_NEXT_ENTRY
    return entries


def _tag(entry) -> int:
    tag = ffi.new("acl_tag_t *")
    lib.acl_get_tag_type(entry, tag)
    return tag[0]


def _qualifier(entry) -> int:
    pointer = lib.acl_get_qualifier(entry)
    try:
        return ffi.cast("unsigned int *", pointer)[0]
    finally:
        lib.acl_free(pointer)


def _perms(entry) -> str:
    permset = ffi.new("acl_permset_t *")
    lib.acl_get_permset(entry, permset)
    return "".join(ch if lib.acl_get_perm(permset[0], bit) == 1 else "-" for ch, bit in _PERMS)


def _load(path: str, kind: int):
    acl = lib.acl_get_file(os.fsencode(path), kind)
    if acl == ffi.NULL:
        raise os_error("acl_get_file", errno=ffi.errno, target=path)
    return acl


def read_acl(path: str, default: bool = False) -> list[AclEntry]:
    """The access (or default) ACL of ``path`` as entries."""
    acl = _load(path, lib.ACL_TYPE_DEFAULT if default else lib.ACL_TYPE_ACCESS)
    try:
        return [AclEntry(_TAGS[_tag(e)], _qualifier(e) if _tag(e) in (lib.ACL_USER, lib.ACL_GROUP)
                         else None, _perms(e)) for e in _entries(acl)]
    finally:
        lib.acl_free(acl)


def _set_group(path: str, kind: int, gid: int, perms: str | None) -> None:
    """Replace (or with ``perms=None`` remove) the named entry for ``gid`` in one ACL."""
    acl = _load(path, kind)
    try:
        if kind == lib.ACL_TYPE_DEFAULT and not _entries(acl):
            if perms is None:
                return  # no default ACL: nothing to remove
            lib.acl_free(acl)  # no default ACL yet: start from the directory's mode
            acl = lib.acl_from_mode(stat.S_IMODE(os.stat(path).st_mode))
            if acl == ffi.NULL:
                raise os_error("acl_from_mode", errno=ffi.errno, target=path)
        for entry in _entries(acl):
            if _tag(entry) == lib.ACL_GROUP and _qualifier(entry) == gid:
                _check(lib.acl_delete_entry(acl, entry), "acl_delete_entry", path)
        if perms is not None:
            holder = ffi.new("acl_t *", acl)
            entry = ffi.new("acl_entry_t *")
            _check(lib.acl_create_entry(holder, entry), "acl_create_entry", path)
            acl = holder[0]
            _check(lib.acl_set_tag_type(entry[0], lib.ACL_GROUP), "acl_set_tag_type", path)
            _check(lib.acl_set_qualifier(entry[0], ffi.new("unsigned int *", gid)),
                   "acl_set_qualifier", path)
            permset = ffi.new("acl_permset_t *")
            _check(lib.acl_get_permset(entry[0], permset), "acl_get_permset", path)
            _check(lib.acl_clear_perms(permset[0]), "acl_clear_perms", path)
            for ch, bit in _PERMS:
                if ch in perms:
                    _check(lib.acl_add_perm(permset[0], bit), "acl_add_perm", path)
        holder = ffi.new("acl_t *", acl)
        _check(lib.acl_calc_mask(holder), "acl_calc_mask", path)
        acl = holder[0]
        if lib.acl_valid(acl) != 0:
            raise os_error("acl_valid", errno=ffi.errno or _errno.EINVAL, target=path)
        _check(lib.acl_set_file(os.fsencode(path), kind, acl), "acl_set_file", path)
    finally:
        lib.acl_free(acl)


def grant_group(path: str, gid: int, perms: str = "rwx", default: bool = True) -> None:
    """Give group ``gid`` ``perms`` on ``path`` (and, for a directory, on what is created in it)."""
    if set(perms) - set("rwx"):
        raise ValueError(f"perms must use only r, w and x, not {perms!r}")
    if default and os.path.isdir(path):  # first: it starts from the mode, which the mask changes
        _set_group(path, lib.ACL_TYPE_DEFAULT, gid, perms)
    _set_group(path, lib.ACL_TYPE_ACCESS, gid, perms)


def remove_group(path: str, gid: int) -> None:
    """Remove the entries for ``gid`` (access and default); no error if there are none."""
    _set_group(path, lib.ACL_TYPE_ACCESS, gid, None)
    if os.path.isdir(path):
        _set_group(path, lib.ACL_TYPE_DEFAULT, gid, None)
