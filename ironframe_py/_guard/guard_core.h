/* ironframe_py guard core: one loop watching many containers.
 *
 * Pure C (no Python headers), fixed-width types, ifg_ prefix.  This header and
 * the OS's target header (guard_target_linux.h or guard_target_windows.h)
 * double as the cffi declarations: everything between their CDEF markers, put
 * together by _cdef.py.
 * C returns raw numbers -- which target, what usage, which pid -- and Python
 * turns them into events and policy; the one thing C does by itself is kill,
 * because a breach must end within one poll interval.
 */
#ifndef IFG_GUARD_CORE_H
#define IFG_GUARD_CORE_H

#include <stdint.h>

/* CDEF-BEGIN */
#define IFG_ABI_VERSION 4

#define IFG_EVENT_MEMORY 1      /* usage above the limit: the container was killed */
#define IFG_EVENT_OOM_KILL 2    /* the kernel OOM-killed a process: the container was killed */
#define IFG_EVENT_ESCAPEE 3     /* a process of the container user outside it: killed */
#define IFG_EVENT_ERROR 4       /* a target could not be read, or an escapee killed (errno /
                                   Win32 error in value; pid set for an escapee) */
#define IFG_EVENT_JOB_LIMIT 5   /* Windows: the job reported a memory-limit message (its code in
                                   detail): the container was killed */

#define IFG_FEATURE_PROC_EVENTS 1  /* Linux: escapees found from process events, not /proc scans */

struct ifg_event {
    int64_t key;
    int32_t kind;             /* IFG_EVENT_* */
    int32_t pid;              /* escapee pid, the pid a job message names, or 0 */
    int64_t value;            /* usage (memory), new oom_kill count, or errno */
    int64_t limit;
    int32_t detail;           /* Windows: the JOB_OBJECT_MSG_* code behind the event, else 0 */
    int32_t reserved;
};

/* CDEF-END */

/* The OS's target struct, ifg_target: one per OS, each in its own header (whose
 * CDEF part cdef_text() puts here). */
#ifdef _WIN32
#include "guard_target_windows.h"
#else
#include "guard_target_linux.h"
#endif

/* CDEF-BEGIN */
struct ifg_guard;

int ifg_abi_version(void);
struct ifg_guard *ifg_new(void);
void ifg_free(struct ifg_guard *guard);
/* Wake a thread blocked in ifg_cycle (from any thread): an eventfd (Linux), a
 * completion packet (Windows). */
int ifg_wake(struct ifg_guard *guard);
/* IFG_FEATURE_* bits this guard uses. */
int ifg_features(struct ifg_guard *guard);
/* Tell the guard which targets to wait on (call between cycles): Linux adds
 * their event fds to a fresh epoll set; Windows attaches new jobs to its
 * completion port and sets their job notification limits. */
int ifg_set_targets(struct ifg_guard *guard, ifg_target *targets, int32_t count);
/* Wait up to timeout_ms for a kernel event or a wake, then sweep memory (and,
 * if sweep_escapees, the host's processes).  Fills up to max_events events;
 * returns how many, or -errno. */
int ifg_cycle(struct ifg_guard *guard, ifg_target *targets, int32_t count,
              int32_t timeout_ms, int32_t sweep_escapees,
              struct ifg_event *events, int32_t max_events);
/* One memory + escapee sweep without waiting (benchmarks, tests). */
int ifg_sweep(ifg_target *targets, int32_t count, int32_t sweep_escapees,
              struct ifg_event *events, int32_t max_events);
/* Kill every process of one target now; returns 0 or -errno. */
int ifg_kill_target(ifg_target *target);
/* CDEF-END */

#endif
