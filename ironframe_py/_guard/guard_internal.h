/* ironframe_py guard core: declarations shared by the C files (not part of the cdef). */
#ifndef IFG_GUARD_INTERNAL_H
#define IFG_GUARD_INTERNAL_H

#include "guard_core.h"

int ifg_debug_enabled(void);
void ifg_trace(const char *file, int line, const char *format, ...);
int ifg_push(struct ifg_event *events, int32_t max_events, int32_t *count,
             int64_t key, int32_t kind, int32_t pid, int64_t value, int64_t limit);
int ifg_push_detail(struct ifg_event *events, int32_t max_events, int32_t *count,
                    int64_t key, int32_t kind, int32_t pid, int64_t value, int64_t limit,
                    int32_t detail);
/* The least usage that is a breach of target's memory_limit (>= 0): each OS's own
 * rule (guard_linux.c: above the limit; guard_win.c: at it). */
int64_t ifg_breach_level(const ifg_target *target);
/* Record a usage reading (or a negative errno / Win32 error: unreadable) and, at or
 * past the breach level, kill the target if armed and report the breach. */
void ifg_judge_usage(ifg_target *target, int64_t usage,
                     struct ifg_event *events, int32_t max_events, int32_t *count);

/* IRONFRAME_DEBUG=1 prints file:line traces to stderr. */
#define IFG_TRACE(...) \
    do { if (ifg_debug_enabled()) ifg_trace(__FILE__, __LINE__, __VA_ARGS__); } while (0)

#endif
