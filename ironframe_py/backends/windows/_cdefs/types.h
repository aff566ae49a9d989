/* Win32 base types, fixed-width only, so that cffi computes the Win64 (LLP64)
 * layout on any host.  https://learn.microsoft.com/windows/win32/winprog/windows-data-types */
typedef uint8_t BYTE;
typedef uint16_t WORD;
typedef uint32_t DWORD;
typedef int32_t BOOL;
typedef uint32_t UINT;
typedef int32_t LONG;
typedef uint32_t ULONG;
typedef int64_t LONGLONG;
typedef uint64_t ULONGLONG;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t SIZE_T;
typedef uint16_t WCHAR;
typedef void *HANDLE;
typedef void *LPVOID;
typedef void *PVOID;
/* LARGE_INTEGER is a union of a LONGLONG and two DWORDs: same size and alignment. */
typedef int64_t LARGE_INTEGER;

/* https://learn.microsoft.com/windows/win32/api/wtypesbase/ns-wtypesbase-security_attributes */
typedef struct _SECURITY_ATTRIBUTES {
    DWORD nLength;
    LPVOID lpSecurityDescriptor;
    BOOL bInheritHandle;
} SECURITY_ATTRIBUTES;

/* Only ever passed by pointer. */
typedef struct _OVERLAPPED OVERLAPPED;

/* https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-sid_identifier_authority */
typedef struct _SID_IDENTIFIER_AUTHORITY {
    BYTE Value[6];
} SID_IDENTIFIER_AUTHORITY;

/* https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-sid
 * Variable length: SubAuthority has SubAuthorityCount entries. */
typedef struct _SID {
    BYTE Revision;
    BYTE SubAuthorityCount;
    SID_IDENTIFIER_AUTHORITY IdentifierAuthority;
    DWORD SubAuthority[1];
} SID;

/* A SID is handled through an untyped pointer, as in the SDK. */
typedef void *PSID;
/* https://learn.microsoft.com/windows/win32/secauthz/security-descriptors (opaque) */
typedef void *PSECURITY_DESCRIPTOR;
/* https://learn.microsoft.com/windows/win32/secauthz/security-information */
typedef DWORD SECURITY_INFORMATION;

/* https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-acl (header of a variable-length ACL) */
typedef struct _ACL {
    BYTE AclRevision;
    BYTE Sbz1;
    WORD AclSize;
    WORD AceCount;
    WORD Sbz2;
} ACL;
