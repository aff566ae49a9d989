"""Fixtures of the Linux end-to-end tests: a throwaway service root and a service on it.

Both need root (they fail, not skip, under IRONFRAME_REQUIRE_PRIVILEGED=1) and
check on the OS that nothing is left when the test ends.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from _support import need_root
from linux_support import loops_backed_under, make_root, mounts_under

from ironframe_py import ContainerService


@pytest.fixture
def root() -> Iterator[str]:
    """A fresh service root; afterwards every container on it is destroyed, the
    root recovered, and the test fails if a mount or loop device outlived that."""
    need_root()
    path = make_root()
    yield path
    with ContainerService(path, guard_interval=None) as cleaner:
        for handle in cleaner.list():
            cleaner.destroy(handle)
        cleaner.recover()
    leftovers = mounts_under(path) + loops_backed_under(path)
    if not leftovers:
        shutil.rmtree(path)
    assert leftovers == [], "the service left mounts or loop devices behind"


@pytest.fixture
def service(root: str) -> Iterator[ContainerService]:
    """A guarded ContainerService (10 ms sweeps) on :func:`root`; its containers are
    destroyed and the service closed afterwards."""
    svc = ContainerService(root, guard_interval=0.01)
    yield svc
    try:
        for handle in svc.list():
            svc.destroy(handle)
    finally:
        svc.close()
