/* ironframe_py guard core, Linux: the tasks that run as a watched uid, kept
 * current by the kernel's process events (the proc connector), so that the
 * escapee sweep need not read /proc.
 *
 * A task belongs to the watched user U if any of its real, effective, saved
 * or filesystem uids is U (proc_ids.h, the definition destroy's scan uses too).
 * It enters the table when it forks from such a task (FORK) or changes its
 * uids (UID) so that one of them is U, and leaves on EXIT or a change that
 * leaves none.  A UID event carries only the real and effective uid, so the
 * task's status is read for all four.  A task counts towards the first
 * watched uid among its four (real first).  The table is
 * (re)built from one /proc scan when the watched uids change, when the
 * socket overflowed (ENOBUFS: events were lost), and every
 * IFG_RESEED_EVERY sweeps as a backstop (e.g. a setuid-U binary run outside,
 * which changes the uid at exec without a UID event).  Events that arrive
 * during a scan are replayed after it, in order, so the table ends right.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include "guard_internal.h"
#include "guard_tasks.h"
#include "proc_ids.h"

#define IFG_RESEED_EVERY 40            /* tracked sweeps between backstop rescans */
#define IFG_EVENT_BUFFER (4 << 20)     /* socket receive buffer: room for bursts of forks */
#define IFG_DRAIN_READS 256            /* reads of up to 64 KiB of events per drain */

struct ifg_task {
    int32_t tid;                       /* 0: empty slot */
    int32_t tgid;
    uint32_t uid;
};

struct ifg_tasks {
    int sock;
    int need_seed;
    uint32_t sweeps_since_seed;
    struct ifg_task *slots;            /* open addressing, linear probing */
    uint32_t capacity;                 /* a power of two */
    uint32_t used;
    uint32_t *uids;                    /* watched uids, sorted */
    int32_t *counts;                   /* tasks in the table per watched uid */
    int32_t n_uids;
};

/* --- the table ------------------------------------------------------------------------------ */

static uint32_t ifg_slot_of(const struct ifg_tasks *tasks, int32_t tid)
{
    return ((uint32_t)tid * 2654435761u) & (tasks->capacity - 1);
}

static int ifg_uid_index(const struct ifg_tasks *tasks, uint32_t uid)
{
    int32_t low = 0, high = tasks->n_uids - 1;
    while (low <= high) {
        int32_t mid = (low + high) / 2;
        if (tasks->uids[mid] == uid)
            return mid;
        if (tasks->uids[mid] < uid)
            low = mid + 1;
        else
            high = mid - 1;
    }
    return -1;
}

static struct ifg_task *ifg_find(struct ifg_tasks *tasks, int32_t tid)
{
    for (uint32_t i = ifg_slot_of(tasks, tid);; i = (i + 1) & (tasks->capacity - 1)) {
        if (tasks->slots[i].tid == tid)
            return &tasks->slots[i];
        if (tasks->slots[i].tid == 0)
            return NULL;
    }
}

static void ifg_count(struct ifg_tasks *tasks, uint32_t uid, int32_t delta)
{
    int index = ifg_uid_index(tasks, uid);
    if (index >= 0)
        tasks->counts[index] += delta;
}

static int ifg_grow(struct ifg_tasks *tasks)
{
    uint32_t old_capacity = tasks->capacity;
    struct ifg_task *old = tasks->slots;
    struct ifg_task *slots = calloc(old_capacity * 2, sizeof *slots);
    if (slots == NULL)
        return -ENOMEM;
    tasks->slots = slots;
    tasks->capacity = old_capacity * 2;
    for (uint32_t i = 0; i < old_capacity; i++) {
        if (old[i].tid == 0)
            continue;
        uint32_t j = ifg_slot_of(tasks, old[i].tid);
        while (slots[j].tid != 0)
            j = (j + 1) & (tasks->capacity - 1);
        slots[j] = old[i];
    }
    free(old);
    return 0;
}

/* Record that tid (of thread group tgid) runs as a watched uid. */
static void ifg_put(struct ifg_tasks *tasks, int32_t tid, int32_t tgid, uint32_t uid)
{
    struct ifg_task *task = ifg_find(tasks, tid);
    if (task != NULL) {
        ifg_count(tasks, task->uid, -1);
        task->tgid = tgid;
        task->uid = uid;
        ifg_count(tasks, uid, +1);
        return;
    }
    if ((tasks->used + 1) * 2 > tasks->capacity && ifg_grow(tasks) < 0) {
        tasks->need_seed = 1;  /* out of memory: fall back to a scan, and retry the table then */
        return;
    }
    uint32_t i = ifg_slot_of(tasks, tid);
    while (tasks->slots[i].tid != 0)
        i = (i + 1) & (tasks->capacity - 1);
    tasks->slots[i] = (struct ifg_task){ .tid = tid, .tgid = tgid, .uid = uid };
    tasks->used++;
    ifg_count(tasks, uid, +1);
}

/* Forget tid (backward-shift deletion keeps every probe chain unbroken). */
static void ifg_drop(struct ifg_tasks *tasks, int32_t tid)
{
    struct ifg_task *task = ifg_find(tasks, tid);
    if (task == NULL)
        return;
    ifg_count(tasks, task->uid, -1);
    uint32_t mask = tasks->capacity - 1;
    uint32_t hole = (uint32_t)(task - tasks->slots);
    for (uint32_t next = (hole + 1) & mask; tasks->slots[next].tid != 0; next = (next + 1) & mask) {
        uint32_t home = ifg_slot_of(tasks, tasks->slots[next].tid);
        /* move it into the hole unless its home lies cyclically in (hole, next] */
        int stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
        if (!stays) {
            tasks->slots[hole] = tasks->slots[next];
            hole = next;
        }
    }
    tasks->slots[hole].tid = 0;
    tasks->used--;
}

static void ifg_clear(struct ifg_tasks *tasks)
{
    memset(tasks->slots, 0, sizeof *tasks->slots * tasks->capacity);
    tasks->used = 0;
    memset(tasks->counts, 0, sizeof *tasks->counts * (size_t)(tasks->n_uids > 0 ? tasks->n_uids : 1));
}

/* --- the connector --------------------------------------------------------------------------- */

static int ifg_send_op(int sock, enum proc_cn_mcast_op op)
{
    char buffer[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof op)] __attribute__((aligned(NLMSG_ALIGNTO)));
    memset(buffer, 0, sizeof buffer);
    struct nlmsghdr *header = (struct nlmsghdr *)buffer;
    header->nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof op);
    header->nlmsg_type = NLMSG_DONE;
    struct cn_msg *message = NLMSG_DATA(header);
    message->id.idx = CN_IDX_PROC;
    message->id.val = CN_VAL_PROC;
    message->len = sizeof op;
    memcpy(message->data, &op, sizeof op);
    return send(sock, buffer, header->nlmsg_len, 0) < 0 ? -errno : 0;
}

struct ifg_tasks *ifg_tasks_open(void)
{
    const char *setting = getenv("IRONFRAME_GUARD_PROC_EVENTS");
    if (setting != NULL && setting[0] == '0')
        return NULL;
    struct ifg_tasks *tasks = calloc(1, sizeof *tasks);
    if (tasks == NULL)
        return NULL;
    tasks->capacity = 1024;
    tasks->slots = calloc(tasks->capacity, sizeof *tasks->slots);
    tasks->counts = calloc(1, sizeof *tasks->counts);
    tasks->need_seed = 1;
    tasks->sock = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    if (tasks->slots == NULL || tasks->counts == NULL || tasks->sock < 0)
        goto fail;
    /* IRONFRAME_GUARD_EVENT_BUFFER overrides the size (the tests shrink it to force
     * an overflow and the rescan that follows). */
    const char *buffer_setting = getenv("IRONFRAME_GUARD_EVENT_BUFFER");
    int size = buffer_setting != NULL ? atoi(buffer_setting) : IFG_EVENT_BUFFER;
    if (setsockopt(tasks->sock, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        IFG_TRACE("SO_RCVBUFFORCE refused (%d): default receive buffer", errno);
    struct sockaddr_nl address = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
    if (bind(tasks->sock, (struct sockaddr *)&address, sizeof address) < 0 ||
        ifg_send_op(tasks->sock, PROC_CN_MCAST_LISTEN) < 0) {
        IFG_TRACE("no process events (%d): the escapee sweep scans /proc", errno);
        goto fail;
    }
    return tasks;
fail:
    ifg_tasks_close(tasks);
    return NULL;
}

void ifg_tasks_close(struct ifg_tasks *tasks)
{
    if (tasks == NULL)
        return;
    if (tasks->sock >= 0) {
        ifg_send_op(tasks->sock, PROC_CN_MCAST_IGNORE);
        close(tasks->sock);
    }
    free(tasks->slots);
    free(tasks->uids);
    free(tasks->counts);
    free(tasks);
}

/* The first of the task's four uids that is watched (real first); 0 if none is. */
static int ifg_watched_uid(const struct ifg_tasks *tasks, const struct ifg_proc_ids *ids, uint32_t *uid)
{
    for (int i = 0; i < 4; i++)
        if (ifg_uid_index(tasks, ids->uids[i]) >= 0) {
            *uid = ids->uids[i];
            return 1;
        }
    return 0;
}

/* A task changed its uids: keep it if it now belongs to a watched user.  Its four
 * uids are read live (the event has two); gone or a zombie, it is dropped (its EXIT
 * event follows). */
static void ifg_uid_changed(struct ifg_tasks *tasks, int32_t tid, int32_t tgid)
{
    char name[64];
    struct ifg_proc_ids ids;
    uint32_t uid;
    snprintf(name, sizeof name, "/proc/%d/task/%d", tgid, tid);
    if (ifg_read_proc_ids(AT_FDCWD, name, &ids) == 0 && !ifg_proc_is_dead(&ids) &&
        ifg_watched_uid(tasks, &ids, &uid))
        ifg_put(tasks, tid, tgid, uid);
    else
        ifg_drop(tasks, tid);
}

static void ifg_apply(struct ifg_tasks *tasks, const struct proc_event *event)
{
    switch (event->what) {
    case PROC_EVENT_FORK: {
        int32_t child = event->event_data.fork.child_pid, group = event->event_data.fork.child_tgid;
        /* A thread runs as its group; a process as the task that forked it, whose
         * group leader is the event's parent (CLONE_PARENT aside: the rescan covers it). */
        int32_t source = child != group ? group : event->event_data.fork.parent_pid;
        struct ifg_task *from = ifg_find(tasks, source);
        if (from != NULL)
            ifg_put(tasks, child, group, from->uid);
        break;
    }
    case PROC_EVENT_UID:
        ifg_uid_changed(tasks, event->event_data.id.process_pid, event->event_data.id.process_tgid);
        break;
    case PROC_EVENT_EXIT:
        ifg_drop(tasks, event->event_data.exit.process_pid);
        break;
    default:
        break;
    }
}

/* Apply pending events; an overflow (lost events) asks for a rescan.  At most
 * IFG_DRAIN_READS reads per call, so that a fork storm cannot hold the guard
 * here: what is left waits for the next cycle (the table then lags, which
 * costs a closer look at some containers, never a wrong kill: every kill is
 * decided on the live process). */
static void ifg_drain(struct ifg_tasks *tasks)
{
    char buffer[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (int reads = 0; reads < IFG_DRAIN_READS; reads++) {
        ssize_t got = recv(tasks->sock, buffer, sizeof buffer, 0);
        if (got < 0) {
            if (errno == ENOBUFS) {
                IFG_TRACE("process events overflowed: rescanning /proc");
                tasks->need_seed = 1;
                continue;
            }
            if (errno != EAGAIN && errno != EINTR)
                IFG_TRACE("process events unreadable (%d)", errno);
            return;
        }
        int length = (int)got;
        for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, length);
             header = NLMSG_NEXT(header, length)) {
            if (header->nlmsg_type == NLMSG_ERROR || header->nlmsg_type == NLMSG_NOOP)
                continue;
            struct cn_msg *message = NLMSG_DATA(header);
            if (message->id.idx != CN_IDX_PROC || message->len < sizeof(struct proc_event))
                continue;
            struct proc_event event;  /* the payload sits at a 4-byte offset: copy it aligned */
            memcpy(&event, message->data, sizeof event);
            ifg_apply(tasks, &event);
        }
    }
}

/* The table from one /proc scan: every live task that belongs to a watched user
 * (its threads are listed if the process itself does). */
static void ifg_seed(struct ifg_tasks *tasks)
{
    /* What happened before the scan is in the scan: drop those events unread (bounded
     * like ifg_drain; any left are replayed after the scan -- rare, and harmless but
     * for an entry missing until the next rescan). */
    char discard[65536];
    for (int reads = 0; reads < 16 * IFG_DRAIN_READS; reads++)
        if (recv(tasks->sock, discard, sizeof discard, 0) < 0 && errno != ENOBUFS && errno != EINTR)
            break;
    tasks->need_seed = 0;
    tasks->sweeps_since_seed = 0;
    ifg_clear(tasks);
    DIR *proc = opendir("/proc");
    if (proc == NULL) {
        tasks->need_seed = 1;
        return;
    }
    int proc_fd = dirfd(proc);
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
        char *end, path[sizeof entry->d_name + 8];
        long pid = strtol(entry->d_name, &end, 10);
        struct ifg_proc_ids ids;
        uint32_t uid;
        if (*end != '\0' || pid <= 0 || ifg_read_proc_ids(proc_fd, entry->d_name, &ids) < 0 ||
            !ifg_watched_uid(tasks, &ids, &uid))
            continue;
        snprintf(path, sizeof path, "%s/task", entry->d_name);
        int task_fd = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *threads = task_fd >= 0 ? fdopendir(task_fd) : NULL;
        if (threads == NULL) {
            if (task_fd >= 0)
                close(task_fd);
            continue;  /* exited meanwhile */
        }
        struct dirent *thread;
        while ((thread = readdir(threads)) != NULL) {
            long tid = strtol(thread->d_name, &end, 10);
            /* zombies are out of every count but their (old) cgroup's: leave them out */
            if (*end == '\0' && tid > 0 && ifg_read_proc_ids(dirfd(threads), thread->d_name, &ids) == 0 &&
                !ifg_proc_is_dead(&ids) && ifg_watched_uid(tasks, &ids, &uid))
                ifg_put(tasks, (int32_t)tid, (int32_t)pid, uid);
        }
        closedir(threads);
    }
    closedir(proc);
    ifg_drain(tasks);  /* replay what happened during the scan, in order */
}

static int ifg_compare_uids(const void *a, const void *b)
{
    uint32_t left = *(const uint32_t *)a, right = *(const uint32_t *)b;
    return (left > right) - (left < right);
}

int ifg_tasks_set_uids(struct ifg_tasks *tasks, const uint32_t *uids, int32_t count)
{
    uint32_t *sorted = malloc(sizeof *sorted * (size_t)(count > 0 ? count : 1));
    int32_t *counts = calloc((size_t)(count > 0 ? count : 1), sizeof *counts);
    if (sorted == NULL || counts == NULL) {
        free(sorted);
        free(counts);
        return -ENOMEM;
    }
    memcpy(sorted, uids, sizeof *sorted * (size_t)count);
    qsort(sorted, (size_t)count, sizeof *sorted, ifg_compare_uids);
    int32_t unique = 0;
    for (int32_t i = 0; i < count; i++)
        if (unique == 0 || sorted[unique - 1] != sorted[i])
            sorted[unique++] = sorted[i];
    int same = unique == tasks->n_uids &&
               (unique == 0 || memcmp(sorted, tasks->uids, sizeof *sorted * (size_t)unique) == 0);
    if (same) {
        free(sorted);
        free(counts);
        return 0;
    }
    free(tasks->uids);
    free(tasks->counts);
    tasks->uids = sorted;
    tasks->counts = counts;
    tasks->n_uids = unique;
    ifg_clear(tasks);      /* entries of the old uids would not match the new counts */
    tasks->need_seed = 1;  /* the next sweep rebuilds the table for the new uids */
    return 0;
}

void ifg_tasks_update(struct ifg_tasks *tasks, int may_rescan)
{
    ifg_drain(tasks);
    if (tasks->need_seed && may_rescan)
        ifg_seed(tasks);
}

void ifg_tasks_swept(struct ifg_tasks *tasks)
{
    if (++tasks->sweeps_since_seed >= IFG_RESEED_EVERY)
        tasks->need_seed = 1;
}

int32_t ifg_tasks_count(const struct ifg_tasks *tasks, uint32_t uid)
{
    int index = ifg_uid_index(tasks, uid);
    return index >= 0 ? tasks->counts[index] : 0;
}

int32_t ifg_tasks_groups(const struct ifg_tasks *tasks, uint32_t uid, int32_t *tgids, int32_t max)
{
    int32_t found = 0;
    for (uint32_t i = 0; i < tasks->capacity && found < max; i++) {
        const struct ifg_task *task = &tasks->slots[i];
        if (task->tid == 0 || task->uid != uid)
            continue;
        int seen = 0;
        for (int32_t j = 0; j < found && !seen; j++)
            seen = tgids[j] == task->tgid;
        if (!seen)
            tgids[found++] = task->tgid;
    }
    return found;
}
