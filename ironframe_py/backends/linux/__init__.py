"""Linux backend (private, not for direct use): cgroups, uids, POSIX ACLs, disk limits."""
