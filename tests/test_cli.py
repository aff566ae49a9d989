"""The ``ironframe`` command end to end, as root (a real process per call)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from _support import need_root
from linux_fixtures import cgroup_dirs_named, make_root, mounts_under

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def root():
    need_root()
    path = make_root()
    yield path
    subprocess.run(_cmd(path, "recover"), capture_output=True, timeout=120)
    if not mounts_under(path):
        shutil.rmtree(path)


def _cmd(root: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "ironframe_py", "--root", root, *args]


def cli(root: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(root, *args), capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def test_run_streams_output_and_passes_the_exit_code(root):
    result = cli(root, "run", "--memory", "64M", "--processes", "16", "--env", "GREETING=hi", "--",
                 "/bin/sh", "-c", 'echo "$GREETING from $(id -u)"; echo oops >&2; exit 7')
    assert result.returncode == 7, result.stderr
    greeting, uid = result.stdout.split(" from ")
    assert greeting == "hi" and int(uid) >= 1000
    assert result.stderr.strip() == "oops"
    assert cli(root, "list").stdout.strip() == ""


def test_run_killed_by_memory_limit_says_so_and_exits_137(root):
    result = cli(root, "run", "--memory", "64M", "--", "/usr/bin/python3", "-S", "-c",
                 "x = [bytearray(1 << 20) for _ in range(300)]")
    assert result.returncode == 137
    lines = [line for line in result.stderr.splitlines() if "killed" in line]
    assert len(lines) == 1 and "memory limit 64M exceeded (peak" in lines[0], result.stderr


def test_run_missing_executable_creates_nothing(root):
    result = cli(root, "run", "--", "/no/such/thing")
    assert result.returncode == 2 and "argv[0]" in result.stderr
    containers = os.path.join(root, "containers")
    assert not os.path.exists(containers) or os.listdir(containers) == []


def test_bad_size_is_a_clear_error(root):
    result = cli(root, "run", "--memory", "lots", "--", "/bin/true")
    assert result.returncode == 2 and "--memory" in result.stderr


def test_create_exec_info_destroy(root):
    created = cli(root, "create", "--handle", "clibox", "--memory", "32M", "--disk", "8M",
                  "--property", "team=ops")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "clibox" and cgroup_dirs_named("clibox")
    executed = cli(root, "exec", "clibox", "--", "/bin/sh", "-c", "echo data > f; cat f; exit 4")
    assert (executed.returncode, executed.stdout.strip()) == (4, "data")
    info = json.loads(cli(root, "info", "clibox", "--json").stdout)
    assert info["handle"] == "clibox" and info["limits"]["memory"] == 32 << 20
    assert info["properties"] == {"team": "ops"} and info["disk_method"] == "loopfs"
    table = cli(root, "info", "clibox").stdout
    assert "memory" in table and "limit 32M" in table and "team" in table
    assert json.loads(cli(root, "list", "--json").stdout) == ["clibox"]
    destroyed = cli(root, "destroy", "clibox")
    assert destroyed.returncode == 0 and cgroup_dirs_named("clibox") == []
    assert cli(root, "info", "clibox").returncode == 1


def test_recover_removes_containers_of_exited_commands(root):
    cli(root, "create", "--handle", "orphan")
    result = cli(root, "recover")
    assert result.returncode == 0 and result.stdout.split() == ["removed", "orphan"]
    assert cgroup_dirs_named("orphan") == [] and not os.path.exists(
        os.path.join(root, "containers", "orphan"))
