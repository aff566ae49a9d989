/* ironframe_py guard core: the parts common to every OS. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "guard_core.h"
#include "guard_internal.h"

int ifg_abi_version(void)
{
    return IFG_ABI_VERSION;
}

int ifg_debug_enabled(void)
{
    static int enabled = -1;
    if (enabled < 0) {
        const char *value = getenv("IRONFRAME_DEBUG");
        enabled = value != NULL && value[0] == '1';
    }
    return enabled;
}

void ifg_trace(const char *file, int line, const char *format, ...)
{
    va_list args;
    fprintf(stderr, "ifg %s:%d: ", file, line);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
}

int ifg_push(struct ifg_event *events, int32_t max_events, int32_t *count,
             int64_t key, int32_t kind, int32_t pid, int64_t value, int64_t limit)
{
    return ifg_push_detail(events, max_events, count, key, kind, pid, value, limit, 0);
}

int ifg_push_detail(struct ifg_event *events, int32_t max_events, int32_t *count,
                    int64_t key, int32_t kind, int32_t pid, int64_t value, int64_t limit,
                    int32_t detail)
{
    if (*count >= max_events)
        return 0;  /* the caller sees a full buffer; the breach is acted on regardless */
    events[*count].key = key;
    events[*count].kind = kind;
    events[*count].pid = pid;
    events[*count].value = value;
    events[*count].limit = limit;
    events[*count].detail = detail;
    events[*count].reserved = 0;
    (*count)++;
    return 1;
}

void ifg_judge_usage(ifg_target *target, int64_t usage,
                     struct ifg_event *events, int32_t max_events, int32_t *count)
{
    if (usage < 0) {
        IFG_TRACE("target %lld: usage unreadable (%lld)", (long long)target->key, (long long)usage);
        ifg_push(events, max_events, count, target->key, IFG_EVENT_ERROR, 0, -usage, 0);
        return;  /* being destroyed under us: Python unwatches it */
    }
    target->usage = usage;
    if (usage > target->peak)
        target->peak = usage;
    if (target->memory_limit >= 0 && usage >= ifg_breach_level(target)) {
        IFG_TRACE("target %lld: usage %lld, limit %lld: a breach", (long long)target->key,
                  (long long)usage, (long long)target->memory_limit);
        if (target->armed)
            ifg_kill_target(target);
        ifg_push(events, max_events, count, target->key, IFG_EVENT_MEMORY, 0, usage,
                 target->memory_limit);
    }
}
