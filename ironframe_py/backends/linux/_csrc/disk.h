/* Real headers for _cdefs/disk.h. */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <linux/loop.h>
#include <sys/quota.h>
#include <linux/fs.h>
