/* Real headers for the cdefs in ../_cdefs that libc_prelude.h and disk.h do not cover. */
#include <stdint.h>
#include <sys/types.h>
#include "procscan.h"
