"""The container's local user account and its profile (tier 2).

One local user per container, named ``c_`` + the first 9 bytes of
SHA-1(handle) in upper-case hex (IronFrame's scheme: 20 characters, the
SAM limit).  Its password is random, strong, kept in memory only and
never written anywhere; a service that restarts sets a new one
(``NetUserSetInfo``) when it needs to log the user on again.  The user is
added to no group by this module (NetUserAdd makes it a member of
``Users``, which holds no privilege).

Under Wine: NetUserAdd "succeeds" but the user is visible only inside the
calling process, LogonUserW always succeeds with a fake token, and
DeleteProfileW / NetUserSetInfo are missing or abort: the tests there check
that our calls are accepted and our error paths, not the OS's behaviour.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time

from ..._winerror import (
    ERROR_FILE_NOT_FOUND,
    ERROR_INVALID_HANDLE,
    ERROR_INVALID_PARAMETER,
    ERROR_LOGON_TYPE_NOT_GRANTED,
)
from ...errors import InvalidState, NotFound, OSCallError
from ._api import REAL, Api
from ._ffi import C

PASSWORD_LENGTH = 32
# The user right each logon type needs (its policy name, then its constant).
LOGON_RIGHTS = {C.LOGON32_LOGON_INTERACTIVE: '"Allow log on locally" (SeInteractiveLogonRight)',
                C.LOGON32_LOGON_BATCH: '"Log on as a batch job" (SeBatchLogonRight)'}
_SYMBOLS = "!#$%&()*+,-.:;<=>?@[]^_{|}~"
PROFILE_IN_USE_RETRIES = 10  # IronFrame retried DeleteProfile 10x 100 ms while error 87


def user_name_for(handle: str) -> str:
    """``c_`` + 18 upper-case hex chars of SHA-1(handle): 20 characters, the Windows limit."""
    return "c_" + hashlib.sha1(handle.encode("utf-8")).hexdigest()[:18].upper()


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password with upper, lower, digit and symbol characters (complexity policy)."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, _SYMBOLS)
    alphabet = "".join(classes)
    chars = [secrets.choice(group) for group in classes]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class LocalUser:
    """A local account; ``password`` is ``None`` when this process does not know it."""

    def __init__(self, name: str, password: str | None, *, api: Api = REAL) -> None:
        self.name = name
        self.password = password
        self._api = api

    def __repr__(self) -> str:  # never shows the password
        return f"<LocalUser {self.name}>"

    @classmethod
    def create(cls, name: str, *, comment: str = "ironframe container user",
               api: Api = REAL) -> LocalUser:
        """Add the account with a fresh random password (:class:`AlreadyExists` if taken)."""
        password = generate_password()
        api.netapi32.NetUserAdd(None, name, password, comment)
        return cls(name, password, api=api)

    @staticmethod
    def exists(name: str, *, api: Api = REAL) -> bool:
        """True if a local account called ``name`` exists."""
        try:
            api.netapi32.NetUserGetInfo(None, name)
        except NotFound:
            return False
        return True

    def sid(self) -> bytes:
        """The account's SID (binary)."""
        return self._api.advapi32.LookupAccountName(self.name)[0]

    def sid_string(self) -> str:
        """The account's SID as ``S-1-5-21-...``."""
        return self._api.advapi32.ConvertSidToStringSid(self.sid())

    def reset_password(self) -> None:
        """Give the account a new random password, known only to this process."""
        password = generate_password()
        self._api.netapi32.NetUserSetPassword(None, self.name, password)
        self.password = password

    def logon(self, logon_type: int = C.LOGON32_LOGON_INTERACTIVE):
        """A primary token for the account (close it with ``CloseHandle``)."""
        if self.password is None:
            raise InvalidState("password unknown", "log the user on",
                               "call reset_password() first (the service restarted)")
        try:
            return self._api.advapi32.LogonUser(self.name, ".", self.password, logon_type)
        except OSCallError as err:
            if err.winerror == ERROR_LOGON_TYPE_NOT_GRANTED:
                right = LOGON_RIGHTS.get(logon_type, f"the right for logon type {logon_type}")
                err.add_note(f"{self.name} lacks {right} on this host (domain controllers and "
                             "hardened baselines restrict it); grant it to the container users' "
                             "group, or choose the other logon_type= of WindowsBackend (with "
                             "groups= holding the right, as IronFrame used IIS_IUSRS for batch)")
            raise

    def create_profile(self, logon_type: int = C.LOGON32_LOGON_INTERACTIVE) -> None:
        """Create the profile now (loading it creates it), rather than racily on first launch."""
        token = self.logon(logon_type)
        try:
            profile = self._api.userenv.LoadUserProfile(token, self.name)
            self._api.userenv.UnloadUserProfile(token, profile)
        finally:
            close_token(token, api=self._api)

def close_token(token, *, api: Api = REAL) -> None:
    """Close a logon token.  Wine's LogonUserW hands out a fake token that is no handle at all;
    closing it there fails with ERROR_INVALID_HANDLE, which is ignored under Wine only."""
    try:
        api.kernel32.CloseHandle(token)
    except OSCallError as err:
        if err.winerror != ERROR_INVALID_HANDLE or not api.is_wine():
            raise


def delete_user(name: str, *, api: Api = REAL) -> None:
    """NetUserDel, with "no such user" counted as success."""
    try:
        api.netapi32.NetUserDel(None, name)
    except NotFound:
        pass  # already gone: the goal of a delete


def delete_profile(sid_string: str, *, api: Api = REAL, sleep=time.sleep) -> None:
    """Delete a profile by SID; succeeds if there is none; retries while it is in use.

    Needs the ``user_profiles`` capability (DeleteProfileW; missing under Wine).
    """
    api.require("user_profiles")
    for attempt in range(PROFILE_IN_USE_RETRIES):
        try:
            api.userenv.DeleteProfile(sid_string)
            return
        except OSCallError as err:
            if err.winerror == ERROR_FILE_NOT_FOUND:
                return
            if err.winerror != ERROR_INVALID_PARAMETER or attempt == PROFILE_IN_USE_RETRIES - 1:
                raise
            sleep(0.1)  # 87 is what DeleteProfileW answers while the hive is still loaded
