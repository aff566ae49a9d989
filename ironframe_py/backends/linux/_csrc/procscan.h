/* ironframe_py Linux: find a uid's processes by reading /proc quickly (ifl_ prefix). */
#ifndef IFL_PROCSCAN_H
#define IFL_PROCSCAN_H

#include <stdint.h>

/* Fill pids[0..max) with live (non-zombie) processes any of whose uids
 * (real, effective, saved, fs) is uid; return how many there are (which may
 * exceed max), or -errno. */
int ifl_pids_of_uid(uint32_t uid, int32_t *pids, int32_t max);

#endif
