"""The guard's C core (private, not for direct use): see :mod:`ironframe_py.guard`."""
