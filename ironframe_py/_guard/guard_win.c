/* ironframe_py guard core, Windows: job memory, job messages, escapees.
 *
 * Needs Windows 8 / Server 2012 or later (job notification limits).  APIs:
 * QueryInformationJobObject (JobObjectBasicProcessIdList,
 * JobObjectLimitViolationInformation), IsProcessInJob, K32GetProcessMemoryInfo,
 * TerminateJobObject, SetInformationJobObject (completion port, notification
 * limit), GetQueuedCompletionStatusEx, CreateToolhelp32Snapshot, OpenProcessToken +
 * GetTokenInformation(TokenUser), TerminateProcess.  No undocumented or NT APIs.
 *
 * The job's hard memory limit (set by the backend at the container's limit) means
 * its commit never passes the limit: an allocation past it fails.  So here a job
 * *at* its limit -- within IFG_AT_LIMIT_FRACTION of it, at least 1 MiB -- is a
 * breach, and the job notification limit is set at that level, below the hard
 * limit, where Windows can reach it; after each notification the guard queries
 * JobObjectLimitViolationInformation, which re-arms it.
 *
 * Memory in use is the sum of PagefileUsage (commit) of the job's processes:
 * Wine reports PrivateUsage as 0.  Wine (8.x) accepts job memory and
 * notification limits without enforcing them, so under Wine this sweep is
 * the only enforcer: the guard detects Wine (ntdll exports wine_get_version)
 * and then polls every limited job every cycle instead of trusting
 * JOB_OBJECT_MSG_NOTIFICATION_LIMIT.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <psapi.h>
#include <tlhelp32.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "guard_core.h"
#include "guard_internal.h"

#define IFG_WAKE_KEY 0          /* completion key of ifg_wake's packet; target cookies are > 0 */
#define IFG_MAX_PACKETS 64
#define IFG_POLL_EVERY 16       /* event-driven targets are still read every N cycles */
/* A process of the container user younger than this is not judged yet: the
 * launcher creates it suspended and assigns it to the job a moment later. */
#define IFG_ESCAPE_GRACE_100NS (10 * 1000 * 1000)  /* 1 s */
#define IFG_AT_LIMIT_FRACTION 64        /* within limit/64 (at least 1 MiB) of the limit is at it */
#define IFG_AT_LIMIT_MIN (1LL << 20)

struct ifg_pidlist {
    JOBOBJECT_BASIC_PROCESS_ID_LIST *list;
    DWORD capacity;
};

struct ifg_guard {
    HANDLE port;
    uint64_t cycles;
    int32_t count;
    int trust_notifications;
    uint8_t *pending;           /* per target: a job message asks for a read this cycle */
    struct ifg_pidlist pids;    /* scratch, reused across cycles */
};

static int ifg_error(void)
{
    return -(int)GetLastError();
}

static HANDLE ifg_job(const ifg_target *target)
{
    return (HANDLE)(ULONG_PTR)target->job;
}

/* --- reading a job ------------------------------------------------------------------------- */

/* Fill pids with the job's process ids; 0 or -Win32 error. */
static int ifg_job_pids(HANDLE job, struct ifg_pidlist *pids)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        if (pids->list == NULL) {
            DWORD capacity = pids->capacity > 0 ? pids->capacity : 64;
            pids->list = malloc(offsetof(JOBOBJECT_BASIC_PROCESS_ID_LIST, ProcessIdList) +
                                capacity * sizeof(ULONG_PTR));
            if (pids->list == NULL)
                return -ERROR_NOT_ENOUGH_MEMORY;
            pids->capacity = capacity;
        }
        DWORD size = (DWORD)(offsetof(JOBOBJECT_BASIC_PROCESS_ID_LIST, ProcessIdList) +
                             pids->capacity * sizeof(ULONG_PTR));
        if (QueryInformationJobObject(job, JobObjectBasicProcessIdList, pids->list, size, NULL))
            return 0;
        if (GetLastError() != ERROR_MORE_DATA)
            return ifg_error();
        /* More processes than room: grow past the count the job just gave, and retry. */
        DWORD wanted = pids->list->NumberOfAssignedProcesses + 64;
        free(pids->list);
        pids->list = NULL;
        pids->capacity = wanted > pids->capacity * 2 ? wanted : pids->capacity * 2;
    }
    return -ERROR_MORE_DATA;
}

/* A handle to pid with query access plus `extra`, or NULL.  Full query access
 * first: Wine's IsProcessInJob refuses a limited-query handle (ERROR_ACCESS_DENIED);
 * Windows takes either, and a service that is not admin may only get the limited one. */
static HANDLE ifg_open(DWORD pid, DWORD extra)
{
    HANDLE process = OpenProcess(PROCESS_QUERY_INFORMATION | extra, FALSE, pid);
    if (process == NULL)
        process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | extra, FALSE, pid);
    return process;
}

static int ifg_still_running(HANDLE process)
{
    DWORD code;
    return GetExitCodeProcess(process, &code) && code == STILL_ACTIVE;
}

/* Commit of the job's live processes, in bytes; or -Win32 error. */
static int64_t ifg_job_usage(HANDLE job, struct ifg_pidlist *pids)
{
    int rc = ifg_job_pids(job, pids);
    if (rc < 0)
        return rc;
    int64_t total = 0;
    /* The ids run past the struct's one-element array: read them through a pointer to
     * the malloc'd bytes, which no compiler may assume holds a single id. */
    const ULONG_PTR *ids = (const ULONG_PTR *)(void *)((const char *)pids->list +
                                                      offsetof(JOBOBJECT_BASIC_PROCESS_ID_LIST, ProcessIdList));
    for (DWORD i = 0; i < pids->list->NumberOfProcessIdsInList; i++) {
        DWORD pid = (DWORD)ids[i];
        HANDLE process = ifg_open(pid, PROCESS_VM_READ);
        if (process == NULL)
            continue;  /* exited between listing and opening */
        BOOL member = FALSE;
        PROCESS_MEMORY_COUNTERS counters;
        /* Re-check membership on the handle: the pid may have been reused. */
        if (IsProcessInJob(process, job, &member) && member && ifg_still_running(process) &&
            K32GetProcessMemoryInfo(process, &counters, sizeof counters))
            total += (int64_t)counters.PagefileUsage;
        CloseHandle(process);
    }
    return total;
}

int ifg_kill_target(ifg_target *target)
{
    if (target->job == 0)
        return -ERROR_INVALID_HANDLE;
    return TerminateJobObject(ifg_job(target), target->exit_code) ? 0 : ifg_error();
}

/* --- sweeps ---------------------------------------------------------------------------------- */

/* At the limit is a breach: the hard job limit keeps commit from passing it (an
 * allocation that would fails), so usage within a margin of the limit is the job
 * failing allocations.  The margin is limit/64, at least 1 MiB, at most half the
 * limit (the same "near" as the Linux guard's second usage threshold). */
int64_t ifg_breach_level(const ifg_target *target)
{
    int64_t limit = target->memory_limit;
    int64_t margin = limit / IFG_AT_LIMIT_FRACTION > IFG_AT_LIMIT_MIN ? limit / IFG_AT_LIMIT_FRACTION
                                                                      : IFG_AT_LIMIT_MIN;
    int64_t level = limit - margin;
    return level > limit / 2 ? level : limit / 2;
}

static void ifg_sweep_memory(ifg_target *target, struct ifg_pidlist *pids,
                             struct ifg_event *events, int32_t max_events, int32_t *count)
{
    ifg_judge_usage(target, ifg_job_usage(ifg_job(target), pids), events, max_events, count);
}

/* The target whose user runs process, or NULL. */
static ifg_target *ifg_owner(HANDLE process, ifg_target *targets, int32_t count)
{
    union {
        TOKEN_USER user;
        uint8_t bytes[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
    } info;
    HANDLE token;
    DWORD size;
    if (!OpenProcessToken(process, TOKEN_QUERY, &token))
        return NULL;
    BOOL ok = GetTokenInformation(token, TokenUser, &info, sizeof info, &size);
    CloseHandle(token);
    if (!ok)
        return NULL;
    DWORD length = GetLengthSid(info.user.User.Sid);
    for (int32_t i = 0; i < count; i++)
        if (targets[i].sid_len > 0 && (DWORD)targets[i].sid_len == length &&
            memcmp(targets[i].sid, info.user.User.Sid, length) == 0)
            return &targets[i];
    return NULL;
}

static int ifg_is_young(HANDLE process, const FILETIME *now)
{
    FILETIME created, exited, kernel, user;
    if (!GetProcessTimes(process, &created, &exited, &kernel, &user))
        return 1;  /* cannot tell: leave it for the next sweep */
    ULARGE_INTEGER start, current;
    start.LowPart = created.dwLowDateTime;
    start.HighPart = created.dwHighDateTime;
    current.LowPart = now->dwLowDateTime;
    current.HighPart = now->dwHighDateTime;
    return current.QuadPart < start.QuadPart + IFG_ESCAPE_GRACE_100NS;
}

/* Is process in job?  Asked on the least-access handle first; Wine's IsProcessInJob
 * refuses a PROCESS_QUERY_LIMITED_INFORMATION handle (ERROR_ACCESS_DENIED), so on a
 * refusal it is asked again on a PROCESS_QUERY_INFORMATION handle (the pid cannot
 * have been reused: the caller's handle keeps the process object).  -1: cannot tell. */
static int ifg_in_job(DWORD pid, HANDLE process, HANDLE job)
{
    BOOL member = FALSE;
    if (IsProcessInJob(process, job, &member))
        return member ? 1 : 0;
    HANDLE full = OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, pid);
    if (full == NULL)
        return -1;
    BOOL ok = IsProcessInJob(full, job, &member);
    CloseHandle(full);
    return ok ? (member ? 1 : 0) : -1;
}

/* Judge one process: a container user's process outside that container's job is
 * terminated.  Every process is opened once with the least access that tells its
 * owner (PROCESS_QUERY_LIMITED_INFORMATION); only one that must die is opened again,
 * for PROCESS_TERMINATE, while the first handle still pins it (no pid reuse). */
static void ifg_judge(DWORD pid, const FILETIME *now, ifg_target *targets, int32_t count,
                      struct ifg_event *events, int32_t max_events, int32_t *n_events)
{
    HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (process == NULL)
        return;  /* exited, or a protected system process */
    ifg_target *target = ifg_owner(process, targets, count);
    if (target != NULL && ifg_in_job(pid, process, ifg_job(target)) == 0 &&
        ifg_still_running(process) && !ifg_is_young(process, now)) {
        IFG_TRACE("escapee pid %lu of target %lld", (unsigned long)pid, (long long)target->key);
        HANDLE killer = OpenProcess(PROCESS_TERMINATE, FALSE, pid);
        DWORD error = killer == NULL ? GetLastError() : ERROR_SUCCESS;
        if (killer != NULL && !TerminateProcess(killer, target->exit_code))
            error = GetLastError();
        if (killer != NULL)
            CloseHandle(killer);
        if (error == ERROR_SUCCESS)
            ifg_push(events, max_events, n_events, target->key, IFG_EVENT_ESCAPEE, (int32_t)pid, 0, 0);
        else
            ifg_push(events, max_events, n_events, target->key, IFG_EVENT_ERROR, (int32_t)pid,
                     (int64_t)error, 0);
    }
    CloseHandle(process);
}

/* One snapshot of the host's processes for all targets (not one per target). */
static void ifg_sweep_escapees(ifg_target *targets, int32_t count,
                               struct ifg_event *events, int32_t max_events, int32_t *n_events)
{
    int any = 0;
    for (int32_t i = 0; i < count; i++)
        any |= targets[i].sid_len > 0;
    if (!any)
        return;
    HANDLE snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    if (snapshot == INVALID_HANDLE_VALUE) {
        IFG_TRACE("process snapshot failed: %lu", (unsigned long)GetLastError());
        return;
    }
    FILETIME now;
    GetSystemTimeAsFileTime(&now);
    DWORD self = GetCurrentProcessId();
    PROCESSENTRY32W entry;
    entry.dwSize = sizeof entry;
    for (BOOL more = Process32FirstW(snapshot, &entry); more; more = Process32NextW(snapshot, &entry)) {
        if (entry.th32ProcessID > 4 && entry.th32ProcessID != self)  /* 0 idle, 4 System */
            ifg_judge(entry.th32ProcessID, &now, targets, count, events, max_events, n_events);
    }
    CloseHandle(snapshot);
}

int ifg_sweep(ifg_target *targets, int32_t count, int32_t sweep_escapees,
              struct ifg_event *events, int32_t max_events)
{
    struct ifg_pidlist pids = { NULL, 0 };
    int32_t n_events = 0;
    for (int32_t i = 0; i < count; i++)
        ifg_sweep_memory(&targets[i], &pids, events, max_events, &n_events);
    if (sweep_escapees)
        ifg_sweep_escapees(targets, count, events, max_events, &n_events);
    free(pids.list);
    return n_events;
}

/* --- the waiting loop --------------------------------------------------------------------------- */

static int ifg_is_wine(void)
{
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    return ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

struct ifg_guard *ifg_new(void)
{
    struct ifg_guard *guard = calloc(1, sizeof *guard);
    if (guard == NULL)
        return NULL;
    guard->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (guard->port == NULL) {
        free(guard);
        return NULL;
    }
    guard->trust_notifications = !ifg_is_wine();
    IFG_TRACE("guard port ready; job notifications %s",
              guard->trust_notifications ? "trusted" : "not trusted (Wine)");
    return guard;
}

int ifg_features(struct ifg_guard *guard)
{
    (void)guard;
    return 0;
}

void ifg_free(struct ifg_guard *guard)
{
    if (guard == NULL)
        return;
    CloseHandle(guard->port);
    free(guard->pending);
    free(guard->pids.list);
    free(guard);
}

int ifg_wake(struct ifg_guard *guard)
{
    return PostQueuedCompletionStatus(guard->port, 0, IFG_WAKE_KEY, NULL) ? 0 : ifg_error();
}

/* Have the job notify the guard when its commit reaches the breach level, below the
 * hard limit (Windows 8+); a limit < 0 removes the notification. */
static void ifg_set_notification(ifg_target *target)
{
    JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION info;
    memset(&info, 0, sizeof info);
    if (target->memory_limit >= 0) {
        info.JobMemoryLimit = (DWORD64)ifg_breach_level(target);
        info.LimitFlags = JOB_OBJECT_LIMIT_JOB_MEMORY;
    }
    if (SetInformationJobObject(ifg_job(target), JobObjectNotificationLimitInformation, &info,
                                sizeof info))
        target->notified_limit = target->memory_limit < 0 ? -1 : target->memory_limit;
    else
        IFG_TRACE("target %lld: no notification limit (%lu); polled", (long long)target->key,
                  (unsigned long)GetLastError());
}

/* Re-arm the job's notification limit after a JOB_OBJECT_MSG_NOTIFICATION_LIMIT: the
 * query of its limit violation is what lets Windows notify again (as Microsoft
 * documents it; not yet observed, Wine sends no notifications).  Returns the job's
 * commit when the notification was sent, or -1. */
static int64_t ifg_rearm(ifg_target *target)
{
    JOBOBJECT_LIMIT_VIOLATION_INFORMATION violation;
    memset(&violation, 0, sizeof violation);
    if (!QueryInformationJobObject(ifg_job(target), JobObjectLimitViolationInformation, &violation,
                                   sizeof violation, NULL)) {
        IFG_TRACE("target %lld: limit violation unreadable (%lu)", (long long)target->key,
                  (unsigned long)GetLastError());
        return -1;
    }
    return violation.ViolationLimitFlags & JOB_OBJECT_LIMIT_JOB_MEMORY ? (int64_t)violation.JobMemory : -1;
}

int ifg_set_targets(struct ifg_guard *guard, ifg_target *targets, int32_t count)
{
    uint8_t *pending = calloc((size_t)(count > 0 ? count : 1), 1);
    if (pending == NULL)
        return -ERROR_NOT_ENOUGH_MEMORY;
    for (int32_t i = 0; i < count; i++) {
        ifg_target *target = &targets[i];
        if (!target->attached) {
            /* A job reports to one port at most, so this is done once per job. */
            JOBOBJECT_ASSOCIATE_COMPLETION_PORT port;
            port.CompletionKey = (PVOID)(ULONG_PTR)target->cookie;
            port.CompletionPort = guard->port;
            if (SetInformationJobObject(ifg_job(target), JobObjectAssociateCompletionPortInformation,
                                        &port, sizeof port))
                target->attached = 1;
            else
                IFG_TRACE("target %lld: no completion port (%lu); polled", (long long)target->key,
                          (unsigned long)GetLastError());
        }
        if (target->attached && target->notified_limit != target->memory_limit &&
            (target->memory_limit >= 0 || target->notified_limit >= 0))
            ifg_set_notification(target);
    }
    free(guard->pending);
    guard->pending = pending;
    guard->count = count;
    return 0;
}

static ifg_target *ifg_by_cookie(ifg_target *targets, int32_t count, ULONG_PTR cookie)
{
    for (int32_t i = 0; i < count; i++)
        if ((ULONG_PTR)targets[i].cookie == cookie)
            return &targets[i];
    return NULL;  /* a job no longer watched */
}

/* One JOB_OBJECT_MSG_* packet. */
static void ifg_job_message(struct ifg_guard *guard, ifg_target *targets, int32_t count,
                            const OVERLAPPED_ENTRY *packet,
                            struct ifg_event *events, int32_t max_events, int32_t *n_events)
{
    ifg_target *target = ifg_by_cookie(targets, count, packet->lpCompletionKey);
    DWORD message = packet->dwNumberOfBytesTransferred;
    int32_t pid = (int32_t)(ULONG_PTR)packet->lpOverlapped;
    if (target == NULL)
        return;
    switch (message) {
    case JOB_OBJECT_MSG_NOTIFICATION_LIMIT: {
        /* The job's commit, as Windows counts it, reached the breach level: a breach
         * (Windows' count, not our sum of the processes' commit, which may fall a
         * little short of it).  Re-arm first.  A job with nothing left in it was
         * already killed, by a sweep that read it at the level before this packet
         * was dequeued: not reported twice. */
        int64_t at = ifg_rearm(target);
        int64_t usage = ifg_job_usage(ifg_job(target), &guard->pids);
        IFG_TRACE("target %lld: notification limit (commit %lld then, %lld now)",
                  (long long)target->key, (long long)at, (long long)usage);
        if (usage == 0)
            break;
        if (target->armed)
            ifg_kill_target(target);
        ifg_push_detail(events, max_events, n_events, target->key, IFG_EVENT_JOB_LIMIT, pid,
                        at > usage ? at : (usage < 0 ? target->usage : usage), target->memory_limit,
                        (int32_t)message);
        break;
    }
    case JOB_OBJECT_MSG_JOB_MEMORY_LIMIT:
    case JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT: {
        /* The kernel refused an allocation past the hard limit (best effort: Windows
         * does not guarantee these messages, the notification limit is the backstop). */
        int64_t usage = ifg_job_usage(ifg_job(target), &guard->pids);
        IFG_TRACE("target %lld: job message %lu (pid %d)", (long long)target->key,
                  (unsigned long)message, (int)pid);
        if (target->armed)
            ifg_kill_target(target);
        ifg_push_detail(events, max_events, n_events, target->key, IFG_EVENT_JOB_LIMIT, pid,
                        usage < 0 ? target->usage : usage, target->memory_limit, (int32_t)message);
        break;
    }
    case JOB_OBJECT_MSG_NEW_PROCESS:
        guard->pending[target - targets] = 1;  /* read its memory now, not at the next poll */
        break;
    default:
        break;  /* EXIT_PROCESS, ACTIVE_PROCESS_ZERO, ...: nothing to enforce */
    }
}

int ifg_cycle(struct ifg_guard *guard, ifg_target *targets, int32_t count,
              int32_t timeout_ms, int32_t sweep_escapees,
              struct ifg_event *events, int32_t max_events)
{
    OVERLAPPED_ENTRY packets[IFG_MAX_PACKETS];
    ULONG got = 0;
    int32_t n_events = 0;
    int woken = 0;

    if (count != guard->count)
        return -ERROR_INVALID_PARAMETER;  /* ifg_set_targets was not called for this array */
    if (!GetQueuedCompletionStatusEx(guard->port, packets, IFG_MAX_PACKETS, &got,
                                     (DWORD)(timeout_ms < 0 ? 0 : timeout_ms), FALSE)) {
        if (GetLastError() != WAIT_TIMEOUT)
            return ifg_error();
        got = 0;
    }
    for (ULONG i = 0; i < got; i++) {
        if (packets[i].lpCompletionKey == IFG_WAKE_KEY)
            woken = 1;
        else
            ifg_job_message(guard, targets, count, &packets[i], events, max_events, &n_events);
    }
    if (woken && got == 1)
        return 0;  /* Python has new targets for us: let it apply them before sweeping */
    guard->cycles++;
    int poll_all = guard->cycles % IFG_POLL_EVERY == 0;
    for (int32_t i = 0; i < count; i++) {
        ifg_target *target = &targets[i];
        int limited = target->memory_limit >= 0;
        int notified = guard->trust_notifications && limited &&
                       target->notified_limit == target->memory_limit;
        int due = poll_all || guard->pending[i] || (limited && !notified);
        guard->pending[i] = 0;
        if (due)
            ifg_sweep_memory(target, &guard->pids, events, max_events, &n_events);
    }
    if (sweep_escapees)
        ifg_sweep_escapees(targets, count, events, max_events, &n_events);
    return n_events;
}
