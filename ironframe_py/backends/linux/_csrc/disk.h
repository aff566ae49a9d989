/* Real headers for ../_cdefs/disk.h (mount, loop devices, quotactl, fsxattr). */
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/quota.h>
#include <linux/fs.h>
#include <linux/loop.h>

/* QCMD is a macro in <sys/quota.h>; cffi can only call functions. */
static int ifd_qcmd(int cmd, int type) { return QCMD(cmd, type); }
