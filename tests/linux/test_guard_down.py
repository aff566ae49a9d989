"""A guard thread that dies is reported, logged and restartable; kernel limits hold meanwhile."""

from __future__ import annotations

import logging
import signal
import subprocess

from _support import wait_until

from ironframe_py import PIPE, ContainerSpec, Limits

ALLOCATE = "chunks = [bytearray(1 << 20) for _ in range(200)]\nprint('allocated')"


def test_a_dead_guard_is_reported_logged_and_restartable(service, caplog):
    caplog.set_level(logging.DEBUG, logger="ironframe_py")
    with service.create(ContainerSpec(handle="unguarded", limits=Limits(memory="32M"))) as box:
        assert box.info().guard == "running" and service.guard_status == "running"
        guard = service._guard.guard

        def broken():
            raise RuntimeError("injected guard failure")

        guard._apply = broken
        with guard._lock:
            guard._generation += 1  # the loop re-applies its targets: and dies
        guard.lib.ifg_wake(guard._core)
        assert wait_until(lambda: not guard.running, 10)
        assert box.info().guard == "down" and service.guard_status == "down"
        messages = [(r.levelno, r.getMessage()) for r in caplog.records]
        assert any(level == logging.CRITICAL and "guard thread died" in text for level, text in messages)
        assert any(level == logging.ERROR and "is down" in text for level, text in messages)

        proc = box.run(["/usr/bin/python3", "-S", "-c", ALLOCATE], stdout=PIPE, text=True)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL and "allocated" not in out  # the kernel's limit

        service.restart_guard()
        assert box.info().guard == "running"
        outsider = subprocess.Popen(["/usr/bin/python3", "-S", "-c",
                                     f"import os, time\nos.setresuid({box.uid}, {box.uid}, {box.uid})\n"
                                     "time.sleep(300)"])
        try:
            assert outsider.wait(30) == -signal.SIGKILL  # the new guard kills escapees again
        finally:
            outsider.kill()
            outsider.wait()
