/* Mounting and loop devices.
 * https://man7.org/linux/man-pages/man2/mount.2.html
 * https://man7.org/linux/man-pages/man2/umount.2.html
 * https://man7.org/linux/man-pages/man4/loop.4.html */
#define MS_NOSUID ...
#define MS_NODEV ...
#define MS_NOATIME ...
#define MNT_DETACH ...
#define LOOP_CTL_GET_FREE ...
#define LOOP_CONFIGURE ...
#define LOOP_CLR_FD ...
#define LOOP_SET_CAPACITY ...
#define LO_FLAGS_AUTOCLEAR ...
#define LO_NAME_SIZE ...

struct loop_info64 {
    uint64_t lo_offset;
    uint64_t lo_sizelimit;
    uint32_t lo_flags;
    uint8_t lo_file_name[64];
    ...;
};

struct loop_config {
    uint32_t fd;
    uint32_t block_size;
    struct loop_info64 info;
    ...;
};

int mount(const char *source, const char *target, const char *filesystemtype,
          unsigned long mountflags, const void *data);
int umount2(const char *target, int flags);
int ioctl(int fd, unsigned long request, ...);

/* Project quotas.
 * https://man7.org/linux/man-pages/man2/quotactl.2.html
 * https://man7.org/linux/man-pages/man2/ioctl_xfs_fsgetxattr.2.html */
#define Q_GETINFO ...
#define Q_GETQUOTA ...
#define Q_SETQUOTA ...
#define PRJQUOTA ...
#define QIF_BLIMITS ...
#define QIF_SPACE ...
#define FS_IOC_FSGETXATTR ...
#define FS_IOC_FSSETXATTR ...
#define FS_XFLAG_PROJINHERIT ...

struct if_dqblk {
    uint64_t dqb_bhardlimit;
    uint64_t dqb_bsoftlimit;
    uint64_t dqb_curspace;
    uint64_t dqb_ihardlimit;
    uint64_t dqb_isoftlimit;
    uint64_t dqb_curinodes;
    uint64_t dqb_btime;
    uint64_t dqb_itime;
    uint32_t dqb_valid;
};

struct if_dqinfo {
    uint64_t dqi_bgrace;
    uint64_t dqi_igrace;
    uint32_t dqi_flags;
    uint32_t dqi_valid;
};

struct fsxattr {
    uint32_t fsx_xflags;
    uint32_t fsx_extsize;
    uint32_t fsx_nextents;
    uint32_t fsx_projid;
    uint32_t fsx_cowextsize;
    ...;
};

int quotactl(int cmd, const char *special, int id, char *addr);
