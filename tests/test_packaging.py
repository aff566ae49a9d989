"""The sdist and the wheel, built from a copy of this source tree, opened and read.

The copy is the working tree as a developer has it (compiled extensions built
in place, the test-built ``ifguard.dll``), plus the build products a tree can
hold (a generated cffi ``.c``, an object file), so the checks show that none
of them leaks into a distribution.  The build runs without isolation: the
build backend comes from the test environment (the ``test`` extra), so the
test is offline and needs no index.
"""

from __future__ import annotations

import email.parser
import email.policy
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from dataclasses import dataclass

import pytest

import ironframe_py

REPO = pathlib.Path(__file__).resolve().parents[1]
LINUX = sys.platform.startswith("linux")

pytestmark = pytest.mark.skipif(not LINUX, reason="checks the Linux wheel's contents")

# What is not source: never copied from the tree, never expected in a distribution.
NOT_SOURCE_DIRS = (".git", ".venv", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache",
                   ".pytest_cache", ".hypothesis", ".wine-python", "_build", "*.egg-info")
BUILD_PRODUCT = re.compile(r"\.(so|pyd|dll|o|obj|a|lib|exp|py[cod])$")
GENERATED_C = ("ironframe_py/_guard/_core.c", "ironframe_py/backends/linux/_native.c")
# Planted in the copy: what `make windows`, `python _ffi_build.py` and a compiler leave behind.
PLANTED = ("ironframe_py/_guard/ifguard.dll", *GENERATED_C, "ironframe_py/_guard/guard_core.o")
EXTENSIONS = ("ironframe_py/_guard/_core.abi3.so", "ironframe_py/backends/linux/_native.abi3.so")
# Warnings that would mean the configuration is out of date or incomplete: build's own
# "WARNING" lines, a Python warning category (SetuptoolsDeprecationWarning, ...), the
# "Package ... is absent from the `packages` configuration" of package data outside a
# package; never the manifest's lower-case "warning: no previously-included files" notes.
WARNING_SIGNS = ("Deprecat", "is absent from the", "Warning", "WARNING")


@dataclass(frozen=True)
class Built:
    """One build: the source copy it ran in, its archives and what it printed."""

    source: pathlib.Path
    sdist: pathlib.Path
    wheel_from_tree: pathlib.Path
    wheel_from_sdist: pathlib.Path
    log: str


def _source_files(root: pathlib.Path) -> set[str]:
    """Every file under ``root`` that is source (not a build product or a cache), relative."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames
                       if not any(pathlib.PurePath(d).match(pattern) for pattern in NOT_SOURCE_DIRS)]
        for name in filenames:
            relative = (pathlib.Path(dirpath) / name).relative_to(root).as_posix()
            if not BUILD_PRODUCT.search(name) and relative not in GENERATED_C:
                found.add(relative)
    return found


def _build(source: pathlib.Path, outdir: pathlib.Path, *what: str) -> str:
    """Run ``python -m build --no-isolation`` on ``source``; its output (fails the test on error)."""
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", *what,
                             "--outdir", str(outdir), str(source)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert result.returncode == 0, f"python -m build {' '.join(what)} failed:\n{result.stdout}"
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist, a wheel built from the tree and a wheel built from the sdist."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE_DIRS))
    for relative in PLANTED:
        (source / relative).write_bytes(b"a build product, not source\n")
    # The sdist and a wheel straight from the tree, then (build's default) a wheel from the sdist.
    log = _build(source, work / "tree", "--sdist", "--wheel")
    log += _build(source, work / "via-sdist")
    (sdist,) = (work / "tree").glob("*.tar.gz")
    (wheel_from_tree,) = (work / "tree").glob("*.whl")
    (wheel_from_sdist,) = (work / "via-sdist").glob("*.whl")
    return Built(source, sdist, wheel_from_tree, wheel_from_sdist, log)


@pytest.fixture(params=["wheel_from_tree", "wheel_from_sdist"])
def wheel(request: pytest.FixtureRequest, built: Built) -> pathlib.Path:
    """Each of the two wheels."""
    return getattr(built, request.param)


def _wheel_names(wheel: pathlib.Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _wheel_text(wheel: pathlib.Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name).decode()


def _dist_info(wheel: pathlib.Path) -> str:
    """The wheel's .dist-info folder."""
    assert wheel.name.startswith(f"ironframe_py-{ironframe_py.__version__}-")
    return f"ironframe_py-{ironframe_py.__version__}.dist-info"


def _sdist_names(built: Built) -> set[str]:
    """The sdist's files, relative to its top folder."""
    with tarfile.open(built.sdist) as archive:
        members = [member.name for member in archive.getmembers() if member.isfile()]
    top = f"ironframe_py-{ironframe_py.__version__}/"
    assert all(name.startswith(top) for name in members), members
    return {name[len(top):] for name in members}


def test_build_prints_no_deprecation_or_configuration_warning(built: Built) -> None:
    lines = [line for line in built.log.splitlines() if any(sign in line for sign in WARNING_SIGNS)]
    assert lines == [], "\n".join(lines)


def test_wheel_is_tagged_for_the_limited_api(wheel: pathlib.Path) -> None:
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    expected = f"ironframe_py-{ironframe_py.__version__}-cp311-abi3-{platform}.whl"
    assert wheel.name == expected
    wheel_file = _wheel_text(wheel, f"{_dist_info(wheel)}/WHEEL")
    assert f"Tag: cp311-abi3-{platform}" in wheel_file.splitlines()
    assert "Root-Is-Purelib: false" in wheel_file.splitlines()


def test_wheel_holds_the_package_and_nothing_else(wheel: pathlib.Path, built: Built) -> None:
    names = _wheel_names(wheel)
    source = _source_files(built.source)
    modules = {name for name in source if name.startswith("ironframe_py/") and name.endswith(".py")}
    assert modules <= names, sorted(modules - names)
    assert "ironframe_py/py.typed" in names
    assert set(EXTENSIONS) <= names, sorted(set(EXTENSIONS) - names)
    # The C the package reads at run time: the cffi declarations, the guard core's header
    # and sources (ABI-mode cdef, the Wine DLL build), the Linux spawn helper's sources.
    c_files = {name for name in source if name.startswith("ironframe_py/")
               and (name.endswith((".h", ".c", ".def")) or name.endswith("/Makefile"))}
    assert c_files, "no C sources found in the tree"
    assert c_files <= names, sorted(c_files - names)
    products = {name for name in names if BUILD_PRODUCT.search(name) and name not in EXTENSIONS}
    assert products == set(), sorted(products)
    assert not {name for name in names if name.endswith(".dll")}
    assert not set(GENERATED_C) & names
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {"ironframe_py", _dist_info(wheel)}


def test_wheel_carries_the_license_and_the_console_script(wheel: pathlib.Path) -> None:
    dist_info = _dist_info(wheel)
    license_text = _wheel_text(wheel, f"{dist_info}/licenses/LICENSE")
    assert license_text == (REPO / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    entry_points = _wheel_text(wheel, f"{dist_info}/entry_points.txt")
    assert re.search(r"^\[console_scripts\]\s*^ironframe = ironframe_py\.cli:main$", entry_points, re.M)


def test_wheel_metadata(wheel: pathlib.Path) -> None:
    text = _wheel_text(wheel, f"{_dist_info(wheel)}/METADATA")
    metadata = email.parser.Parser(policy=email.policy.compat32).parsestr(text)
    assert metadata["Name"] == "ironframe-py"
    assert metadata["Version"] == ironframe_py.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers = metadata.get_all("Classifier")
    # The suite is running on this Python, so the metadata may claim it...
    assert f"Programming Language :: Python :: {sys.version_info[0]}.{sys.version_info[1]}" in classifiers
    # ...and an SPDX expression replaces the license classifiers (PEP 639).
    assert not [c for c in classifiers if c.startswith("License ::")]
    requirements = [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r]
    assert sorted(re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in requirements) == ["cffi", "psutil"]
    assert metadata["Description-Content-Type"] == "text/markdown"


def test_sdist_holds_every_source_file_and_no_build_product(built: Built) -> None:
    names = _sdist_names(built)
    for needed in ("pyproject.toml", "setup.py", "MANIFEST.in", "LICENSE", "README.md",
                   "tests/conftest.py", "tests/_support.py", "tests/linux/conftest.py",
                   "tests/linux/linux_support.py", "tests/windows/conftest.py",
                   "tests/test_packaging.py", "tests/windows/test_wine_guard.py",
                   "tools/wine_python.py", "ironframe_py/py.typed"):
        assert needed in names
    # Everything the tests, the tools, the benchmarks, the docs and the build use.
    wanted = {name for name in _source_files(built.source)
              if name.split("/", 1)[0] in ("ironframe_py", "tests", "tools", "benchmarks", "docs")}
    assert wanted <= names, sorted(wanted - names)
    products = {name for name in names if BUILD_PRODUCT.search(name)}
    assert products == set(), sorted(products)
    assert not set(GENERATED_C) & names


def test_sdist_metadata(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        member = archive.extractfile(f"ironframe_py-{ironframe_py.__version__}/PKG-INFO")
        assert member is not None
        metadata = email.parser.Parser(policy=email.policy.compat32).parsestr(member.read().decode())
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Requires-Python"] == ">=3.11"


def _collect(tests_root: pathlib.Path, site: pathlib.Path) -> list[str]:
    """The test ids pytest collects in ``tests_root`` with the package imported from ``site``."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    # -P: the folder pytest runs in must not shadow the installed package.
    where = subprocess.run([sys.executable, "-P", "-c", "import ironframe_py; print(ironframe_py.__file__)"],
                           cwd=tests_root, env=env, capture_output=True, text=True, check=True)
    assert pathlib.Path(where.stdout.strip()).is_relative_to(site), where.stdout
    result = subprocess.run([sys.executable, "-P", "-m", "pytest", "--collect-only", "-q",
                             "-p", "no:cacheprovider"],
                            cwd=tests_root, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_the_unpacked_sdist_collects_the_whole_suite(built: Built, tmp_path: pathlib.Path) -> None:
    """pytest in the unpacked sdist, against the installed wheel, finds every test the tree has."""
    with tarfile.open(built.sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    unpacked = tmp_path / f"ironframe_py-{ironframe_py.__version__}"
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(site), str(built.wheel_from_sdist)], check=True, timeout=900)
    from_sdist = _collect(unpacked, site)
    assert len(from_sdist) > 100, from_sdist
    assert from_sdist == _collect(built.source, site)
