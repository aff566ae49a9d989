/* ironframe_py, Linux: whom a process runs as, from /proc/<pid>/status -- the one
 * definition of "a process of the container user".  Header-only (static inline),
 * compiled into both the guard core (kill decisions, the task table) and the Linux
 * backend's extension (destroy's scan, backends/linux/_csrc/procscan.c). */
#ifndef IFG_PROC_IDS_H
#define IFG_PROC_IDS_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ifg_proc_ids {
    uint32_t uids[4];   /* real, effective, saved, filesystem */
    char state;         /* R, S, D, T, Z, X, ... */
};

/* Read <dir_fd>/<name>/status (name: "1234", or "1234/task/1235" for a thread; an
 * absolute path with AT_FDCWD); 0, or -1 if it is gone or unreadable.  The Uid: line
 * is read rather than the owner of /proc/<pid>: that is the effective uid only, and
 * root for a process that made itself non-dumpable. */
static inline int ifg_read_proc_ids(int dir_fd, const char *name, struct ifg_proc_ids *ids)
{
    char path[320], buf[4096];
    if (snprintf(path, sizeof path, "%s/status", name) >= (int)sizeof path)
        return -1;
    int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;  /* exited meanwhile */
    ssize_t got = read(fd, buf, sizeof buf - 1);  /* State and Uid come early */
    close(fd);
    if (got <= 0)
        return -1;
    buf[got] = '\0';
    /* The Name line is escaped by the kernel (no raw newline), so these anchors hold. */
    const char *state = strstr(buf, "\nState:\t");
    const char *line = strstr(buf, "\nUid:\t");
    if (state == NULL || line == NULL)
        return -1;
    ids->state = state[8];
    line += 6;
    for (int i = 0; i < 4; i++) {
        char *end;
        unsigned long value = strtoul(line, &end, 10);
        if (end == line)
            return -1;
        ids->uids[i] = (uint32_t)value;
        line = end;
    }
    return 0;
}

/* Zombies (Z) and dead tasks (X) have left their cgroups but are dead already. */
static inline int ifg_proc_is_dead(const struct ifg_proc_ids *ids)
{
    return ids->state == 'Z' || ids->state == 'X';
}

/* THE definition: a process belongs to the user uid if any of its real, effective,
 * saved or filesystem uids is uid (one whose saved uid alone is uid can switch back
 * to it).  Dead or not: the caller decides what a zombie means. */
static inline int ifg_proc_belongs_to(const struct ifg_proc_ids *ids, uint32_t uid)
{
    for (int i = 0; i < 4; i++)
        if (ids->uids[i] == uid)
            return 1;
    return 0;
}

#endif
