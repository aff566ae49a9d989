/* netapi32: local user accounts and group membership (lmaccess.h, lmapibuf.h). */

/* https://learn.microsoft.com/windows/win32/netmgmt/net-api-status */
typedef DWORD NET_API_STATUS;

/* --- constants (lmaccess.h, lmcons.h) --- */
#define USER_PRIV_GUEST 0
#define USER_PRIV_USER 1
#define USER_PRIV_ADMIN 2
#define UF_SCRIPT 0x0001
#define UF_ACCOUNTDISABLE 0x0002
#define UF_PASSWD_CANT_CHANGE 0x0040
#define UF_NORMAL_ACCOUNT 0x0200
#define UF_DONT_EXPIRE_PASSWD 0x10000
#define LG_INCLUDE_INDIRECT 0x0001
#define MAX_PREFERRED_LENGTH 0xFFFFFFFF
#define UNLEN 256
#define LM20_UNLEN 20
#define PWLEN 256

/* --- structs --- */
/* https://learn.microsoft.com/windows/win32/api/lmaccess/ns-lmaccess-user_info_1 */
typedef struct _USER_INFO_1 {
    WCHAR *usri1_name;
    WCHAR *usri1_password;
    DWORD usri1_password_age;
    DWORD usri1_priv;
    WCHAR *usri1_home_dir;
    WCHAR *usri1_comment;
    DWORD usri1_flags;
    WCHAR *usri1_script_path;
} USER_INFO_1;

/* https://learn.microsoft.com/windows/win32/api/lmaccess/ns-lmaccess-user_info_1003 */
typedef struct _USER_INFO_1003 {
    WCHAR *usri1003_password;
} USER_INFO_1003;

/* https://learn.microsoft.com/windows/win32/api/lmaccess/ns-lmaccess-user_info_1008 */
typedef struct _USER_INFO_1008 {
    DWORD usri1008_flags;
} USER_INFO_1008;

/* https://learn.microsoft.com/windows/win32/api/lmaccess/ns-lmaccess-localgroup_members_info_3 */
typedef struct _LOCALGROUP_MEMBERS_INFO_3 {
    WCHAR *lgrmi3_domainandname;
} LOCALGROUP_MEMBERS_INFO_3;

/* https://learn.microsoft.com/windows/win32/api/lmaccess/ns-lmaccess-localgroup_users_info_0 */
typedef struct _LOCALGROUP_USERS_INFO_0 {
    WCHAR *lgrui0_name;
} LOCALGROUP_USERS_INFO_0;

/* --- functions (one per line: tools/check_win_layout.py reads them) --- */
/* https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netuseradd */
NET_API_STATUS NetUserAdd(const WCHAR *servername, DWORD level, BYTE *buf, DWORD *parm_err);
/* https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netuserdel */
NET_API_STATUS NetUserDel(const WCHAR *servername, const WCHAR *username);
/* https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netusergetinfo */
NET_API_STATUS NetUserGetInfo(const WCHAR *servername, const WCHAR *username, DWORD level, BYTE **bufptr);
/* https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netusersetinfo */
NET_API_STATUS NetUserSetInfo(const WCHAR *servername, const WCHAR *username, DWORD level, BYTE *buf, DWORD *parm_err);
/* https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netusergetlocalgroups */
NET_API_STATUS NetUserGetLocalGroups(const WCHAR *servername, const WCHAR *username, DWORD level, DWORD flags, BYTE **bufptr, DWORD prefmaxlen, DWORD *entriesread, DWORD *totalentries);
/* https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netlocalgroupaddmembers */
NET_API_STATUS NetLocalGroupAddMembers(const WCHAR *servername, const WCHAR *groupname, DWORD level, BYTE *buf, DWORD totalentries);
/* https://learn.microsoft.com/windows/win32/api/lmapibuf/nf-lmapibuf-netapibufferfree */
NET_API_STATUS NetApiBufferFree(LPVOID Buffer);
