/* ironframe_py Linux spawn helper: start a process inside a container.
 * Pure C, no Python headers; symbols are prefixed ifl_. */
#ifndef IFL_SPAWN_H
#define IFL_SPAWN_H

#include <stdint.h>

/* Where a failed child stopped (see ifl_spawn_result.stage). */
enum {
    IFL_STAGE_NONE = 0, IFL_STAGE_CGROUP = 1, IFL_STAGE_SETSID = 2, IFL_STAGE_SETGROUPS = 3,
    IFL_STAGE_SETGID = 4, IFL_STAGE_SETUID = 5, IFL_STAGE_NNP = 6, IFL_STAGE_CHDIR = 7,
    IFL_STAGE_DUP = 8, IFL_STAGE_CLOSE = 9, IFL_STAGE_EXEC = 10, IFL_STAGE_CLONE = 11,
    IFL_STAGE_SETNS = 12
};

struct ifl_spawn_args {
    const char *path;            /* executable, already resolved */
    char *const *argv;           /* NULL-terminated */
    char *const *envp;           /* NULL-terminated */
    const char *cwd;             /* absolute; entered after dropping privileges */
    int stdio[3];                /* fds that become 0, 1, 2 in the child */
    const int *cgroup_fds;       /* open cgroup.procs files; the child writes "0" to each */
    int n_cgroup_fds;
    const int *ns_fds;           /* open namespace files; the child setns()es into each, after
                                    the cgroups and before dropping privileges */
    int n_ns_fds;
    uint32_t uid;
    uint32_t gid;
};

struct ifl_spawn_result {
    int stage;                   /* IFL_STAGE_* where the child failed, or 0 */
    int error;                   /* errno at that stage */
    int index;                   /* IFL_STAGE_CGROUP / _SETNS: which cgroup_fds / ns_fds entry */
};

/* Start the child; return its pid, or -1 with *result filled in (a child
 * that failed has been reaped).  Thread-safe; the caller's signal mask is
 * unchanged on return. */
int ifl_spawn(const struct ifl_spawn_args *args, struct ifl_spawn_result *result);

#endif
