"""The library logs under ``ironframe_py`` and prints nothing (as root, real containers)."""

from __future__ import annotations

import logging

import pytest

import ironframe_py
from ironframe_py import PIPE, ContainerSpec, Limits


def test_the_package_logger_has_a_null_handler():
    handlers = logging.getLogger("ironframe_py").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_create_steps_spawn_and_destroy_are_logged_and_nothing_is_printed(service, caplog, capfd):
    caplog.set_level(logging.DEBUG, logger="ironframe_py")
    with service.create(ContainerSpec(handle="logged", limits=Limits(memory="32M"))) as box:
        proc = box.run(["/bin/true"], stdout=PIPE)
        proc.communicate(timeout=30)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("ironframe_py")]
    assert any(m.startswith("create logged: uid") for m in messages), messages
    assert any(m.startswith("create logged: step ") and " ms" in m for m in messages), messages
    assert any(m.startswith("create logged: done in") for m in messages), messages
    assert any(m.startswith("spawn in logged: pid ") and "/bin/true" in m for m in messages)
    assert any(m.startswith("destroy logged: done in") for m in messages), messages
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_a_cleanup_problem_is_a_warning(service, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="ironframe_py")
    box = service.create(ContainerSpec(handle="sticky"))
    original = service.backend.release
    failed = []

    def release(resource):
        if not failed:
            failed.append(resource)
            raise OSError(5, "injected: could not release")
        return original(resource)

    monkeypatch.setattr(service.backend, "release", release)
    with pytest.raises(ironframe_py.CleanupError):
        box.destroy()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("destroy sticky" in r.getMessage() and "injected" in r.getMessage() for r in warnings)
    box.destroy()  # the retry releases what is left
    assert service.list() == []
