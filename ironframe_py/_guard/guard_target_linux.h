/* ironframe_py guard core, Linux: what the guard watches for one container.
 * Included by guard_core.h; the part between the CDEF markers is also cffi's
 * (see _cdef.py). */
#ifndef IFG_GUARD_TARGET_LINUX_H
#define IFG_GUARD_TARGET_LINUX_H

#include <stdint.h>

/* CDEF-BEGIN */
#define IFG_WAIT_NONE 0         /* no kernel event: polling only */
#define IFG_WAIT_COUNTER 1      /* an eventfd: readable when it fires */
#define IFG_WAIT_PRIORITY 2     /* a cgroup2 file: POLLPRI when it changes */

/* One container: its cgroup files, opened by Python (-1: none). */
struct ifg_linux_target {
    int64_t key;              /* Python's id for the container (reported back in events) */
    int64_t memory_limit;     /* bytes; < 0: no limit to enforce */
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
    int32_t armed;            /* kill the container on a breach */
    int32_t reserved;         /* 0 */
    int64_t oom_kills;        /* last oom_kill count seen (in/out) */
    int64_t usage;            /* last usage read (out) */
    int64_t peak;             /* highest usage seen by the guard (out) */
};

typedef struct ifg_linux_target ifg_target;
/* CDEF-END */

#endif
