/* The /proc scan in _csrc/procscan.c (ours, not libc). */
int ifl_pids_of_uid(uint32_t uid, int32_t *pids, int32_t max);
