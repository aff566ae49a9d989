/* ironframe_py guard core: one loop watching many containers.
 *
 * Pure C (no Python headers), fixed-width types, ifg_ prefix.  This header
 * doubles as the cffi declarations (everything between the CDEF markers).
 * C returns raw numbers -- which target, what usage, which pid -- and Python
 * turns them into events and policy; the one thing C does by itself is kill,
 * because a breach must end within one poll interval.
 */
#ifndef IFG_GUARD_CORE_H
#define IFG_GUARD_CORE_H

#include <stdint.h>

/* CDEF-BEGIN */
#define IFG_ABI_VERSION 3

#define IFG_EVENT_MEMORY 1      /* usage above the limit: the container was killed */
#define IFG_EVENT_OOM_KILL 2    /* the kernel OOM-killed a process: the container was killed */
#define IFG_EVENT_ESCAPEE 3     /* a process of the container user outside it: killed */
#define IFG_EVENT_ERROR 4       /* a target could not be read, or an escapee killed (errno /
                                   Win32 error in value; pid set for an escapee) */
#define IFG_EVENT_JOB_LIMIT 5   /* Windows: the job reported a memory-limit message (its code in
                                   detail): the container was killed */

#define IFG_FEATURE_PROC_EVENTS 1  /* Linux: escapees found from process events, not /proc scans */

#define IFG_WAIT_NONE 0         /* no kernel event: polling only */
#define IFG_WAIT_COUNTER 1      /* an eventfd: readable when it fires */
#define IFG_WAIT_PRIORITY 2     /* a cgroup2 file: POLLPRI when it changes */

/* One container.  Fields marked Linux or Windows are ignored (leave them 0
 * or -1 as noted) on the other OS. */
struct ifg_target {
    int64_t key;              /* Python's id for the container (reported back in events) */
    int64_t memory_limit;     /* bytes; < 0: no limit to enforce */
    /* Linux */
    int32_t usage_fd;         /* memory.usage_in_bytes (v1) / memory.current (v2), or -1 */
    int32_t oom_fd;           /* memory.oom_control (v1) / memory.events (v2), or -1 */
    int32_t event_fd;         /* v1: eventfd registered on memory.oom_control; v2: memory.events */
    int32_t event_kind;       /* IFG_WAIT_*: how to wait on event_fd */
    int32_t threshold_fd;     /* v1: eventfd that fires when usage crosses memory_limit, or -1 */
    int32_t kill_fd;          /* cgroup.kill (cgroup2), or -1 */
    int32_t freezer_fd;       /* freezer.state (v1), or -1 */
    int32_t procs_fd;         /* cgroup.procs of one hierarchy (membership, v1 kill) */
    int32_t pids_fd;          /* pids.current of the same hierarchy as procs_fd, or -1 */
    uint32_t uid;             /* the container's uid (escapee sweep) */
    /* both */
    int32_t armed;            /* kill the container on a breach */
    int64_t oom_kills;        /* last oom_kill count seen (in/out) */
    int64_t usage;            /* last usage read (out) */
    int64_t peak;             /* highest usage seen by the guard (out) */
    /* Windows */
    uint64_t job;             /* job HANDLE (needs JOB_OBJECT_QUERY | JOB_OBJECT_TERMINATE |
                                 JOB_OBJECT_SET_ATTRIBUTES), or 0 */
    int64_t cookie;           /* > 0, unique per target for the guard's life: the completion key */
    int64_t notified_limit;   /* job notification limit set by the guard, -1: none (in/out) */
    int32_t attached;         /* the job reports to this guard's completion port (in/out) */
    uint32_t exit_code;       /* exit code of what the guard terminates */
    int32_t sid_len;          /* bytes used in sid; 0: no escapee sweep for this target */
    uint8_t sid[68];          /* the container user's SID (SECURITY_MAX_SID_SIZE bytes) */
};

struct ifg_event {
    int64_t key;
    int32_t kind;             /* IFG_EVENT_* */
    int32_t pid;              /* escapee pid, the pid a job message names, or 0 */
    int64_t value;            /* usage (memory), new oom_kill count, or errno */
    int64_t limit;
    int32_t detail;           /* Windows: the JOB_OBJECT_MSG_* code behind the event, else 0 */
    int32_t reserved;
};

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
int ifg_set_targets(struct ifg_guard *guard, struct ifg_target *targets, int32_t count);
/* Wait up to timeout_ms for a kernel event or a wake, then sweep memory (and,
 * if sweep_escapees, the host's processes).  Fills up to max_events events;
 * returns how many, or -errno. */
int ifg_cycle(struct ifg_guard *guard, struct ifg_target *targets, int32_t count,
              int32_t timeout_ms, int32_t sweep_escapees,
              struct ifg_event *events, int32_t max_events);
/* One memory + escapee sweep without waiting (benchmarks, tests). */
int ifg_sweep(struct ifg_target *targets, int32_t count, int32_t sweep_escapees,
              struct ifg_event *events, int32_t max_events);
/* Kill every process of one target now; returns 0 or -errno. */
int ifg_kill_target(struct ifg_target *target);
/* CDEF-END */

#endif
