"""Tier-1 checked calls into libc, libacl and the spawn helper (private, not for direct use).

Each function makes one OS call (or, for ACLs, one libacl round trip),
reads ``ffi.errno`` immediately after a failing call and returns the typed
error built by :func:`ironframe_py.errors.os_error` with the call's name and
target, which the caller raises.  Arguments are plain Python values; results
are copied out of C memory and every libacl object is freed before return,
so no ``cdata`` leaves this module.  No policy lives here: which ACL entries
to write, or what to do when a kernel lacks a flag, is decided in tier 2.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from ...errors import from_oserror, os_error
from ._native import ffi, lib

# --- spawn ------------------------------------------------------------------------------------------

STAGES: dict[int, str] = {
    lib.IFL_STAGE_CGROUP: "cgroup", lib.IFL_STAGE_SETSID: "setsid",
    lib.IFL_STAGE_SETGROUPS: "setgroups", lib.IFL_STAGE_SETGID: "setgid",
    lib.IFL_STAGE_SETUID: "setuid", lib.IFL_STAGE_NNP: "no_new_privs",
    lib.IFL_STAGE_CHDIR: "chdir", lib.IFL_STAGE_DUP: "dup", lib.IFL_STAGE_CLOSE: "close",
    lib.IFL_STAGE_EXEC: "exec", lib.IFL_STAGE_CLONE: "clone", lib.IFL_STAGE_SETNS: "setns",
}
"""Name of each ``IFL_STAGE_*`` value, as used in the ``spawn:<stage>`` error function name."""


def _c_string(value: str, what: str) -> bytes:
    encoded = os.fsencode(value)
    if b"\0" in encoded:  # cffi would silently cut the string there
        raise ValueError(f"embedded null byte in {what}: {value!r}")
    return encoded


def _c_string_array(values: Sequence[str], what: str, keep: list[object]) -> object:
    cells = [ffi.new("char[]", _c_string(value, what)) for value in values]
    array = ffi.new("char *[]", [*cells, ffi.NULL])
    keep.extend([*cells, array])  # a struct field does not keep its cdata alive
    return array


def spawn(path: str, argv: Sequence[str], envp: Sequence[str], cwd: str, uid: int, gid: int,
          cgroup_fds: Sequence[int], stdio: tuple[int, int, int],
          cgroup_targets: Sequence[str] = (), ns_fds: Sequence[int] = (),
          ns_targets: Sequence[str] = ()) -> int:
    """Start ``path`` through ``ifl_spawn`` (``_csrc/spawn.c``) and return the child's pid.

    ``envp`` holds ``NAME=value`` strings; ``cgroup_fds`` are ``cgroup.procs``
    files open for writing, joined in order before anything else runs;
    ``cgroup_targets`` name them for errors; ``ns_fds`` are open namespace
    files (``ns_targets`` name them), joined with ``setns`` right after the
    cgroups, while the child is still root.  A failing child has been
    reaped; the error's function is ``spawn:<stage>`` (:data:`STAGES`) and
    its target the executable (exec), the directory (chdir) or the cgroup.
    Man pages: https://man7.org/linux/man-pages/man2/clone.2.html,
    https://man7.org/linux/man-pages/man2/execve.2.html
    """
    keep: list[object] = []
    args = ffi.new("struct ifl_spawn_args *")
    c_path = ffi.new("char[]", _c_string(path, "the executable path"))
    c_cwd = ffi.new("char[]", _c_string(cwd, "the working directory"))
    c_fds = ffi.new("int[]", list(cgroup_fds) or [-1])
    c_ns_fds = ffi.new("int[]", list(ns_fds) or [-1])
    keep.extend([c_path, c_cwd, c_fds, c_ns_fds])
    args.path, args.cwd, args.cgroup_fds, args.ns_fds = c_path, c_cwd, c_fds, c_ns_fds
    args.n_ns_fds = len(ns_fds)
    args.argv = _c_string_array(argv, "argv", keep)
    args.envp = _c_string_array(envp, "the environment", keep)
    args.stdio = list(stdio)
    args.n_cgroup_fds = len(cgroup_fds)
    args.uid, args.gid = uid, gid
    result = ffi.new("struct ifl_spawn_result *")
    pid = lib.ifl_spawn(args, result)
    if pid >= 0:
        return pid
    stage = STAGES.get(result.stage, str(result.stage))
    raise os_error(f"spawn:{stage}", errno=result.error,
                   target=_stage_target(stage, path, cwd, result.index, cgroup_targets,
                                        ns_targets))


def _stage_target(stage: str, path: str, cwd: str, index: int,
                  cgroup_targets: Sequence[str], ns_targets: Sequence[str] = ()) -> str | None:
    if stage == "exec":
        return path
    if stage == "chdir":
        return cwd
    if stage == "cgroup" and 0 <= index < len(cgroup_targets):
        return cgroup_targets[index]
    if stage == "setns" and 0 <= index < len(ns_targets):
        return ns_targets[index]
    return None


def open_cgroup_procs(path: str) -> int:
    """Open a ``cgroup.procs`` file write-only and close-on-exec for :func:`spawn`.

    https://man7.org/linux/man-pages/man2/open.2.html
    """
    try:
        return os.open(path, lib.O_WRONLY | lib.O_CLOEXEC)
    except OSError as err:
        raise from_oserror("open", err, target=path) from None


def open_namespace(path: str) -> int:
    """Open a bound namespace file read-only and close-on-exec for :func:`spawn`'s ``setns``.

    https://man7.org/linux/man-pages/man2/setns.2.html
    """
    try:
        return os.open(path, os.O_RDONLY | lib.O_CLOEXEC)
    except OSError as err:
        raise from_oserror("open", err, target=path) from None


# --- namespace setup --------------------------------------------------------------------------------

NS_STAGES: dict[int, str] = {
    lib.IFL_NS_STAGE_NSFD: "nsfd", lib.IFL_NS_STAGE_CLONE: "clone",
    lib.IFL_NS_STAGE_UNSHARE: "unshare", lib.IFL_NS_STAGE_PROPAGATION: "propagation",
    lib.IFL_NS_STAGE_MOUNTINFO: "mountinfo", lib.IFL_NS_STAGE_DETACH: "detach",
    lib.IFL_NS_STAGE_OPEN: "open", lib.IFL_NS_STAGE_READONLY: "readonly",
    lib.IFL_NS_STAGE_BIND: "bind", lib.IFL_NS_STAGE_SHM: "shm", lib.IFL_NS_STAGE_MQUEUE: "mqueue",
    lib.IFL_NS_STAGE_COVER: "cover", lib.IFL_NS_STAGE_HOSTNAME: "hostname",
    lib.IFL_NS_STAGE_LOOPBACK: "loopback",
}
"""Name of each ``IFL_NS_STAGE_*`` value, as used in the ``nsinit:<stage>`` error function name."""


NS_FD_TYPES = ("mnt", "ipc", "uts", "net")
"""The namespace type of each ``ifl_ns_result.ns_fds`` entry."""


def ns_create(root: str, container: str, private: Sequence[tuple[str, str]], hostname: str,
              shm_size: int, flags: int) -> dict[str, int]:
    """Make a container's namespaces (``_csrc/nsinit.c``); return a close-on-exec
    descriptor of each, by type (``"mnt"``, ``"ipc"``, ``"uts"``, ``"net"``).

    ``private`` lists ``(target, source)`` directory pairs bound in the new
    mount namespace.  The setup child has exited and been reaped; the
    descriptors alone keep the namespaces alive, and the caller must close
    them.  On failure nothing is left open and the error's function is
    ``nsinit:<stage>`` (:data:`NS_STAGES`).
    https://man7.org/linux/man-pages/man2/unshare.2.html
    """
    if len(private) > lib.IFL_NS_MAX_PRIVATE:
        raise ValueError(f"at most {lib.IFL_NS_MAX_PRIVATE} private directories")
    keep: list[object] = []

    def c_str(value: str, what: str) -> object:
        cell = ffi.new("char[]", _c_string(value, what))
        keep.append(cell)
        return cell

    args = ffi.new("struct ifl_ns_args *")
    args.root = c_str(root, "the service root")
    args.container = c_str(container, "the container directory")
    for index, (target, source) in enumerate(private):
        args.private_targets[index] = c_str(target, "a private directory")
        args.private_sources[index] = c_str(source, "a private directory")
    args.n_private = len(private)
    args.hostname = c_str(hostname, "the hostname")
    args.shm_size = shm_size
    args.flags = flags
    result = ffi.new("struct ifl_ns_result *")
    if lib.ifl_ns_create(args, result) == 0:
        return {name: result.ns_fds[i] for i, name in enumerate(NS_FD_TYPES)
                if result.ns_fds[i] >= 0}
    stage = NS_STAGES.get(result.stage, str(result.stage))
    target = container
    if stage in ("bind", "open") and 0 <= result.index < len(private):
        target = private[result.index][0]
    elif stage == "nsfd" and 0 <= result.index < len(NS_FD_TYPES):
        target = f"/proc/self/ns/{NS_FD_TYPES[result.index]}"
    raise os_error(f"nsinit:{stage}", errno=result.error, target=target)


# --- pidfd ------------------------------------------------------------------------------------------


def pidfd_open(pid: int) -> int:
    """A close-on-exec pidfd for ``pid``.

    https://man7.org/linux/man-pages/man2/pidfd_open.2.html
    """
    try:
        return os.pidfd_open(pid)
    except OSError as err:
        raise from_oserror("pidfd_open", err, target=str(pid)) from None


def pidfd_send_signal(pidfd: int, sig: int, flags: int = 0, target: str | None = None) -> None:
    """Send ``sig`` through ``pidfd`` (``flags``: e.g. ``PIDFD_SIGNAL_PROCESS_GROUP``).

    https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html
    """
    try:
        signal.pidfd_send_signal(pidfd, sig, None, flags)
    except OSError as err:
        raise from_oserror("pidfd_send_signal", err, target=target) from None


# --- POSIX ACLs (libacl) ----------------------------------------------------------------------------


class RawAclEntry(NamedTuple):
    """One ACL entry as libacl numbers: ``ACL_*`` tag, uid/gid or ``None``, ``ACL_READ|...`` bits."""

    tag: int
    qualifier: int | None
    perms: int


_NAMED_TAGS = (lib.ACL_USER, lib.ACL_GROUP)
_PERM_BITS = (lib.ACL_READ, lib.ACL_WRITE, lib.ACL_EXECUTE)


def _acl_type(default: bool) -> int:
    return lib.ACL_TYPE_DEFAULT if default else lib.ACL_TYPE_ACCESS


def _check(result: int, function: str, path: str) -> None:
    if result != 0:
        raise os_error(function, errno=ffi.errno, target=path)


def _iter_entries(acl: object) -> Iterator[object]:
    entry = ffi.new("acl_entry_t *")
    which = lib.ACL_FIRST_ENTRY
    while lib.acl_get_entry(acl, which, entry) == 1:
        yield entry[0]
        which = lib.ACL_NEXT_ENTRY


def _copy_entry(entry: object, path: str) -> RawAclEntry:
    tag = ffi.new("acl_tag_t *")
    _check(lib.acl_get_tag_type(entry, tag), "acl_get_tag_type", path)
    qualifier = None
    if tag[0] in _NAMED_TAGS:
        pointer = lib.acl_get_qualifier(entry)
        if pointer == ffi.NULL:
            raise os_error("acl_get_qualifier", errno=ffi.errno, target=path)
        try:
            qualifier = int(ffi.cast("unsigned int *", pointer)[0])  # uid_t / gid_t
        finally:
            lib.acl_free(pointer)
    permset = ffi.new("acl_permset_t *")
    _check(lib.acl_get_permset(entry, permset), "acl_get_permset", path)
    perms = 0
    for bit in _PERM_BITS:
        if lib.acl_get_perm(permset[0], bit) == 1:
            perms |= bit
    return RawAclEntry(tag[0], qualifier, perms)


def acl_get_file(path: str, default: bool = False) -> list[RawAclEntry]:
    """Every entry of the access (or default) ACL of ``path``; ``[]`` if it has no default ACL.

    https://man7.org/linux/man-pages/man3/acl_get_file.3.html
    """
    acl = lib.acl_get_file(_c_string(path, "the path"), _acl_type(default))
    if acl == ffi.NULL:
        raise os_error("acl_get_file", errno=ffi.errno, target=path)
    try:
        return [_copy_entry(entry, path) for entry in _iter_entries(acl)]
    finally:
        lib.acl_free(acl)


def _add_entry(holder: object, item: RawAclEntry, path: str) -> None:
    entry = ffi.new("acl_entry_t *")
    _check(lib.acl_create_entry(holder, entry), "acl_create_entry", path)
    _check(lib.acl_set_tag_type(entry[0], item.tag), "acl_set_tag_type", path)
    if item.tag in _NAMED_TAGS:
        qualifier = ffi.new("unsigned int *", item.qualifier)
        _check(lib.acl_set_qualifier(entry[0], qualifier), "acl_set_qualifier", path)
    permset = ffi.new("acl_permset_t *")
    _check(lib.acl_get_permset(entry[0], permset), "acl_get_permset", path)
    _check(lib.acl_clear_perms(permset[0]), "acl_clear_perms", path)
    for bit in _PERM_BITS:
        if item.perms & bit:
            _check(lib.acl_add_perm(permset[0], bit), "acl_add_perm", path)
    _check(lib.acl_set_permset(entry[0], permset[0]), "acl_set_permset", path)


def acl_set_file(path: str, entries: Sequence[RawAclEntry], default: bool = False,
                 calc_mask: bool = False) -> None:
    """Replace the access (or default) ACL of ``path`` with exactly ``entries``.

    With ``calc_mask`` the ``ACL_MASK`` entry is (re)computed from the group
    class entries (give one in ``entries`` or let it be added).  The ACL is
    checked with ``acl_valid`` before it is set; an invalid one raises
    ``acl_valid`` / ``EINVAL`` and leaves the file untouched.
    https://man7.org/linux/man-pages/man3/acl_set_file.3.html,
    https://man7.org/linux/man-pages/man3/acl_calc_mask.3.html,
    https://man7.org/linux/man-pages/man3/acl_valid.3.html
    """
    acl = lib.acl_init(len(entries) + 1)
    if acl == ffi.NULL:
        raise os_error("acl_init", errno=ffi.errno, target=path)
    holder = ffi.new("acl_t *", acl)  # acl_create_entry / acl_calc_mask may move the ACL
    try:
        for item in entries:
            _add_entry(holder, item, path)
        if calc_mask:
            _check(lib.acl_calc_mask(holder), "acl_calc_mask", path)
        _check(lib.acl_valid(holder[0]), "acl_valid", path)
        _check(lib.acl_set_file(_c_string(path, "the path"), _acl_type(default), holder[0]),
               "acl_set_file", path)
    finally:
        lib.acl_free(holder[0])
