"""Validation of Limits, ContainerSpec and ProcessSpec (portable, no OS resources)."""

from __future__ import annotations

import math
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironframe_py import PIPE, STDOUT, ContainerSpec, Limits, ProcessSpec, SpecError, parse_size
from ironframe_py.spec import MAX_HANDLE, check_container_path, check_handle, format_size

HANDLE_CHARS = string.ascii_letters + string.digits + "_.-"


@pytest.mark.parametrize("bad, rule", [
    ("", "empty"), ("a/b", "separator"), ("..", "'..'"), ("a..b", "'..'"), ("a\x00b", "NUL"),
    ("x" * (MAX_HANDLE + 1), "at most"), (".hidden", "start with"), ("a b", "letters"),
    ("a\\b", "separator"), (5, "string"),
])
def test_bad_handles_name_the_field_and_rule(bad, rule):
    with pytest.raises(SpecError) as info:
        ContainerSpec(handle=bad)
    assert info.value.field == "handle"
    assert rule in info.value.rule
    assert isinstance(info.value, ValueError)


def test_longest_handle_is_accepted():
    assert ContainerSpec(handle="a" * MAX_HANDLE).handle == "a" * MAX_HANDLE


@given(st.text(alphabet=HANDLE_CHARS, min_size=1, max_size=MAX_HANDLE))
def test_handle_rules_fuzz(handle):
    ok = handle[0].isalnum() and ".." not in handle
    if ok:
        check_handle(handle)
    else:
        with pytest.raises(SpecError):
            check_handle(handle)


@given(st.text(max_size=80))
def test_arbitrary_text_never_crashes_the_handle_check(handle):
    try:
        check_handle(handle)
    except SpecError as err:
        assert err.field == "handle"
    else:
        assert "/" not in handle and "\x00" not in handle and ".." not in handle
        assert 0 < len(handle) <= MAX_HANDLE


@pytest.mark.parametrize("field, value", [
    ("memory", 0), ("memory", -1), ("memory", 1), ("memory", "0M"), ("memory", "lots"),
    ("memory", 1.5), ("memory", True), ("disk", 0), ("disk", -5), ("processes", 0),
    ("processes", -3), ("cpu_weight", 0), ("cpu_weight", 10_001), ("cpu_max", 0),
    ("cpu_max", -1.0), ("cpu_max", math.nan), ("cpu_max", math.inf), ("cpu_max", "1"),
])
def test_bad_limits_name_the_field(field, value):
    with pytest.raises(SpecError) as info:
        Limits(**{field: value})
    assert info.value.field == f"limits.{field}"


def test_limits_accept_sizes_and_normalise():
    limits = Limits(memory="64M", disk="1.5G", cpu_max=1, processes=10, cpu_weight=100)
    assert limits.memory == 64 << 20
    assert limits.disk == 3 << 29
    assert isinstance(limits.cpu_max, float)
    assert limits.replace(memory="128M").memory == 128 << 20
    with pytest.raises(SpecError):
        limits.replace(processes=0)


@given(st.integers(min_value=1, max_value=1 << 40), st.sampled_from(["", "K", "M", "G", "k", "m"]))
def test_parse_size_round_trip(number, unit):
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[unit.upper()]
    assert parse_size(f"{number}{unit}") == number * scale


@given(st.integers(min_value=1, max_value=1023), st.sampled_from([1 << 10, 1 << 20, 1 << 30]))
def test_format_size_round_trips_whole_units(number, unit):
    assert parse_size(format_size(number * unit)) == number * unit


@given(st.integers(min_value=1, max_value=1 << 50))
def test_format_size_is_a_display_value_within_five_percent(size):
    text = format_size(size)
    scale = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[text[-1]]
    assert abs(float(text[:-1]) * scale - size) <= 0.05 * size


@pytest.mark.parametrize("argv, field", [
    ([], "argv"), ("ls", "argv"), ([""], "argv[0]"), (["ls", 3], "argv[1]"),
    (["ls", "a\x00"], "argv[1]"), (None, "argv"),
])
def test_bad_argv(argv, field):
    with pytest.raises(SpecError) as info:
        ProcessSpec(argv)
    assert info.value.field == field


@pytest.mark.parametrize("cwd, expected", [
    ("/", ""), ("", ""), ("a/b", "a/b"), ("/a//b/", "a/b"), ("a/../b", "b"), ("./a", "a"),
    ("a\\b", "a/b"),
])
def test_container_paths_normalise(cwd, expected):
    assert check_container_path("cwd", cwd) == expected


@pytest.mark.parametrize("cwd", ["..", "/..", "a/../..", "../etc", "C:/x", "a/../../b"])
def test_container_paths_cannot_escape(cwd):
    with pytest.raises(SpecError) as info:
        ProcessSpec(["ls"], cwd=cwd)
    assert info.value.field == "cwd"


@given(st.lists(st.sampled_from(["a", "b", "..", ".", ""]), max_size=8))
def test_container_path_fuzz_never_escapes(parts):
    path = "/".join(parts)
    try:
        normal = check_container_path("cwd", path)
    except SpecError:
        depth, lowest = 0, 0
        for part in parts:
            depth += -1 if part == ".." else (1 if part not in ("", ".") else 0)
            lowest = min(lowest, depth)
        assert lowest < 0
    else:
        assert ".." not in normal.split("/")


@pytest.mark.parametrize("env", [{"": "x"}, {"A=B": "x"}, {"A": 1}, {"A": "x\x00"}, {3: "x"}, ["A"]])
def test_bad_environment(env):
    with pytest.raises(SpecError) as info:
        ProcessSpec(["ls"], env=env)
    assert info.value.field.startswith("env")
    with pytest.raises(SpecError):
        ContainerSpec(env=env)


def test_stdio_rules():
    ProcessSpec(["ls"], stdout=PIPE, stderr=STDOUT)
    with pytest.raises(SpecError) as info:
        ProcessSpec(["ls"], stdout=STDOUT)
    assert info.value.field == "stdout"
    with pytest.raises(SpecError):
        ProcessSpec(["ls"], stdin=-7)
    with pytest.raises(SpecError):
        ProcessSpec(["ls"], stdin="file.txt")


def test_specs_are_frozen():
    spec = ContainerSpec(handle="a", env={"A": "1"})
    with pytest.raises(AttributeError):
        spec.handle = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.env["B"] = "2"  # type: ignore[index]


def test_spec_error_pickles():
    import pickle

    err = SpecError("limits.memory", "must be positive", -1)
    again = pickle.loads(pickle.dumps(err))
    assert (again.field, again.rule, again.value) == ("limits.memory", "must be positive", -1)
