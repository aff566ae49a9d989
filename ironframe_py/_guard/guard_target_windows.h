/* ironframe_py guard core, Windows: what the guard watches for one container.
 * Included by guard_core.h; the part between the CDEF markers is also cffi's
 * (see _cdef.py; ABI mode with ifguard.dll, so fixed-width types only). */
#ifndef IFG_GUARD_TARGET_WINDOWS_H
#define IFG_GUARD_TARGET_WINDOWS_H

#include <stdint.h>

/* CDEF-BEGIN */
/* One container: its job and its user. */
struct ifg_windows_target {
    int64_t key;              /* Python's id for the container (reported back in events) */
    int64_t memory_limit;     /* bytes of commit; < 0: no limit to enforce */
    uint64_t job;             /* job HANDLE (needs JOB_OBJECT_QUERY | JOB_OBJECT_TERMINATE |
                                 JOB_OBJECT_SET_ATTRIBUTES) */
    int64_t cookie;           /* > 0, unique per target for the guard's life: the completion key */
    int64_t notified_limit;   /* memory_limit the job's notification limit was set for, -1: none
                                 (in/out) */
    int64_t usage;            /* last usage read (out) */
    int64_t peak;             /* highest usage seen by the guard (out) */
    int32_t armed;            /* kill the container on a breach */
    int32_t attached;         /* the job reports to this guard's completion port (in/out) */
    uint32_t exit_code;       /* exit code of what the guard terminates */
    int32_t sid_len;          /* bytes used in sid; 0: no escapee sweep for this target */
    uint8_t sid[68];          /* the container user's SID (SECURITY_MAX_SID_SIZE bytes) */
};

typedef struct ifg_windows_target ifg_target;
/* CDEF-END */

#endif
