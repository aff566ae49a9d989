/* ntdll: per-user NTFS quotas on a volume (undocumented-in-SDK NT calls, declared
 * in the WDK's ntifs.h; available since Windows 2000). */

/* https://learn.microsoft.com/windows/win32/seccrypto/common-hresult-values (NTSTATUS) */
typedef LONG NTSTATUS;
typedef BYTE BOOLEAN;
/* An enum in the WDK headers (4 bytes, passed as an int). */
typedef int FS_INFORMATION_CLASS;

/* --- constants (ntifs.h, wdm.h, ntstatus.h) --- */
#define FileFsControlInformation 6
#define FILE_VC_QUOTA_NONE 0x00000000
#define FILE_VC_QUOTA_TRACK 0x00000001
#define FILE_VC_QUOTA_ENFORCE 0x00000002
#define FILE_VC_QUOTA_MASK 0x00000003

/* --- structs --- */
/* https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/ns-wdm-_io_status_block */
typedef struct _IO_STATUS_BLOCK {
    union {
        NTSTATUS Status;
        PVOID Pointer;
    };
    ULONG_PTR Information;
} IO_STATUS_BLOCK;

/* https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/ns-ntifs-_file_quota_information
 * Variable length: Sid is SidLength bytes; entries chain by NextEntryOffset. */
typedef struct _FILE_QUOTA_INFORMATION {
    ULONG NextEntryOffset;
    ULONG SidLength;
    LARGE_INTEGER ChangeTime;
    LARGE_INTEGER QuotaUsed;
    LARGE_INTEGER QuotaThreshold;
    LARGE_INTEGER QuotaLimit;
    SID Sid;
} FILE_QUOTA_INFORMATION;

/* https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/ns-ntifs-_file_get_quota_information */
typedef struct _FILE_GET_QUOTA_INFORMATION {
    ULONG NextEntryOffset;
    ULONG SidLength;
    SID Sid;
} FILE_GET_QUOTA_INFORMATION;

/* https://learn.microsoft.com/windows-hardware/drivers/ddi/ntddk/ns-ntddk-_file_fs_control_information */
typedef struct _FILE_FS_CONTROL_INFORMATION {
    LARGE_INTEGER FreeSpaceStartFiltering;
    LARGE_INTEGER FreeSpaceThreshold;
    LARGE_INTEGER FreeSpaceStopFiltering;
    LARGE_INTEGER DefaultQuotaThreshold;
    LARGE_INTEGER DefaultQuotaLimit;
    ULONG FileSystemControlFlags;
} FILE_FS_CONTROL_INFORMATION;

/* --- functions (one per line: tools/check_win_layout.py reads them) --- */
/* https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/nf-ntifs-zwsetquotainformationfile */
NTSTATUS NtSetQuotaInformationFile(HANDLE FileHandle, IO_STATUS_BLOCK *IoStatusBlock, PVOID Buffer, ULONG Length);
/* https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/nf-ntifs-zwqueryquotainformationfile */
NTSTATUS NtQueryQuotaInformationFile(HANDLE FileHandle, IO_STATUS_BLOCK *IoStatusBlock, PVOID Buffer, ULONG Length, BOOLEAN ReturnSingleEntry, PVOID SidList, ULONG SidListLength, PSID StartSid, BOOLEAN RestartScan);
/* https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntqueryvolumeinformationfile */
NTSTATUS NtQueryVolumeInformationFile(HANDLE FileHandle, IO_STATUS_BLOCK *IoStatusBlock, PVOID FsInformation, ULONG Length, FS_INFORMATION_CLASS FsInformationClass);
/* https://learn.microsoft.com/windows/win32/api/winternl/nf-winternl-rtlntstatustodoserror */
ULONG RtlNtStatusToDosError(NTSTATUS Status);
