/* Real headers for the cdefs in ../_cdefs (checked by the compiler in API mode). */
#include <stdint.h>
#include <sys/types.h>
#include <sys/acl.h>
#include <acl/libacl.h>
#include "spawn.h"
#include "procscan.h"
