/* ironframe_py guard core, Linux: cgroup memory, OOM events, escapees.
 *
 * Every cgroup file is an fd opened by Python and read with pread(), so a
 * sweep is a handful of syscalls per container and allocates nothing.  The
 * wait is one epoll over a wake eventfd and the containers' OOM event fds.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guard_core.h"
#include "guard_internal.h"
#include "guard_tasks.h"
#include "proc_ids.h"

#define IFG_MAX_WAIT_EVENTS 64
#define IFG_WAKE_TAG (-1)
#define IFG_ESCAPE_GRACE_DIVISOR 10  /* processes younger than 1/10 s are not judged yet */
#define IFG_OOM_POLL_EVERY 16   /* also re-read event-driven targets every N cycles, in case an event was lost */

struct ifg_guard {
    int epoll_fd;
    int wake_fd;
    uint64_t cycles;
    int32_t count;
    uint8_t *pending;           /* per target: a kernel event arrived, re-read its OOM count */
    struct ifg_tasks *tasks;    /* tasks of the watched uids from process events, or NULL */
};

/* --- small readers --------------------------------------------------------------- */

static int64_t ifg_read_int(int fd)
{
    char buf[64];
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    if (got <= 0)
        return got == 0 ? -EIO : -errno;
    buf[got] = '\0';
    if (strncmp(buf, "max", 3) == 0)
        return INT64_MAX;
    return strtoll(buf, NULL, 10);
}

/* The value of "oom_kill N" in memory.oom_control (v1) or memory.events (v2). */
static int64_t ifg_read_oom_kills(int fd)
{
    char buf[1024];
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    if (got < 0)
        return -errno;
    buf[got] = '\0';
    for (char *line = buf; line && *line; ) {
        if (strncmp(line, "oom_kill ", 9) == 0)
            return strtoll(line + 9, NULL, 10);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return 0;
}

/* The pids listed in a cgroup.procs file (read with one pread). */
struct ifg_members {
    int32_t *pids;
    int32_t count;
};

/* A v1 cgroup.procs read again through the same open file may be served from a
 * pid list the kernel cached for that file (for up to a second): a process
 * forked meanwhile would be missing, and taken for an escapee.  Each read
 * therefore opens the file anew (through /proc/self/fd), which v1 and v2 both
 * answer from the live cgroup. */
static void ifg_read_pids(int procs_fd, struct ifg_members *members)
{
    char buf[65536], path[32];
    members->pids = NULL;
    members->count = 0;
    snprintf(path, sizeof path, "/proc/self/fd/%d", procs_fd);
    int fresh = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fresh >= 0 ? read(fresh, buf, sizeof buf - 1) : pread(procs_fd, buf, sizeof buf - 1, 0);
    if (fresh >= 0)
        close(fresh);
    if (got <= 0)
        return;
    buf[got] = '\0';
    members->pids = malloc(sizeof(int32_t) * (size_t)(got / 2 + 1));
    if (members->pids == NULL)
        return;
    for (char *cursor = buf; *cursor; ) {
        char *end;
        long pid = strtol(cursor, &end, 10);
        if (end == cursor)
            break;
        members->pids[members->count++] = (int32_t)pid;
        cursor = end;
        while (*cursor == '\n')
            cursor++;
    }
}

static int ifg_is_member(const struct ifg_members *members, int32_t pid)
{
    for (int32_t i = 0; i < members->count; i++)
        if (members->pids[i] == pid)
            return 1;
    return 0;
}

static int ifg_compare_pids(const void *a, const void *b)
{
    int32_t left = *(const int32_t *)a, right = *(const int32_t *)b;
    return (left > right) - (left < right);
}

/* Every container's members in one sorted array (empty if out of memory: then
 * every process is judged the slow way). */
static void ifg_merge_members(const struct ifg_members *members, int32_t count,
                              struct ifg_members *merged)
{
    int32_t total = 0;
    for (int32_t i = 0; i < count; i++)
        total += members[i].count;
    merged->count = 0;
    merged->pids = malloc(sizeof(int32_t) * (size_t)(total > 0 ? total : 1));
    if (merged->pids == NULL)
        return;
    for (int32_t i = 0; i < count; i++) {
        if (members[i].count == 0)
            continue;
        memcpy(merged->pids + merged->count, members[i].pids, sizeof(int32_t) * (size_t)members[i].count);
        merged->count += members[i].count;
    }
    qsort(merged->pids, (size_t)merged->count, sizeof(int32_t), ifg_compare_pids);
}

static int ifg_is_contained(const struct ifg_members *merged, int32_t pid)
{
    return merged->count > 0 &&
           bsearch(&pid, merged->pids, (size_t)merged->count, sizeof(int32_t), ifg_compare_pids) != NULL;
}

/* Is pid listed in the cgroup.procs behind fd (read now)? */
static int ifg_in_procs(int fd, int32_t pid)
{
    struct ifg_members members;
    ifg_read_pids(fd, &members);
    int found = ifg_is_member(&members, pid);
    free(members.pids);
    return found;
}

/* <dir_fd>/<pid>/<name> read into buf (NUL-terminated); false if it is gone. */
static int ifg_read_proc_file(int dir_fd, const char *pid, const char *name, char *buf, size_t size)
{
    char path[sizeof(((struct dirent *)0)->d_name) + 16];
    snprintf(path, sizeof path, "%s/%s", pid, name);
    int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, buf, size - 1);
    close(fd);
    if (got <= 0)
        return 0;
    buf[got] = '\0';
    return 1;
}

/* State and start time (clock ticks after boot) from <dir_fd>/<pid>/stat; -1 if gone. */
static int ifg_read_stat(int dir_fd, const char *pid, char *state, unsigned long long *start)
{
    char buf[1024];
    if (!ifg_read_proc_file(dir_fd, pid, "stat", buf, sizeof buf))
        return -1;
    char *cursor = strrchr(buf, ')');  /* the command name may contain spaces and parentheses */
    if (cursor == NULL || cursor[1] == '\0')
        return -1;
    cursor += 2;
    *state = *cursor;
    for (int field = 3; field < 22 && cursor != NULL; field++) {  /* starttime is field 22 */
        cursor = strchr(cursor, ' ');
        if (cursor != NULL)
            cursor++;
    }
    *start = cursor != NULL ? strtoull(cursor, NULL, 10) : 0;
    return 0;
}

/* Zombies have left their cgroup but are dead already: never escapees. */
static int ifg_is_dead(char state)
{
    return state == 'Z' || state == 'X';
}

/* Too young to judge: a child is visible in /proc a moment before fork links it
 * into its parent's cgroups, so a container's newest process may be missing from
 * cgroup.procs.  A real escapee is older at the next sweep. */
static int ifg_is_young(unsigned long long start)
{
    struct timespec now;
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0)
        return 0;
    unsigned long long per_second = (unsigned long long)ticks;
    unsigned long long now_ticks = (unsigned long long)now.tv_sec * per_second +
                                   (unsigned long long)now.tv_nsec / (1000000000ULL / per_second);
    return now_ticks >= start && (now_ticks - start) * IFG_ESCAPE_GRACE_DIVISOR < per_second;
}

static int ifg_write_at(int fd, const char *text)
{
    return pwrite(fd, text, strlen(text), 0) < 0 ? -errno : 0;
}

/* --- killing ---------------------------------------------------------------------------- */

static void ifg_kill_listed(int procs_fd)
{
    struct ifg_members members;
    ifg_read_pids(procs_fd, &members);
    for (int32_t i = 0; i < members.count; i++)
        if (members.pids[i] > 0)
            kill((pid_t)members.pids[i], SIGKILL);  /* ESRCH: already gone, fine */
    free(members.pids);
}

int ifg_kill_target(ifg_target *target)
{
    if (target->kill_fd >= 0)
        return ifg_write_at(target->kill_fd, "1");  /* cgroup.kill: atomic, races no fork */
    if (target->freezer_fd >= 0) {
        /* v1: freeze so nothing forks while we kill; the kills land on thaw. */
        int rc = ifg_write_at(target->freezer_fd, "FROZEN");
        ifg_kill_listed(target->procs_fd);
        ifg_write_at(target->freezer_fd, "THAWED");
        return rc;
    }
    ifg_kill_listed(target->procs_fd);
    return 0;
}

/* --- sweeps ------------------------------------------------------------------------------- */

/* Usage above the limit is a breach (a kernel-enforced limit is never passed: there
 * the kernel's OOM kill is the breach, seen in oom_kill). */
int64_t ifg_breach_level(const ifg_target *target)
{
    return target->memory_limit < INT64_MAX ? target->memory_limit + 1 : INT64_MAX;
}

static void ifg_sweep_memory(ifg_target *target, int read_usage, int check_oom,
                             struct ifg_event *events, int32_t max_events, int32_t *count)
{
    if (read_usage && target->usage_fd >= 0)
        ifg_judge_usage(target, ifg_read_int(target->usage_fd), events, max_events, count);
    if (check_oom && target->oom_fd >= 0) {
        int64_t kills = ifg_read_oom_kills(target->oom_fd);
        if (kills > target->oom_kills) {
            IFG_TRACE("target %lld: oom_kill %lld -> %lld", (long long)target->key,
                      (long long)target->oom_kills, (long long)kills);
            target->oom_kills = kills;
            if (target->armed)
                ifg_kill_target(target);
            ifg_push(events, max_events, count, target->key, IFG_EVENT_OOM_KILL, 0, kills,
                     target->memory_limit);
        }
    }
}

/* The first target whose user the process belongs to (proc_ids.h), or NULL. */
static ifg_target *ifg_target_of(ifg_target *targets, int32_t count, const struct ifg_proc_ids *ids)
{
    for (int32_t i = 0; i < count; i++)
        if (ifg_proc_belongs_to(ids, targets[i].uid))
            return &targets[i];
    return NULL;
}

/* Kill pid if it still belongs to target's user (proc_ids.h: any of its four uids)
 * outside its cgroup.  The process is pinned by a pidfd and judged again (pid
 * reuse), against the cgroup as it is now (it may have just been spawned into
 * it); zombies are already dead. */
static void ifg_kill_escapee(int proc_fd, int32_t pid, ifg_target *target,
                             struct ifg_event *events, int32_t max_events, int32_t *n_events)
{
    char name[16], state;
    unsigned long long start;
    snprintf(name, sizeof name, "%d", pid);
    if (ifg_read_stat(proc_fd, name, &state, &start) < 0 || ifg_is_dead(state))
        return;
    if (ifg_is_young(start)) {
        IFG_TRACE("pid %d of uid %u outside its cgroup is too young to judge", pid, (unsigned)target->uid);
        return;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pidfd < 0)
        return;
    struct ifg_proc_ids ids;
    if (ifg_read_proc_ids(proc_fd, name, &ids) == 0 && !ifg_proc_is_dead(&ids) &&
        ifg_proc_belongs_to(&ids, target->uid) && !ifg_in_procs(target->procs_fd, pid)) {
        IFG_TRACE("escapee pid %d of uid %u", pid, (unsigned)target->uid);
        if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) == 0)
            ifg_push(events, max_events, n_events, target->key, IFG_EVENT_ESCAPEE, pid, 0, 0);
    }
    close(pidfd);
}

/* Kill processes that belong to a container's user (any of their four uids) but
 * are not in its cgroup: one /proc scan for all containers, reading the status of
 * every process outside them. */
static void ifg_sweep_escapees(ifg_target *targets, int32_t count,
                               struct ifg_event *events, int32_t max_events, int32_t *n_events)
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    if (proc == NULL)
        return;
    struct ifg_members *members = calloc((size_t)(count > 0 ? count : 1), sizeof *members);
    if (members == NULL) {
        closedir(proc);
        return;
    }
    for (int32_t i = 0; i < count; i++)
        ifg_read_pids(targets[i].procs_fd, &members[i]);
    struct ifg_members contained;
    ifg_merge_members(members, count, &contained);
    int proc_fd = dirfd(proc);
    while ((entry = readdir(proc)) != NULL) {
        struct ifg_proc_ids ids;
        ifg_target *target;
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        /* Inside some container: confined there, no stat needed (most processes of a
         * busy host).  Moving a process into another container's cgroup takes root. */
        if (ifg_is_contained(&contained, (int32_t)pid))
            continue;
        if (ifg_read_proc_ids(proc_fd, entry->d_name, &ids) < 0 || ifg_proc_is_dead(&ids))
            continue;  /* exited between readdir and the read, or a zombie */
        if ((target = ifg_target_of(targets, count, &ids)) == NULL)
            continue;
        ifg_kill_escapee(proc_fd, (int32_t)pid, target, events, max_events, n_events);
    }
    for (int32_t i = 0; i < count; i++)
        free(members[i].pids);
    free(members);
    free(contained.pids);
    closedir(proc);
}

/* The same sweep from the task table: a container whose pids cgroup holds at least
 * as many tasks as run as its uid host-wide has none outside, so only the others
 * (normally none) are judged process by process.  No /proc scan. */
static void ifg_sweep_escapees_tracked(struct ifg_tasks *tasks, ifg_target *targets,
                                       int32_t count, struct ifg_event *events,
                                       int32_t max_events, int32_t *n_events)
{
    int proc_fd = -1;
    ifg_tasks_update(tasks, 1);
    for (int32_t i = 0; i < count; i++) {
        ifg_target *target = &targets[i];
        int32_t running = ifg_tasks_count(tasks, target->uid);
        if (running == 0)
            continue;
        if (target->pids_fd >= 0 && ifg_read_int(target->pids_fd) >= running)
            continue;
        int32_t *groups = malloc(sizeof *groups * (size_t)running);
        if (groups == NULL)
            continue;
        int32_t n_groups = ifg_tasks_groups(tasks, target->uid, groups, running);
        struct ifg_members members;
        ifg_read_pids(target->procs_fd, &members);
        if (proc_fd < 0)
            proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (int32_t j = 0; j < n_groups && proc_fd >= 0; j++)
            if (!ifg_is_member(&members, groups[j]))
                ifg_kill_escapee(proc_fd, groups[j], target, events, max_events, n_events);
        free(members.pids);
        free(groups);
    }
    if (proc_fd >= 0)
        close(proc_fd);
    ifg_tasks_swept(tasks);
}

int ifg_sweep(ifg_target *targets, int32_t count, int32_t sweep_escapees,
              struct ifg_event *events, int32_t max_events)
{
    int32_t n_events = 0;
    for (int32_t i = 0; i < count; i++)
        ifg_sweep_memory(&targets[i], 1, 1, events, max_events, &n_events);
    if (sweep_escapees)
        ifg_sweep_escapees(targets, count, events, max_events, &n_events);
    return n_events;
}

/* --- the waiting loop ----------------------------------------------------------------------- */

struct ifg_guard *ifg_new(void)
{
    struct ifg_guard *guard = calloc(1, sizeof *guard);
    if (guard == NULL)
        return NULL;
    guard->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    guard->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    guard->tasks = ifg_tasks_open();
    if (guard->epoll_fd < 0 || guard->wake_fd < 0) {
        ifg_free(guard);
        return NULL;
    }
    struct epoll_event wake = { .events = EPOLLIN, .data.u64 = (uint64_t)(int64_t)IFG_WAKE_TAG };
    if (epoll_ctl(guard->epoll_fd, EPOLL_CTL_ADD, guard->wake_fd, &wake) < 0) {
        ifg_free(guard);
        return NULL;
    }
    return guard;
}

void ifg_free(struct ifg_guard *guard)
{
    if (guard == NULL)
        return;
    if (guard->epoll_fd >= 0)
        close(guard->epoll_fd);
    if (guard->wake_fd >= 0)
        close(guard->wake_fd);
    free(guard->pending);
    ifg_tasks_close(guard->tasks);
    free(guard);
}

int ifg_features(struct ifg_guard *guard)
{
    return guard->tasks != NULL ? IFG_FEATURE_PROC_EVENTS : 0;
}

int ifg_wake(struct ifg_guard *guard)
{
    uint64_t one = 1;
    return write(guard->wake_fd, &one, sizeof one) < 0 ? -errno : 0;
}

int ifg_set_targets(struct ifg_guard *guard, ifg_target *targets, int32_t count)
{
    /* A fresh epoll set: the old targets' fds may already be closed. */
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0)
        return -errno;
    struct epoll_event wake = { .events = EPOLLIN, .data.u64 = (uint64_t)(int64_t)IFG_WAKE_TAG };
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, guard->wake_fd, &wake) < 0) {
        int error = errno;
        close(epoll_fd);
        return -error;
    }
    for (int32_t i = 0; i < count; i++) {
        if (targets[i].event_fd >= 0 && targets[i].event_kind != IFG_WAIT_NONE) {
            struct epoll_event ev = {
                .events = targets[i].event_kind == IFG_WAIT_PRIORITY ? EPOLLPRI : EPOLLIN,
                .data.u64 = (uint64_t)i,
            };
            if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, targets[i].event_fd, &ev) < 0)
                IFG_TRACE("target %lld: cannot wait on fd %d (%d); polling it",
                          (long long)targets[i].key, targets[i].event_fd, errno);
        }
        if (targets[i].threshold_fd >= 0) {
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
            if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, targets[i].threshold_fd, &ev) < 0)
                IFG_TRACE("target %lld: cannot wait on threshold fd (%d)", (long long)targets[i].key,
                          errno);
        }
    }
    uint8_t *pending = calloc((size_t)(count > 0 ? count : 1), 1);
    uint32_t *uids = malloc(sizeof *uids * (size_t)(count > 0 ? count : 1));
    if (pending == NULL || uids == NULL) {
        free(pending);
        free(uids);
        close(epoll_fd);
        return -ENOMEM;
    }
    for (int32_t i = 0; i < count; i++)
        uids[i] = targets[i].uid;
    int tracked = guard->tasks != NULL ? ifg_tasks_set_uids(guard->tasks, uids, count) : 0;
    free(uids);
    if (tracked < 0) {
        free(pending);
        close(epoll_fd);
        return tracked;
    }
    close(guard->epoll_fd);
    free(guard->pending);
    guard->epoll_fd = epoll_fd;
    guard->pending = pending;
    guard->count = count;
    return 0;
}

int ifg_cycle(struct ifg_guard *guard, ifg_target *targets, int32_t count,
              int32_t timeout_ms, int32_t sweep_escapees,
              struct ifg_event *events, int32_t max_events)
{
    struct epoll_event ready[IFG_MAX_WAIT_EVENTS];
    int32_t n_events = 0;
    int woken = 0;

    if (count != guard->count)
        return -EINVAL;  /* ifg_set_targets was not called for this array */
    int n = epoll_wait(guard->epoll_fd, ready, IFG_MAX_WAIT_EVENTS, timeout_ms);
    if (n < 0 && errno != EINTR)
        return -errno;
    for (int i = 0; i < n; i++) {
        int64_t tag = (int64_t)ready[i].data.u64;
        if (tag == IFG_WAKE_TAG) {
            uint64_t drained;
            if (read(guard->wake_fd, &drained, sizeof drained) < 0 && errno != EAGAIN)
                IFG_TRACE("wake fd read failed: %d", errno);
            woken = 1;
        } else if (tag >= 0 && tag < count) {
            ifg_target *target = &targets[tag];
            uint64_t fired;
            if (target->threshold_fd >= 0 && read(target->threshold_fd, &fired, sizeof fired) < 0 &&
                errno != EAGAIN)
                IFG_TRACE("threshold fd read failed: %d", errno);
            if (target->event_kind == IFG_WAIT_COUNTER) {
                if (read(target->event_fd, &fired, sizeof fired) < 0 && errno != EAGAIN)
                    IFG_TRACE("event fd read failed: %d", errno);
            } else if (target->event_kind == IFG_WAIT_PRIORITY) {
                char scratch[256];
                if (pread(target->event_fd, scratch, sizeof scratch, 0) < 0)
                    IFG_TRACE("event file read failed: %d", errno);
            }
            guard->pending[tag] = 1;
        }
    }
    if (woken && n == 1)
        return 0;  /* Python has new targets for us: let it apply them before sweeping */
    guard->cycles++;
    /* Where the kernel signals OOM kills and usage thresholds, read a target
     * only when it signalled (and every IFG_OOM_POLL_EVERY cycles, in case a
     * signal was lost); otherwise poll it every cycle. */
    int poll_all = guard->cycles % IFG_OOM_POLL_EVERY == 0;
    for (int32_t i = 0; i < count; i++) {
        ifg_target *target = &targets[i];
        int due = poll_all || guard->pending[i];
        int unsignalled = target->memory_limit >= 0 && target->threshold_fd < 0;
        int read_usage = due || unsignalled;
        int check_oom = due || unsignalled || target->event_kind == IFG_WAIT_NONE;
        guard->pending[i] = 0;
        ifg_sweep_memory(target, read_usage, check_oom, events, max_events, &n_events);
    }
    if (guard->tasks != NULL) {
        if (sweep_escapees)
            ifg_sweep_escapees_tracked(guard->tasks, targets, count, events, max_events, &n_events);
        else
            ifg_tasks_update(guard->tasks, 0);  /* keep the socket drained between sweeps */
    } else if (sweep_escapees) {
        ifg_sweep_escapees(targets, count, events, max_events, &n_events);
    }
    return n_events;
}
