"""The ``ironframe`` command end to end, as root (a real process per call).

Each convention a docker/podman user expects is asserted on what the
process printed and returned, and on the OS (cgroups, directories, images).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from _support import REPO, need_root
from linux_support import cgroup_dirs_named, make_root

import ironframe_py
from ironframe_py.cli import _parser


def _cmd(root: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "ironframe_py", "--root", root, *args]


def cli(root: str | None, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    argv = _cmd(root, *args) if root is not None else [sys.executable, "-m", "ironframe_py", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single ``ironframe: ...`` line of an error, with no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ironframe: "), result.stderr
    return lines[0]


def containers_in(root: str) -> list[str]:
    folder = os.path.join(root, "containers")
    return os.listdir(folder) if os.path.isdir(folder) else []


# --- run and exec ------------------------------------------------------------------------------

def test_run_streams_output_and_passes_the_exit_code(root):
    result = cli(root, "run", "--memory", "64M", "--processes", "16", "--env", "GREETING=hi", "--",
                 "/bin/sh", "-c", 'echo "$GREETING from $(id -u)"; echo oops >&2; exit 7')
    assert result.returncode == 7, result.stderr
    greeting, uid = result.stdout.split(" from ")
    assert greeting == "hi" and int(uid) >= 1000
    assert result.stderr.strip() == "oops"
    assert containers_in(root) == []


def test_run_killed_by_memory_limit_says_so_and_exits_137(root):
    result = cli(root, "run", "--memory", "64M", "--", "/usr/bin/python3", "-S", "-c",
                 "x = [bytearray(1 << 20) for _ in range(300)]")
    assert result.returncode == 137
    lines = [line for line in result.stderr.splitlines() if "killed" in line]
    assert len(lines) == 1 and "memory limit 64M exceeded (peak" in lines[0], result.stderr


def test_signal_ended_command_exits_128_plus_the_signal(root):
    result = cli(root, "run", "--", "/bin/sh", "-c", "kill -TERM $$")
    assert result.returncode == 128 + 15, result.stderr


@pytest.mark.parametrize("argv0, status, words", [
    ("/no/such/thing", 127, "command not found"),
    ("no-such-tool-anywhere", 127, "command not found"),
    ("/etc/passwd", 126, "cannot execute"),
])
def test_a_command_that_cannot_run_exits_126_or_127_and_leaves_nothing(root, argv0, status, words):
    result = cli(root, "run", "--handle", "nocmd", "--", argv0)
    assert result.returncode == status
    line = one_error_line(result)
    assert argv0 in line and words in line
    assert containers_in(root) == [] and cgroup_dirs_named("nocmd") == []


def test_exec_missing_command_is_127_and_the_container_stays(root):
    assert cli(root, "create", "--handle", "keep").returncode == 0
    result = cli(root, "exec", "keep", "--", "/no/such")
    assert result.returncode == 127 and "command not found" in one_error_line(result)
    assert cli(root, "exec", "keep", "--", "/bin/true").returncode == 0


# --- bad input: one line, the option as typed, nothing created ---------------------------------

@pytest.mark.parametrize("args, words", [
    (["--memory", ""], "--memory: needs a value"),
    (["--memory", "lots"], "--memory 'lots': must be a size"),
    (["--memory", "1K"], "--memory '1K': must be between 1M and"),
    (["--disk", " "], "--disk: needs a value"),
    (["--processes", "0"], "--processes '0': must be between 1 and"),
    (["--processes", "12abc"], "--processes '12abc': must be a whole number"),
    (["--processes", "\uff11\uff12"], "must be a whole number"),  # full-width digits
    (["--cpu-max", "nan"], "--cpu-max 'nan': must be a number of cores"),
    (["--cpu-max", "99999"], "--cpu-max '99999': must be between"),
    (["--cpu-weight", ""], "--cpu-weight: needs a value"),
    (["--env", "NOEQUALS"], "--env 'NOEQUALS': must be NAME=VALUE"),
    (["--handle", "../x"], "--handle '../x': must not contain"),
    (["--handle", "tasks/x"], "--handle 'tasks/x'"),
    (["--no-such-option"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_naming_the_option_and_creates_nothing(root, args, words):
    result = cli(root, "run", *args, "--", "/bin/true")
    assert result.returncode == 125
    assert words in one_error_line(result)
    assert containers_in(root) == []


def test_disk_larger_than_the_filesystem_can_hold_names_disk(root):
    result = cli(root, "create", "--handle", "huge", "--disk", "100000T")
    assert result.returncode == 125
    assert one_error_line(result).startswith("ironframe: --disk '100000T': ")
    assert containers_in(root) == [] and os.listdir(os.path.join(root, "images")) == []
    assert cgroup_dirs_named("huge") == []


def test_unknown_handle_and_unknown_command(root):
    info = cli(root, "info", "nope")
    assert info.returncode == 125 and "no such container: 'nope'" in one_error_line(info)
    bogus = cli(root, "bogus")
    assert bogus.returncode == 125 and "invalid choice" in one_error_line(bogus)


def test_non_root_gets_one_line_and_nothing_is_created(tmp_path):
    need_root()
    target = tmp_path / "never-made"
    os.chmod(tmp_path, 0o755)
    for args in (["list"], ["run", "--", "/bin/true"], ["create"]):
        status, err = _as_nobody(["--root", str(target), *args])
        assert status == 125, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "must be run as root" in lines[0], err
        assert not target.exists()


def _as_nobody(argv: list[str]) -> tuple[int, str]:
    """Run ``ironframe argv`` in a forked child whose every uid and gid is nobody's."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody for real, then run the CLI in-process
        try:
            os.dup2(write_end, 2)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            sys.stderr = open(2, "w", closefd=False)  # pytest had replaced it with its capture
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            from ironframe_py.cli import main

            code = main(argv)
        except BaseException:  # any failure in the child is its exit status, never a return
            code = 99
        sys.stderr.flush()
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as stream:
        err = stream.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


# --- options before or after the subcommand, --version, help ---------------------------------

def test_version():
    result = cli(None, "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ironframe {ironframe_py.__version__}"


def test_root_and_no_guard_before_or_after_the_subcommand(root):
    other = make_root()
    try:
        after = cli(None, "create", "--handle", "placed", "--no-guard", "--root", root)
        assert after.returncode == 0, after.stderr
        assert containers_in(root) == ["placed"] and containers_in(other) == []
        before = subprocess.run([sys.executable, "-m", "ironframe_py", "--root", other, "--no-guard",
                                 "list", "--json"], capture_output=True, text=True, timeout=60)
        assert json.loads(before.stdout)["containers"] == []
        # given on both sides, the one after the subcommand wins (as the nearer one)
        both = cli(None, "--root", other, "list", "--json", "--root", root)
        assert [c["handle"] for c in json.loads(both.stdout)["containers"]] == ["placed"]
    finally:
        shutil.rmtree(other)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_subcommand_and_option_has_help_without_markup():
    parser = _parser.build_parser()
    commands = _subparsers(parser)
    assert set(commands) == {"run", "create", "exec", "list", "info", "destroy", "recover"}
    for name, command in commands.items():
        text = command.format_help()
        assert command.description and "example:" in text and f"ironframe {name}" in text, name
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    for text in [parser.format_help()] + [c.format_help() for c in commands.values()]:
        for markup in ("``", ":class:", ":meth:", ":func:", ":data:", ".. "):
            assert markup not in text
    top = parser.format_help()
    for status in ("125", "126", "127", "137"):
        assert status in top


# --- list, info, destroy, recover --------------------------------------------------------------

def test_create_exec_info_list_destroy(root):
    created = cli(root, "create", "--handle", "clibox", "--memory", "32M", "--disk", "8M",
                  "--processes", "20", "--property", "team=ops")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "clibox" and cgroup_dirs_named("clibox")
    executed = cli(root, "exec", "clibox", "--", "/bin/sh", "-c", "echo data > f; cat f; exit 4")
    assert (executed.returncode, executed.stdout.strip()) == (4, "data")

    table = cli(root, "list").stdout.splitlines()
    assert table[0].split() == ["HANDLE", "STATE", "UID", "MEMORY", "PROCESSES", "AGE"]
    assert table[1].split()[:3] == ["clibox", "active", str(_uid_of(root, "clibox"))]
    assert "/ 32M" in table[1] and "/ 20" in table[1]

    listed = json.loads(cli(root, "list", "--json").stdout)
    assert listed["schema"] == "ironframe.list/v1"
    (row,) = listed["containers"]
    assert row["handle"] == "clibox" and row["state"] == "active" and row["memory_limit"] == 32 << 20
    assert row["process_limit"] == 20 and row["uid"] == _uid_of(root, "clibox")
    assert datetime.datetime.fromisoformat(row["created"]).tzinfo is not None

    info = json.loads(cli(root, "info", "clibox", "--json").stdout)
    assert info["schema"] == "ironframe.info/v1" and info["handle"] == "clibox"
    assert info["limits"]["memory"] == 32 << 20 and info["limits"]["disk"] == 8 << 20
    assert info["properties"] == {"team": "ops"} and info["disk_method"] == "loopfs"
    assert info["detached"] is True and isinstance(info["usage"]["memory"], int)
    created_at = datetime.datetime.fromisoformat(info["created"])
    assert abs(created_at.timestamp() - os.stat(os.path.join(root, "containers", "clibox")).st_mtime) < 60
    text = cli(root, "info", "clibox").stdout
    assert "limit 32M" in text and "team" in text and "detached" in text

    destroyed = cli(root, "destroy", "clibox")
    assert destroyed.returncode == 0 and destroyed.stdout.split() == ["clibox"]
    assert cgroup_dirs_named("clibox") == [] and containers_in(root) == []


def _uid_of(root: str, handle: str) -> int:
    return os.stat(os.path.join(root, "containers", handle)).st_uid


def test_destroy_tries_every_handle_and_reports_each_failure(root):
    for handle in ("d1", "d2"):
        assert cli(root, "create", "--handle", handle).returncode == 0
    result = cli(root, "destroy", "d1", "gone", "d2", "also-gone")
    assert result.returncode == 125
    assert result.stdout.split() == ["d1", "d2"]
    errors = result.stderr.strip().splitlines()
    assert errors == ["ironframe: destroy gone: no such container: 'gone'",
                      "ironframe: destroy also-gone: no such container: 'also-gone'"]
    assert containers_in(root) == [] and cgroup_dirs_named("d1") == cgroup_dirs_named("d2") == []
    forced = cli(root, "destroy", "--force", "gone", "d1")
    assert forced.returncode == 0 and forced.stderr == ""


OWNED_AND_EXIT = textwrap.dedent("""
    import sys
    from ironframe_py import ContainerService, ContainerSpec
    service = ContainerService(sys.argv[1], guard_interval=None)
    service.create(ContainerSpec(handle="owned"))
    # exits without destroying: the container's owner is gone
""")


def test_recover_keeps_created_containers_and_removes_those_of_dead_owners(root):
    assert cli(root, "create", "--handle", "keeper").returncode == 0
    subprocess.run([sys.executable, "-c", OWNED_AND_EXIT, root], check=True, timeout=60, cwd=REPO)
    assert sorted(containers_in(root)) == ["keeper", "owned"]
    result = cli(root, "recover")
    assert result.returncode == 0 and result.stdout.split() == ["removed", "owned"]
    assert cgroup_dirs_named("owned") == [] and containers_in(root) == ["keeper"]
    assert cli(root, "exec", "keeper", "--", "/bin/true").returncode == 0
    assert cli(root, "recover").stdout == ""
