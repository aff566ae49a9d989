/* ironframe_py Linux namespace setup helper: make a container's mount, IPC, UTS and
 * (optionally) network namespaces, build its mount view, and hand back descriptors of them.  Pure C, no Python headers;
 * symbols are prefixed ifl_ns_.  See nsinit.c for the order of the steps. */
#ifndef IFL_NSINIT_H
#define IFL_NSINIT_H

#include <stdint.h>
#include <sys/mount.h>

/* Where a failed setup child stopped (ifl_ns_result.stage). */
enum {
    IFL_NS_STAGE_NONE = 0, IFL_NS_STAGE_NSFD = 1, IFL_NS_STAGE_CLONE = 2,
    IFL_NS_STAGE_UNSHARE = 3, IFL_NS_STAGE_PROPAGATION = 4, IFL_NS_STAGE_MOUNTINFO = 5,
    IFL_NS_STAGE_DETACH = 6, IFL_NS_STAGE_OPEN = 7, IFL_NS_STAGE_READONLY = 8,
    IFL_NS_STAGE_BIND = 9, IFL_NS_STAGE_SHM = 10, IFL_NS_STAGE_MQUEUE = 11,
    IFL_NS_STAGE_COVER = 12, IFL_NS_STAGE_HOSTNAME = 13, IFL_NS_STAGE_LOOPBACK = 14
};

/* ifl_ns_args.flags */
enum {
    IFL_NS_NET = 1,          /* also a network namespace, with lo up */
    IFL_NS_NO_SETATTR = 2    /* make the host read-only by remounting each mount (the path for
                                kernels before 5.12, forced here so tests can run it) */
};

#define IFL_NS_MAX_PRIVATE 8

struct ifl_ns_args {
    const char *root;                    /* service root: covered by an empty read-only tmpfs */
    const char *container;               /* container directory, below root; bound read-write */
    const char *private_targets[IFL_NS_MAX_PRIVATE];  /* e.g. /tmp; skipped if absent */
    const char *private_sources[IFL_NS_MAX_PRIVATE];  /* directories on the container's storage */
    int n_private;
    const char *hostname;
    uint64_t shm_size;                   /* bytes for the /dev/shm tmpfs; 0: tmpfs's default */
    int flags;                           /* IFL_NS_* */
};

struct ifl_ns_result {
    int stage;                           /* IFL_NS_STAGE_* where the child failed, or 0 */
    int error;                           /* errno at that stage */
    int index;                           /* IFL_NS_STAGE_BIND / _OPEN: which private dir */
    int ns_fds[4];                       /* on success: mnt, ipc, uts, net (-1 without one),
                                            open close-on-exec; the caller owns them */
};

/* Make the namespaces through a short-lived child (reaped before return).  Returns 0 with
 * result->ns_fds set, or -1 with result->stage/error/index set and no descriptor open. */
int ifl_ns_create(const struct ifl_ns_args *args, struct ifl_ns_result *result);

#endif
