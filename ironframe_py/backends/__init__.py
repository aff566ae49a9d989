"""Platform backends (private): the OS-specific half of ironframe_py."""
