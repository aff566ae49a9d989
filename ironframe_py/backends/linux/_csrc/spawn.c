/* ironframe_py Linux spawn helper (see spawn.h).
 *
 * clone(CLONE_VM | CLONE_VFORK) on a private stack, with every signal
 * blocked around it: the parent is suspended until the child has exec'd or
 * died, so the child may report a failure through shared memory.  Because
 * the child shares the parent's memory, it uses raw syscalls for the
 * credential changes: glibc's setresuid() & co. would broadcast the change
 * to every thread of the *parent* (the setxid protocol), which is why
 * CPython's subprocess refuses vfork when user/group are given.
 */
#define _GNU_SOURCE
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define IFL_CHILD_STACK (256 * 1024)

struct ifl_child {
    const struct ifl_spawn_args *args;
    struct ifl_spawn_result *result;
};

static void ifl_fail(struct ifl_child *child, int stage)
{
    child->result->stage = stage;
    child->result->error = errno;
    _exit(127);
}

/* Close every descriptor from `lowest` up.  close_range(2) exists since
 * Linux 5.9; before that (ENOSYS) close one by one up to the soft
 * RLIMIT_NOFILE, which bounds every descriptor the process can hold.
 * Returns 0, or -1 with errno set. */
static int ifl_close_from(int lowest)
{
    struct rlimit limit;
    long highest = 65536;

#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned int)lowest, ~0U, 0U) == 0)
        return 0;
    if (errno != ENOSYS)
        return -1;
#endif
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        highest = (long)limit.rlim_cur;
    for (long fd = lowest; fd < highest; fd++)
        close((int)fd);
    return 0;
}

static int ifl_child_main(void *opaque)
{
    struct ifl_child *child = opaque;
    const struct ifl_spawn_args *args = child->args;
    struct sigaction dfl;
    sigset_t empty;
    int moved[3];

    /* Default dispositions (the host may ignore SIGPIPE); handlers are not
     * shared because CLONE_SIGHAND is not set.  Internal glibc signals fail
     * with EINVAL, which is harmless. */
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);

    /* Join the container's cgroups first: nothing of the user runs outside. */
    for (int i = 0; i < args->n_cgroup_fds; i++) {
        child->result->index = i;
        if (write(args->cgroup_fds[i], "0", 1) != 1)
            ifl_fail(child, IFL_STAGE_CGROUP);
    }

    /* Then the container's namespaces, while still root (setns needs CAP_SYS_ADMIN);
     * joining the mount namespace also moves root and cwd to its root. */
    for (int i = 0; i < args->n_ns_fds; i++) {
        child->result->index = i;
        if (setns(args->ns_fds[i], 0) < 0)
            ifl_fail(child, IFL_STAGE_SETNS);
    }

    if (setsid() < 0)
        ifl_fail(child, IFL_STAGE_SETSID);
    if (syscall(SYS_setgroups, 0, NULL) < 0)
        ifl_fail(child, IFL_STAGE_SETGROUPS);
    if (syscall(SYS_setresgid, args->gid, args->gid, args->gid) < 0)
        ifl_fail(child, IFL_STAGE_SETGID);
    if (syscall(SYS_setresuid, args->uid, args->uid, args->uid) < 0)
        ifl_fail(child, IFL_STAGE_SETUID);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        ifl_fail(child, IFL_STAGE_NNP);
    umask(022);
    if (chdir(args->cwd) < 0)              /* as the container user: its rights apply */
        ifl_fail(child, IFL_STAGE_CHDIR);

    /* Move the stdio sources above 2 first, so that sources which are
     * themselves 0..2 cannot be overwritten before they are copied. */
    for (int i = 0; i < 3; i++)
        if ((moved[i] = fcntl(args->stdio[i], F_DUPFD_CLOEXEC, 3)) < 0)
            ifl_fail(child, IFL_STAGE_DUP);
    for (int i = 0; i < 3; i++)
        if (dup2(moved[i], i) < 0)
            ifl_fail(child, IFL_STAGE_DUP);
    /* A terminal of its own (the pty `ironframe run` makes) becomes the session's
     * controlling terminal, so ^C and job control work inside.  Someone else's
     * controlling terminal is refused by the kernel (EPERM without privileges,
     * which the child no longer has): that failure is the point, not an error. */
    if (isatty(0))
        (void)ioctl(0, TIOCSCTTY, 0);
    if (ifl_close_from(3) < 0)
        ifl_fail(child, IFL_STAGE_CLOSE);

    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    execve(args->path, args->argv, args->envp);
    ifl_fail(child, IFL_STAGE_EXEC);
    return 127;
}

int ifl_spawn(const struct ifl_spawn_args *args, struct ifl_spawn_result *result)
{
    struct ifl_child child = { args, result };
    sigset_t all, saved;
    void *stack;
    pid_t pid;
    int clone_errno;

    result->stage = IFL_STAGE_NONE;
    result->error = 0;
    result->index = 0;
    stack = mmap(NULL, IFL_CHILD_STACK, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        result->stage = IFL_STAGE_CLONE;
        result->error = errno;
        return -1;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid = clone(ifl_child_main, (char *)stack + IFL_CHILD_STACK,
                CLONE_VM | CLONE_VFORK | SIGCHLD, &child);
    clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    munmap(stack, IFL_CHILD_STACK);

    if (pid < 0) {
        result->stage = IFL_STAGE_CLONE;
        result->error = clone_errno;
        return -1;
    }
    /* volatile: the child wrote it through the shared address space. */
    if (*(volatile int *)&result->stage != IFL_STAGE_NONE) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        return -1;
    }
    return pid;
}
