/* ironframe_py Linux: /proc scan by uid.  The Uid: line of /proc/<pid>/status
 * is read, not the owner of /proc/<pid>, because a process that made itself
 * non-dumpable shows as root-owned there. */
#define _GNU_SOURCE
#include "procscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ifl_status_matches(int proc_fd, const char *pid, uint32_t uid)
{
    char path[300], buf[2048];
    snprintf(path, sizeof path, "%s/status", pid);
    int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;  /* exited meanwhile */
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0)
        return 0;
    buf[got] = '\0';
    const char *state = strstr(buf, "\nState:\t");
    if (state != NULL && (state[8] == 'Z' || state[8] == 'X'))
        return 0;  /* dead already */
    const char *line = strstr(buf, "\nUid:\t");
    if (line == NULL)
        return 0;
    line += 6;
    for (int i = 0; i < 4; i++) {
        char *end;
        unsigned long value = strtoul(line, &end, 10);
        if (end == line)
            break;
        if (value == uid)
            return 1;
        line = end;
    }
    return 0;
}

int ifl_pids_of_uid(uint32_t uid, int32_t *pids, int32_t max)
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    int32_t found = 0;
    if (proc == NULL)
        return -errno;
    int proc_fd = dirfd(proc);
    while ((entry = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        if (ifl_status_matches(proc_fd, entry->d_name, uid)) {
            if (found < max)
                pids[found] = (int32_t)pid;
            found++;
        }
    }
    closedir(proc);
    return found;
}
