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
#define IFG_ABI_VERSION 1

#define IFG_EVENT_MEMORY 1      /* usage above the limit: the container was killed */
#define IFG_EVENT_OOM_KILL 2    /* the kernel OOM-killed a process: the container was killed */
#define IFG_EVENT_ESCAPEE 3     /* a process of the container user outside it: killed */
#define IFG_EVENT_ERROR 4       /* a target could not be read (errno in value) */

#define IFG_WAIT_NONE 0         /* no kernel event: polling only */
#define IFG_WAIT_COUNTER 1      /* an eventfd: readable when it fires */
#define IFG_WAIT_PRIORITY 2     /* a cgroup2 file: POLLPRI when it changes */

struct ifg_target {
    int64_t key;              /* Python's id for the container */
    int64_t memory_limit;     /* bytes; < 0: no limit to enforce */
    int32_t usage_fd;         /* memory.usage_in_bytes (v1) / memory.current (v2), or -1 */
    int32_t oom_fd;           /* memory.oom_control (v1) / memory.events (v2), or -1 */
    int32_t event_fd;         /* v1: eventfd registered on memory.oom_control; v2: memory.events */
    int32_t event_kind;       /* IFG_WAIT_*: how to wait on event_fd */
    int32_t threshold_fd;     /* v1: eventfd that fires when usage crosses memory_limit, or -1 */
    int32_t kill_fd;          /* cgroup.kill (cgroup2), or -1 */
    int32_t freezer_fd;       /* freezer.state (v1), or -1 */
    int32_t procs_fd;         /* cgroup.procs of one hierarchy (membership, v1 kill) */
    uint32_t uid;             /* the container's uid (escapee sweep) */
    int32_t armed;            /* kill the container on a breach */
    int64_t oom_kills;        /* last oom_kill count seen (in/out) */
    int64_t usage;            /* last usage read (out) */
    int64_t peak;             /* highest usage seen by the guard (out) */
};

struct ifg_event {
    int64_t key;
    int32_t kind;             /* IFG_EVENT_* */
    int32_t pid;              /* escapee pid, or 0 */
    int64_t value;            /* usage (memory), new oom_kill count, or errno */
    int64_t limit;
};

struct ifg_guard;

int ifg_abi_version(void);
struct ifg_guard *ifg_new(void);
void ifg_free(struct ifg_guard *guard);
/* Wake a thread blocked in ifg_cycle (from any thread). */
int ifg_wake(struct ifg_guard *guard);
/* Tell the guard which event fds to wait on (call between cycles). */
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
