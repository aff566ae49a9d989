/* ironframe_py Linux: /proc scan by uid.  Whom a process runs as is the guard
 * core's definition (ironframe_py/_guard/proc_ids.h): any of its four uids. */
#define _GNU_SOURCE
#include "procscan.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#include "proc_ids.h"

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
        struct ifg_proc_ids ids;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        if (ifg_read_proc_ids(proc_fd, entry->d_name, &ids) == 0 && !ifg_proc_is_dead(&ids) &&
            ifg_proc_belongs_to(&ids, uid)) {
            if (found < max)
                pids[found] = (int32_t)pid;
            found++;
        }
    }
    closedir(proc);
    return found;
}
