/* POSIX ACLs through libacl (https://man7.org/linux/man-pages/man5/acl.5.html).
 * API mode: types and `...` values come from <sys/acl.h> and <acl/libacl.h>
 * (included by ../_csrc/libc_prelude.h). */
typedef struct __acl_ext *acl_t;
typedef struct __acl_entry_ext *acl_entry_t;
typedef struct __acl_permset_ext *acl_permset_t;
typedef int acl_tag_t;
typedef unsigned int acl_perm_t;
typedef unsigned int acl_type_t;

#define ACL_TYPE_ACCESS ...
#define ACL_TYPE_DEFAULT ...
#define ACL_USER_OBJ ...
#define ACL_USER ...
#define ACL_GROUP_OBJ ...
#define ACL_GROUP ...
#define ACL_MASK ...
#define ACL_OTHER ...
#define ACL_READ ...
#define ACL_WRITE ...
#define ACL_EXECUTE ...
#define ACL_FIRST_ENTRY ...
#define ACL_NEXT_ENTRY ...

/* https://man7.org/linux/man-pages/man3/acl_init.3.html */
acl_t acl_init(int count);
/* https://man7.org/linux/man-pages/man3/acl_get_file.3.html */
acl_t acl_get_file(const char *path_p, acl_type_t type);
/* https://man7.org/linux/man-pages/man3/acl_set_file.3.html */
int acl_set_file(const char *path_p, acl_type_t type, acl_t acl);
/* https://man7.org/linux/man-pages/man3/acl_delete_def_file.3.html */
int acl_delete_def_file(const char *path_p);
/* https://man7.org/linux/man-pages/man3/acl_free.3.html */
int acl_free(void *obj_p);
/* https://man7.org/linux/man-pages/man3/acl_get_entry.3.html */
int acl_get_entry(acl_t acl, int entry_id, acl_entry_t *entry_p);
/* https://man7.org/linux/man-pages/man3/acl_create_entry.3.html */
int acl_create_entry(acl_t *acl_p, acl_entry_t *entry_p);
/* https://man7.org/linux/man-pages/man3/acl_get_tag_type.3.html */
int acl_get_tag_type(acl_entry_t entry_d, acl_tag_t *tag_type_p);
/* https://man7.org/linux/man-pages/man3/acl_set_tag_type.3.html */
int acl_set_tag_type(acl_entry_t entry_d, acl_tag_t tag_type);
/* https://man7.org/linux/man-pages/man3/acl_get_qualifier.3.html */
void *acl_get_qualifier(acl_entry_t entry_d);
/* https://man7.org/linux/man-pages/man3/acl_set_qualifier.3.html */
int acl_set_qualifier(acl_entry_t entry_d, const void *tag_qualifier_p);
/* https://man7.org/linux/man-pages/man3/acl_get_permset.3.html */
int acl_get_permset(acl_entry_t entry_d, acl_permset_t *permset_p);
/* https://man7.org/linux/man-pages/man3/acl_set_permset.3.html */
int acl_set_permset(acl_entry_t entry_d, acl_permset_t permset_d);
/* https://man7.org/linux/man-pages/man3/acl_add_perm.3.html */
int acl_add_perm(acl_permset_t permset_d, acl_perm_t perm);
/* https://man7.org/linux/man-pages/man3/acl_clear_perms.3.html */
int acl_clear_perms(acl_permset_t permset_d);
/* https://man7.org/linux/man-pages/man3/acl_get_perm.3.html (libacl extension) */
int acl_get_perm(acl_permset_t permset_d, acl_perm_t perm);
/* https://man7.org/linux/man-pages/man3/acl_calc_mask.3.html */
int acl_calc_mask(acl_t *acl_p);
/* https://man7.org/linux/man-pages/man3/acl_valid.3.html */
int acl_valid(acl_t acl);
