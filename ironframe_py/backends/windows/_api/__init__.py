"""Tier-1 checked Win32 calls (private): one module per DLL, one function per call."""
