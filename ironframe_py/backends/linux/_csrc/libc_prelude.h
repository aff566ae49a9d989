/* Real headers for ../_cdefs/libc.h, ../_cdefs/libacl.h and ../_cdefs/spawn.h. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/acl.h>
#include <acl/libacl.h>
#include "spawn.h"

/* <linux/pidfd.h> has it since Linux 6.9, but that header (through
 * <linux/fcntl.h>) clashes with glibc's <fcntl.h>, and older headers lack it. */
#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1UL << 2)
#endif
