/* ironframe_py guard core, Linux: tasks of the watched uids, kept by process events
 * (guard_tasks.c).  Internal: not part of the cdef. */
#ifndef IFG_GUARD_TASKS_H
#define IFG_GUARD_TASKS_H

#include <stdint.h>

struct ifg_tasks;

/* Subscribe to the kernel's process events; NULL if that is impossible (no
 * CAP_NET_ADMIN, no CONFIG_PROC_EVENTS) or IRONFRAME_GUARD_PROC_EVENTS=0. */
struct ifg_tasks *ifg_tasks_open(void);
void ifg_tasks_close(struct ifg_tasks *tasks);
/* The uids whose tasks to keep; a change rescans /proc at the next update. */
int ifg_tasks_set_uids(struct ifg_tasks *tasks, const uint32_t *uids, int32_t count);
/* Apply pending events, and with may_rescan rebuild the table from /proc if it is
 * stale; call with may_rescan before reading counts. */
void ifg_tasks_update(struct ifg_tasks *tasks, int may_rescan);
/* One escapee sweep used the table (every IFG_RESEED_EVERY, rescan as a backstop). */
void ifg_tasks_swept(struct ifg_tasks *tasks);
/* Tasks (threads included) running as uid. */
int32_t ifg_tasks_count(const struct ifg_tasks *tasks, uint32_t uid);
/* Up to max distinct thread-group ids with a task running as uid; returns how many. */
int32_t ifg_tasks_groups(const struct ifg_tasks *tasks, uint32_t uid, int32_t *tgids, int32_t max);

#endif
