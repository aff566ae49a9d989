"""The public contract: exported names, their docs, and the backend protocol."""

from __future__ import annotations

import inspect
import os
import re

import ironframe_py
from ironframe_py.backends import base

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def test_all_matches_the_api_reference():
    with open(os.path.join(DOCS, "api.rst")) as file:
        text = file.read()
    documented = set(re.findall(r"ironframe_py\.([A-Za-z_]+)", text))
    assert documented == set(ironframe_py.__all__)


def test_every_public_name_and_method_has_a_docstring():
    missing = []
    for name in ironframe_py.__all__:
        obj = getattr(ironframe_py, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not inspect.getdoc(obj):
                missing.append(name)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                    continue
                if not inspect.getdoc(member):
                    missing.append(f"{name}.{attr}")
    assert missing == []


def test_errors_claim_the_public_module():
    for name in ironframe_py.__all__:
        obj = getattr(ironframe_py, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert obj.__module__ == "ironframe_py", name


def _protocol_methods(protocol: type) -> set[str]:
    return {name for name, member in vars(protocol).items()
            if inspect.isfunction(member) and not name.startswith("_")}


def test_backend_implements_the_protocol():
    from ironframe_py.backends.linux.backend import LinuxBackend, LinuxContainerView

    assert _protocol_methods(base.Backend) <= set(dir(LinuxBackend))
    assert _protocol_methods(base.BackendContainer) <= set(dir(LinuxContainerView))
