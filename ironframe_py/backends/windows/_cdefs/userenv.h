/* userenv: the container user's profile (load for the logon, delete on destroy). */

/* --- constants (userenv.h) --- */
#define PI_NOUI 0x00000001

/* --- structs --- */
/* https://learn.microsoft.com/windows/win32/api/profinfo/ns-profinfo-profileinfow */
typedef struct _PROFILEINFOW {
    DWORD dwSize;
    DWORD dwFlags;
    WCHAR *lpUserName;
    WCHAR *lpProfilePath;
    WCHAR *lpDefaultPath;
    WCHAR *lpServerName;
    WCHAR *lpPolicyPath;
    HANDLE hProfile;
} PROFILEINFOW;

/* --- functions (one per line: tools/check_win_layout.py reads them) --- */
/* https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-loaduserprofilew */
BOOL LoadUserProfileW(HANDLE hToken, PROFILEINFOW *lpProfileInfo);
/* https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-unloaduserprofile */
BOOL UnloadUserProfile(HANDLE hToken, HANDLE hProfile);
/* https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-deleteprofilew */
BOOL DeleteProfileW(const WCHAR *lpSidString, const WCHAR *lpProfilePath, const WCHAR *lpComputerName);
