"""Windows backend (private, not for direct use): Job Objects, local users, ACLs, NTFS quotas."""
