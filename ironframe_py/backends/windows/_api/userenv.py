"""userenv: checked calls for user profiles (load for a logon, delete with the user)."""

from __future__ import annotations

from .._dll import NULL, check_lasterror, dll, wide
from .._ffi import ffi

PI_NOUI = 0x00000001


def _userenv():
    return dll("userenv.dll")


def LoadUserProfile(token, user: str):
    """Load (creating on first use) ``user``'s profile; returns the profile's registry handle.
    https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-loaduserprofilew"""
    info = ffi.new("PROFILEINFOW *")
    name = wide(user)
    info.dwSize = ffi.sizeof("PROFILEINFOW")
    info.dwFlags = PI_NOUI
    info.lpUserName = name
    check_lasterror("LoadUserProfileW", _userenv().LoadUserProfileW(token, info), target=user)
    return info.hProfile


def UnloadUserProfile(token, profile) -> None:
    """https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-unloaduserprofile"""
    check_lasterror("UnloadUserProfile", _userenv().UnloadUserProfile(token, profile))


def DeleteProfile(sid_string: str) -> None:
    """Delete the profile (directory and registry) of the user with SID ``sid_string``.
    https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-deleteprofilew"""
    check_lasterror("DeleteProfileW", _userenv().DeleteProfileW(wide(sid_string), NULL, NULL),
                    target=sid_string)
