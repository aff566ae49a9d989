/* Disk limits: mount(2), loop devices, project quotas (ironframe_py.backends.linux.disk_api).
 * API mode: every `...` value comes from the real headers listed in ../_csrc/disk.h. */

/* --- mount(2) / umount2(2) ---------------------------------------------------------------
 * https://man7.org/linux/man-pages/man2/mount.2.html
 * https://man7.org/linux/man-pages/man2/umount.2.html */
#define MS_NOSUID ...
#define MS_NODEV ...
#define MS_NOATIME ...
#define MNT_DETACH ...

int mount(const char *source, const char *target, const char *filesystemtype,
          unsigned long mountflags, const void *data);
int umount2(const char *target, int flags);

/* --- ioctl(2) ----------------------------------------------------------------------------
 * https://man7.org/linux/man-pages/man2/ioctl.2.html
 * Variadic: pass the third argument as cdata (a struct pointer, or ffi.cast("unsigned long", n)). */
int ioctl(int fd, unsigned long request, ...);

/* --- loop devices (<linux/loop.h>) --------------------------------------------------------
 * https://man7.org/linux/man-pages/man4/loop.4.html
 * LOOP_CONFIGURE since Linux 5.8; LOOP_SET_FD + LOOP_SET_STATUS64 before that. */
#define LOOP_CTL_GET_FREE ...
#define LOOP_CONFIGURE ...
#define LOOP_SET_FD ...
#define LOOP_SET_STATUS64 ...
#define LOOP_GET_STATUS64 ...
#define LOOP_CLR_FD ...
#define LO_FLAGS_AUTOCLEAR ...
#define LO_NAME_SIZE ...

struct loop_info64 {
    uint64_t lo_device;
    uint64_t lo_inode;
    uint64_t lo_rdevice;
    uint64_t lo_offset;
    uint64_t lo_sizelimit;
    uint32_t lo_number;
    uint32_t lo_encrypt_type;
    uint32_t lo_encrypt_key_size;
    uint32_t lo_flags;
    uint8_t lo_file_name[64];     /* LO_NAME_SIZE */
    uint8_t lo_crypt_name[64];
    uint8_t lo_encrypt_key[32];   /* LO_KEY_SIZE */
    unsigned long long lo_init[2];  /* __u64: not uint64_t to the compiler */
};

struct loop_config {
    uint32_t fd;
    uint32_t block_size;
    struct loop_info64 info;
    ...;                          /* __reserved[8] */
};

/* --- project quotas (<sys/quota.h>) -------------------------------------------------------
 * https://man7.org/linux/man-pages/man2/quotactl.2.html
 * Block limits in if_dqblk are in 1024-byte "QIF blocks"; dqb_curspace is in bytes. */
#define Q_GETINFO ...
#define Q_GETQUOTA ...
#define Q_SETQUOTA ...
#define PRJQUOTA ...
#define QIF_BLIMITS ...
#define QIF_SPACE ...
#define QIF_LIMITS ...

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

int quotactl(int cmd, const char *special, int id, char *addr);

/* QCMD(cmd, type) of <sys/quota.h> (a macro there), as a static inline helper in ../_csrc/disk.h. */
int ifd_qcmd(int cmd, int type);

/* --- project ids (<linux/fs.h>) -----------------------------------------------------------
 * https://man7.org/linux/man-pages/man2/ioctl_xfs_fsgetxattr.2.html (also ext4 since 4.5) */
#define FS_IOC_FSGETXATTR ...
#define FS_IOC_FSSETXATTR ...
#define FS_XFLAG_PROJINHERIT ...

struct fsxattr {
    uint32_t fsx_xflags;
    uint32_t fsx_extsize;
    uint32_t fsx_nextents;
    uint32_t fsx_projid;
    uint32_t fsx_cowextsize;
    ...;                          /* fsx_pad[8] */
};
