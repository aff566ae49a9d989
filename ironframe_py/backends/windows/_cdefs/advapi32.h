/* advapi32: logon, tokens, privileges, SIDs, ACLs, launching as another user. */

/* Enums in the SDK headers (4 bytes, passed as an int). */
typedef int TOKEN_INFORMATION_CLASS;
typedef int SID_NAME_USE;
typedef int SE_OBJECT_TYPE;
typedef int ACCESS_MODE;
typedef int TRUSTEE_FORM;
typedef int TRUSTEE_TYPE;
typedef int MULTIPLE_TRUSTEE_OPERATION;
typedef WORD SECURITY_DESCRIPTOR_CONTROL;

/* --- constants (winbase.h, winnt.h, accctrl.h) --- */
#define LOGON32_LOGON_INTERACTIVE 2
#define LOGON32_LOGON_NETWORK 3
#define LOGON32_LOGON_BATCH 4
#define LOGON32_LOGON_SERVICE 5
#define LOGON32_PROVIDER_DEFAULT 0
#define LOGON_WITH_PROFILE 0x00000001
#define TOKEN_ASSIGN_PRIMARY 0x0001
#define TOKEN_DUPLICATE 0x0002
#define TOKEN_QUERY 0x0008
#define TOKEN_ADJUST_PRIVILEGES 0x0020
#define TOKEN_ADJUST_DEFAULT 0x0080
#define TOKEN_ADJUST_SESSIONID 0x0100
#define TOKEN_ALL_ACCESS 0x000F01FF
#define SE_PRIVILEGE_ENABLED 0x00000002
#define TokenUser 1
#define TokenPrivileges 3
#define SidTypeUser 1
#define SidTypeGroup 2
#define SidTypeAlias 4
#define SidTypeWellKnownGroup 5
#define SE_FILE_OBJECT 1
#define OWNER_SECURITY_INFORMATION 0x00000001
#define GROUP_SECURITY_INFORMATION 0x00000002
#define DACL_SECURITY_INFORMATION 0x00000004
#define PROTECTED_DACL_SECURITY_INFORMATION 0x80000000
#define UNPROTECTED_DACL_SECURITY_INFORMATION 0x20000000
#define SE_DACL_PRESENT 0x0004
#define SE_DACL_PROTECTED 0x1000
#define NOT_USED_ACCESS 0
#define GRANT_ACCESS 1
#define SET_ACCESS 2
#define DENY_ACCESS 3
#define REVOKE_ACCESS 4
#define SET_AUDIT_SUCCESS 5
#define NO_INHERITANCE 0x0
#define OBJECT_INHERIT_ACE 0x1
#define CONTAINER_INHERIT_ACE 0x2
#define SUB_CONTAINERS_AND_OBJECTS_INHERIT 0x3
#define TRUSTEE_IS_SID 0
#define TRUSTEE_IS_NAME 1
#define TRUSTEE_IS_UNKNOWN 0
#define TRUSTEE_IS_USER 1
#define TRUSTEE_IS_GROUP 2
#define TRUSTEE_IS_WELL_KNOWN_GROUP 5
#define NO_MULTIPLE_TRUSTEE 0
#define GENERIC_ALL 0x10000000
#define FILE_ALL_ACCESS 0x001F01FF

/* --- structs --- */
/* https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-luid */
typedef struct _LUID {
    DWORD LowPart;
    LONG HighPart;
} LUID;

/* https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-luid_and_attributes */
typedef struct _LUID_AND_ATTRIBUTES {
    LUID Luid;
    DWORD Attributes;
} LUID_AND_ATTRIBUTES;

/* https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-token_privileges
 * Variable length: Privileges has PrivilegeCount entries. */
typedef struct _TOKEN_PRIVILEGES {
    DWORD PrivilegeCount;
    LUID_AND_ATTRIBUTES Privileges[1];
} TOKEN_PRIVILEGES;

/* https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-sid_and_attributes */
typedef struct _SID_AND_ATTRIBUTES {
    PSID Sid;
    DWORD Attributes;
} SID_AND_ATTRIBUTES;

/* https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-token_user */
typedef struct _TOKEN_USER {
    SID_AND_ATTRIBUTES User;
} TOKEN_USER;

/* https://learn.microsoft.com/windows/win32/api/accctrl/ns-accctrl-trustee_w */
typedef struct _TRUSTEE_W {
    struct _TRUSTEE_W *pMultipleTrustee;
    MULTIPLE_TRUSTEE_OPERATION MultipleTrusteeOperation;
    TRUSTEE_FORM TrusteeForm;
    TRUSTEE_TYPE TrusteeType;
    WCHAR *ptstrName;
} TRUSTEE_W;

/* https://learn.microsoft.com/windows/win32/api/accctrl/ns-accctrl-explicit_access_w */
typedef struct _EXPLICIT_ACCESS_W {
    DWORD grfAccessPermissions;
    ACCESS_MODE grfAccessMode;
    DWORD grfInheritance;
    TRUSTEE_W Trustee;
} EXPLICIT_ACCESS_W;

/* --- functions (one per line: tools/check_win_layout.py reads them) --- */
/* https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-logonuserw */
BOOL LogonUserW(const WCHAR *lpszUsername, const WCHAR *lpszDomain, const WCHAR *lpszPassword, DWORD dwLogonType, DWORD dwLogonProvider, HANDLE *phToken);
/* https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessasuserw */
BOOL CreateProcessAsUserW(HANDLE hToken, const WCHAR *lpApplicationName, WCHAR *lpCommandLine, SECURITY_ATTRIBUTES *lpProcessAttributes, SECURITY_ATTRIBUTES *lpThreadAttributes, BOOL bInheritHandles, DWORD dwCreationFlags, LPVOID lpEnvironment, const WCHAR *lpCurrentDirectory, STARTUPINFOW *lpStartupInfo, PROCESS_INFORMATION *lpProcessInformation);
/* https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-createprocesswithtokenw */
BOOL CreateProcessWithTokenW(HANDLE hToken, DWORD dwLogonFlags, const WCHAR *lpApplicationName, WCHAR *lpCommandLine, DWORD dwCreationFlags, LPVOID lpEnvironment, const WCHAR *lpCurrentDirectory, STARTUPINFOW *lpStartupInfo, PROCESS_INFORMATION *lpProcessInformation);
/* https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-openprocesstoken */
BOOL OpenProcessToken(HANDLE ProcessHandle, DWORD DesiredAccess, HANDLE *TokenHandle);
/* https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-gettokeninformation */
BOOL GetTokenInformation(HANDLE TokenHandle, TOKEN_INFORMATION_CLASS TokenInformationClass, LPVOID TokenInformation, DWORD TokenInformationLength, DWORD *ReturnLength);
/* https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-lookupprivilegevaluew */
BOOL LookupPrivilegeValueW(const WCHAR *lpSystemName, const WCHAR *lpName, LUID *lpLuid);
/* https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-adjusttokenprivileges */
BOOL AdjustTokenPrivileges(HANDLE TokenHandle, BOOL DisableAllPrivileges, TOKEN_PRIVILEGES *NewState, DWORD BufferLength, TOKEN_PRIVILEGES *PreviousState, DWORD *ReturnLength);
/* https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-lookupaccountnamew */
BOOL LookupAccountNameW(const WCHAR *lpSystemName, const WCHAR *lpAccountName, PSID Sid, DWORD *cbSid, WCHAR *ReferencedDomainName, DWORD *cchReferencedDomainName, SID_NAME_USE *peUse);
/* https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-lookupaccountsidw */
BOOL LookupAccountSidW(const WCHAR *lpSystemName, PSID Sid, WCHAR *Name, DWORD *cchName, WCHAR *ReferencedDomainName, DWORD *cchReferencedDomainName, SID_NAME_USE *peUse);
/* https://learn.microsoft.com/windows/win32/api/sddl/nf-sddl-convertsidtostringsidw */
BOOL ConvertSidToStringSidW(PSID Sid, WCHAR **StringSid);
/* https://learn.microsoft.com/windows/win32/api/sddl/nf-sddl-convertstringsidtosidw */
BOOL ConvertStringSidToSidW(const WCHAR *StringSid, PSID *Sid);
/* https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-getlengthsid */
DWORD GetLengthSid(PSID pSid);
/* https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-setentriesinaclw */
DWORD SetEntriesInAclW(ULONG cCountOfExplicitEntries, EXPLICIT_ACCESS_W *pListOfExplicitEntries, ACL *OldAcl, ACL **NewAcl);
/* https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-getexplicitentriesfromaclw */
DWORD GetExplicitEntriesFromAclW(ACL *pacl, ULONG *pcCountOfExplicitEntries, EXPLICIT_ACCESS_W **pListOfExplicitEntries);
/* https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-setnamedsecurityinfow */
DWORD SetNamedSecurityInfoW(WCHAR *pObjectName, SE_OBJECT_TYPE ObjectType, SECURITY_INFORMATION SecurityInfo, PSID psidOwner, PSID psidGroup, ACL *pDacl, ACL *pSacl);
/* https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-getnamedsecurityinfow */
DWORD GetNamedSecurityInfoW(const WCHAR *pObjectName, SE_OBJECT_TYPE ObjectType, SECURITY_INFORMATION SecurityInfo, PSID *ppsidOwner, PSID *ppsidGroup, ACL **ppDacl, ACL **ppSacl, PSECURITY_DESCRIPTOR *ppSecurityDescriptor);
/* https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-getsecuritydescriptorcontrol */
BOOL GetSecurityDescriptorControl(PSECURITY_DESCRIPTOR pSecurityDescriptor, SECURITY_DESCRIPTOR_CONTROL *pControl, DWORD *lpdwRevision);
