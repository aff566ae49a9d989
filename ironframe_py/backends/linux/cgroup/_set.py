"""The runtime view of one container's cgroups, delegating to the host's driver."""

from __future__ import annotations

import os
import time

from ....errors import ProcessesSurvived
from ....spec import Limits
from ._files import all_pids, signal_all
from ._model import CgroupStats, Dirs, Driver, WatchFiles


class CgroupSet:
    """One container's cgroup directories (one per hierarchy) and the driver
    (:mod:`.v1` or :mod:`.v2`) that knows their files.  Made by
    :meth:`CgroupLayout.open <.CgroupLayout.open>`."""

    def __init__(self, driver: Driver, dirs: Dirs) -> None:
        self.driver = driver
        self._dirs = dirs

    def __repr__(self) -> str:
        return f"<CgroupSet v{self.driver.VERSION} {list(self._dirs.paths)}>"

    @property
    def dirs(self) -> list[str]:
        """Every directory of the container, one per hierarchy."""
        return list(self._dirs.paths)

    def procs_paths(self) -> list[str]:
        """The ``cgroup.procs`` files a new process must join, one per hierarchy."""
        return [os.path.join(path, "cgroup.procs") for path in self._dirs.paths]

    def pids(self) -> list[int]:
        """Every process in any of the directories."""
        return all_pids(self._dirs.paths)

    def set_limits(self, limits: Limits) -> None:
        """Change the non-``None`` limits in every directory that carries them."""
        for path in self._dirs.paths:
            self.driver.apply_limits(path, self._dirs.controllers_of(path), limits)

    def stats(self) -> CgroupStats:
        """Memory, CPU and process figures."""
        return self.driver.stats(self._dirs)

    def watch_files(self) -> WatchFiles:
        """The control files the guard opens for this container."""
        return self.driver.watch_files(self._dirs)

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to every process (they may exit meanwhile: not an error)."""
        signal_all(self._dirs.paths, sig)

    def kill_all(self, timeout: float) -> None:
        """Kill every process, also double-forked and setsid'd ones, and wait until none is left.

        Each round is the driver's: ``cgroup.kill`` where the kernel has it
        (atomic, no race with forks); else on v1 freeze, SIGKILL everything,
        thaw; else SIGKILL each process.
        """
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return
            if time.monotonic() > deadline:
                raise ProcessesSurvived(f"cgroups {self.dirs}", pids, timeout)
            self.driver.kill(self._dirs)
            time.sleep(0.002)
