/* Namespace setup child for a Linux container (see nsinit.h and namespaces.py).
 *
 * clone(CLONE_VM | CLONE_VFORK | CLONE_FILES) on a private stack, with every signal
 * blocked: the caller is suspended until the child exits, the child reports through the
 * shared result, and the namespace descriptors it opens land in the caller's own
 * descriptor table -- they keep the namespaces alive after the child is gone, so there is
 * no process to wait for while the caller binds them, no page tables to copy and nothing
 * left if the caller dies.  The child uses system calls and its own buffers only (it
 * shares the caller's memory).  In order:
 *
 *  1. unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS [| CLONE_NEWNET]);
 *  2. "/" recursively slave: nothing mounted here propagates back to the host, while
 *     the host's unmounts still reach the copies (on hosts whose mounts are shared);
 *  3. every copied mount below a path that the view covers (the service root, the
 *     private directories, /dev/shm, /dev/mqueue) is detached, except the container's
 *     own: hidden anyway, and a copy would keep another container's disk or namespace
 *     files alive for as long as this namespace lives;
 *  4. O_PATH descriptors of the container directory and its private directories;
 *  5. the whole tree read-only: mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY) (Linux
 *     5.12+), else a read-only bind remount of each mount, keeping its other flags (a
 *     mount covered by another at the same place is unreachable and left as it is);
 *  6. each private directory bound on its target (/tmp, ...) read-write, nosuid, nodev;
 *  7. a fresh tmpfs on /dev/shm (mode 1777, size-capped) and mqueue on /dev/mqueue;
 *  8. an empty tmpfs over the service root, made read-only once the container
 *     directory has been bound back read-write at its own path below it;
 *  9. the hostname, and lo up in a new network namespace;
 * 10. /proc/self/ns/{mnt,ipc,uts[,net]} opened close-on-exec for the caller. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nsinit.h"

#define IFL_NS_STACK (256 * 1024)
#define IFL_NS_MAX_OPEN (IFL_NS_MAX_PRIVATE + 4)
#define IFL_NS_PATH 4096
#define IFL_NS_MOUNTINFO (16 * 1024 * 1024)

struct ifl_ns_child {
    const struct ifl_ns_args *args;
    struct ifl_ns_result *result;  /* shared with the (suspended) caller */
    char *mountinfo;               /* IFL_NS_MOUNTINFO bytes, mapped by the caller */
    int open_fds[IFL_NS_MAX_OPEN]; /* the child's descriptors, closed before it exits: they
                                      are in the caller's table (CLONE_FILES) */
    int n_open;
};

static int ifl_ns_keep(struct ifl_ns_child *child, int fd)
{
    if (fd >= 0)
        child->open_fds[child->n_open++] = fd;
    return fd;
}

static void ifl_ns_close_all(struct ifl_ns_child *child)
{
    int saved = errno;
    for (int i = 0; i < child->n_open; i++)
        close(child->open_fds[i]);
    child->n_open = 0;
    for (int i = 0; i < 4; i++) {
        if (child->result->ns_fds[i] >= 0)
            close(child->result->ns_fds[i]);
        child->result->ns_fds[i] = -1;
    }
    errno = saved;
}

static void __attribute__((noreturn)) ifl_ns_fail(struct ifl_ns_child *child, int stage, int index)
{
    child->result->error = errno;
    child->result->index = index;
    ifl_ns_close_all(child);
    child->result->stage = stage;
    _exit(1);
}

/* --- small string helpers (no libc allocation) ------------------------------------------ */

static void ifl_ns_fd_path(char *out, int fd)
{
    char digits[16];
    int n = 0;
    static const char prefix[] = "/proc/self/fd/";

    do {
        digits[n++] = (char)('0' + fd % 10);
        fd /= 10;
    } while (fd > 0);
    memcpy(out, prefix, sizeof prefix - 1);
    for (int i = 0; i < n; i++)
        out[sizeof prefix - 1 + i] = digits[n - 1 - i];
    out[sizeof prefix - 1 + n] = '\0';
}

static void ifl_ns_u64(char *out, uint64_t value)
{
    char digits[24];
    int n = 0;

    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0);
    for (int i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    out[n] = '\0';
}

/* 1 if path is dir or below it. */
static int ifl_ns_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return 1;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int ifl_ns_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p of path (every missing component, mode 0711); 0 or -1 with errno. */
static int ifl_ns_mkdirs(const char *path)
{
    char buffer[IFL_NS_PATH];
    size_t n = strlen(path);

    if (n + 1 > sizeof buffer) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buffer, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buffer[i] != '/' && buffer[i] != '\0')
            continue;
        char saved = buffer[i];
        buffer[i] = '\0';
        if (mkdir(buffer, 0711) < 0 && errno != EEXIST)
            return -1;
        buffer[i] = saved;
    }
    return 0;
}

/* --- /proc/self/mountinfo ------------------------------------------------------------------ */

/* Read the whole file into child->mountinfo (NUL-terminated); its length, or -1. */
static ssize_t ifl_ns_read_mountinfo(struct ifl_ns_child *child)
{
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    size_t used = 0;

    if (fd < 0)
        return -1;
    for (;;) {
        if (used + 1 >= IFL_NS_MOUNTINFO) {
            close(fd);
            errno = EFBIG;
            return -1;
        }
        ssize_t got = read(fd, child->mountinfo + used, IFL_NS_MOUNTINFO - 1 - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            close(fd);
            return -1;
        }
        if (got == 0)
            break;
        used += (size_t)got;
    }
    close(fd);
    child->mountinfo[used] = '\0';
    return (ssize_t)used;
}

/* Copy field number `wanted` (0-based, space separated) of `line`, decoding the \ooo
 * escapes of mountinfo, into out.  Returns 0, or -1 if the line is too short. */
static int ifl_ns_field(const char *line, int wanted, char *out)
{
    int field = 0;
    const char *p = line;

    while (field < wanted) {
        while (*p && *p != ' ' && *p != '\n')
            p++;
        if (*p != ' ')
            return -1;
        p++;
        field++;
    }
    size_t n = 0;
    while (*p && *p != ' ' && *p != '\n' && n + 1 < IFL_NS_PATH) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7'
            && p[3] >= '0' && p[3] <= '7') {
            out[n++] = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
            p += 4;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return 0;
}

static const char *ifl_ns_next_line(const char *line)
{
    const char *end = strchr(line, '\n');
    return end ? end + 1 : NULL;
}

/* --- the steps ----------------------------------------------------------------------------- */

static int ifl_ns_hidden(const struct ifl_ns_args *args, const char *point)
{
    static const char *const devices[] = { "/dev/shm", "/dev/mqueue" };

    /* the container's own tree (and every mount on the way to it) stays */
    if (ifl_ns_below(point, args->container) || ifl_ns_below(args->container, point))
        return 0;
    if (ifl_ns_below(point, args->root))
        return 1;
    for (int i = 0; i < args->n_private; i++)
        if (ifl_ns_below(point, args->private_targets[i]))
            return 1;
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++)
        if (ifl_ns_below(point, devices[i]))
            return 1;
    return 0;
}

static void ifl_ns_detach_hidden(struct ifl_ns_child *child)
{
    char point[IFL_NS_PATH];

    if (ifl_ns_read_mountinfo(child) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_MOUNTINFO, 0);
    for (const char *line = child->mountinfo; line && *line; line = ifl_ns_next_line(line)) {
        if (ifl_ns_field(line, 4, point) < 0 || !ifl_ns_hidden(child->args, point))
            continue;
        /* EINVAL/ENOENT: already gone with a parent detached before it */
        if (umount2(point, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            ifl_ns_fail(child, IFL_NS_STAGE_DETACH, 0);
    }
}

/* The MS_* flags a read-only bind remount must repeat to keep them (mountinfo field 5). */
static unsigned long ifl_ns_kept_flags(const char *options)
{
    static const struct { const char *name; unsigned long flag; } known[] = {
        { "nosuid", MS_NOSUID }, { "nodev", MS_NODEV }, { "noexec", MS_NOEXEC },
        { "noatime", MS_NOATIME }, { "nodiratime", MS_NODIRATIME },
        { "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
    };
    unsigned long flags = 0;
    const char *p = options;

    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strlen(known[i].name) == n && strncmp(p, known[i].name, n) == 0)
                flags |= known[i].flag;
        if (!end)
            break;
        p = end + 1;
    }
    return flags;
}

static void ifl_ns_readonly_each(struct ifl_ns_child *child)
{
    char point[IFL_NS_PATH], options[IFL_NS_PATH];

    if (ifl_ns_read_mountinfo(child) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_MOUNTINFO, 0);
    for (const char *line = child->mountinfo; line && *line; line = ifl_ns_next_line(line)) {
        if (ifl_ns_field(line, 4, point) < 0 || ifl_ns_field(line, 5, options) < 0)
            continue;
        unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | ifl_ns_kept_flags(options);
        /* ENOENT: a mount point that was deleted on the host cannot be reached anyway */
        if (mount(NULL, point, NULL, flags, NULL) < 0 && errno != ENOENT)
            ifl_ns_fail(child, IFL_NS_STAGE_READONLY, 0);
    }
}

static int ifl_ns_setattr(const char *path, unsigned int at_flags, uint64_t set, uint64_t clear)
{
#ifdef SYS_mount_setattr
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = set;
    attr.attr_clr = clear;
    return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, at_flags, &attr, sizeof attr);
#else
    (void)path; (void)at_flags; (void)set; (void)clear;
    errno = ENOSYS;
    return -1;
#endif
}

/* Make the mount at path read-write, nosuid, nodev (it was bound from a read-only copy). */
static int ifl_ns_writable(const char *path, int use_setattr, int recursive)
{
    if (use_setattr)
        return ifl_ns_setattr(path, recursive ? AT_RECURSIVE : 0,
                              MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, MOUNT_ATTR_RDONLY);
    return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL);
}

static void ifl_ns_loopback_up(struct ifl_ns_child *child)
{
    struct ifreq request;
    int sock = ifl_ns_keep(child, socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));

    if (sock < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_LOOPBACK, 0);
    memset(&request, 0, sizeof request);
    memcpy(request.ifr_name, "lo", 3);
    if (ioctl(sock, SIOCGIFFLAGS, &request) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_LOOPBACK, 0);
    request.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &request) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_LOOPBACK, 0);
    child->n_open--;               /* the last one kept */
    close(sock);
}

static const char *const ifl_ns_types[4] = { "mnt", "ipc", "uts", "net" };

static int ifl_ns_child_main(void *opaque)
{
    struct ifl_ns_child *child = opaque;
    const struct ifl_ns_args *args = child->args;
    int use_setattr = !(args->flags & IFL_NS_NO_SETATTR);
    int container_fd, source_fds[IFL_NS_MAX_PRIVATE];
    char fd_path[64], data[128], size_text[24];
    int ns = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;

    if (args->flags & IFL_NS_NET)
        ns |= CLONE_NEWNET;
    if (unshare(ns) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_UNSHARE, 0);
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_PROPAGATION, 0);
    ifl_ns_detach_hidden(child);

    container_fd = ifl_ns_keep(child, open(args->container, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (container_fd < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_OPEN, -1);
    for (int i = 0; i < args->n_private; i++) {
        source_fds[i] = ifl_ns_keep(child, open(args->private_sources[i],
                                                O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (source_fds[i] < 0)
            ifl_ns_fail(child, IFL_NS_STAGE_OPEN, i);
    }

    if (use_setattr && ifl_ns_setattr("/", AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0) < 0) {
        if (errno != ENOSYS)
            ifl_ns_fail(child, IFL_NS_STAGE_READONLY, 0);
        use_setattr = 0;
    }
    if (!use_setattr)
        ifl_ns_readonly_each(child);

    for (int i = 0; i < args->n_private; i++) {
        const char *target = args->private_targets[i];
        if (!ifl_ns_is_dir(target))
            continue;                      /* nothing to cover on this host */
        ifl_ns_fd_path(fd_path, source_fds[i]);
        if (mount(fd_path, target, NULL, MS_BIND, NULL) < 0
            || ifl_ns_writable(target, use_setattr, 0) < 0)
            ifl_ns_fail(child, IFL_NS_STAGE_BIND, i);
    }

    if (ifl_ns_is_dir("/dev/shm")) {
        memcpy(data, "mode=1777", 10);
        if (args->shm_size > 0) {
            ifl_ns_u64(size_text, args->shm_size);
            memcpy(data + 9, ",size=", 7);
            memcpy(data + 15, size_text, strlen(size_text) + 1);
        }
        if (mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, data) < 0)
            ifl_ns_fail(child, IFL_NS_STAGE_SHM, 0);
    }
    if (ifl_ns_is_dir("/dev/mqueue")
        && mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_MQUEUE, 0);

    if (!ifl_ns_below(args->container, args->root) || strcmp(args->container, args->root) == 0) {
        errno = EINVAL;
        ifl_ns_fail(child, IFL_NS_STAGE_COVER, 0);
    }
    if (ifl_ns_mkdirs(args->root) < 0
        || mount("ironframe-root", args->root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "mode=0711,size=64k,nr_inodes=64") < 0
        || ifl_ns_mkdirs(args->container) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_COVER, 0);
    ifl_ns_fd_path(fd_path, container_fd);
    if (mount(fd_path, args->container, NULL, MS_BIND | MS_REC, NULL) < 0
        || ifl_ns_writable(args->container, use_setattr, 1) < 0
        || mount(NULL, args->root, NULL,
                 MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_COVER, 0);

    if (sethostname(args->hostname, strlen(args->hostname)) < 0)
        ifl_ns_fail(child, IFL_NS_STAGE_HOSTNAME, 0);
    if (args->flags & IFL_NS_NET)
        ifl_ns_loopback_up(child);

    for (int i = 0; i < 4; i++) {
        char path[32] = "/proc/self/ns/";
        if (i == 3 && !(args->flags & IFL_NS_NET))
            break;
        memcpy(path + 14, ifl_ns_types[i], 4);
        if ((child->result->ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            ifl_ns_fail(child, IFL_NS_STAGE_NSFD, i);
    }
    for (int i = 0; i < child->n_open; i++)   /* ours only: the ns fds are the caller's now */
        close(child->open_fds[i]);
    _exit(0);
}

int ifl_ns_create(const struct ifl_ns_args *args, struct ifl_ns_result *result)
{
    struct ifl_ns_child child;
    sigset_t all, saved;
    void *stack, *mountinfo;
    pid_t pid;
    int clone_errno, status;

    memset(result, 0, sizeof *result);
    for (int i = 0; i < 4; i++)
        result->ns_fds[i] = -1;
    if (args->n_private < 0 || args->n_private > IFL_NS_MAX_PRIVATE) {
        result->stage = IFL_NS_STAGE_CLONE;
        result->error = EINVAL;
        return -1;
    }
    stack = mmap(NULL, IFL_NS_STACK, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    mountinfo = mmap(NULL, IFL_NS_MOUNTINFO, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED || mountinfo == MAP_FAILED) {
        result->stage = IFL_NS_STAGE_CLONE;
        result->error = errno;
        pid = -1;
        goto out;
    }
    memset(&child, 0, sizeof child);
    child.args = args;
    child.result = result;
    child.mountinfo = mountinfo;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid = clone(ifl_ns_child_main, (char *)stack + IFL_NS_STACK,
                CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &child);
    clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (pid < 0) {
        result->stage = IFL_NS_STAGE_CLONE;
        result->error = clone_errno;
        goto out;
    }
    /* CLONE_VFORK: the child has exited by now; reap it */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (*(volatile int *)&result->stage == IFL_NS_STAGE_NONE
        && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        for (int i = 0; i < 4; i++)        /* killed before it could say: nothing is ours */
            if (result->ns_fds[i] >= 0)
                close(result->ns_fds[i]);
        result->stage = IFL_NS_STAGE_CLONE;
        result->error = ECHILD;
    }
out:
    if (stack != MAP_FAILED)
        munmap(stack, IFL_NS_STACK);
    if (mountinfo != MAP_FAILED)
        munmap(mountinfo, IFL_NS_MOUNTINFO);
    return result->stage == IFL_NS_STAGE_NONE ? 0 : -1;
}
