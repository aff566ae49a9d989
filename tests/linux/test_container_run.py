"""``Container.run``: its keyword arguments are ProcessSpec's fields, and behave as them."""

from __future__ import annotations

import dataclasses
import inspect
import os

import pytest

from ironframe_py import PIPE, Container, ContainerSpec, ProcessSpec


def _field_default(field: dataclasses.Field) -> object:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def test_run_spells_out_every_process_spec_field() -> None:
    """Same names, order, annotations and defaults: a type checker sees what ProcessSpec takes."""
    params = list(inspect.signature(Container.run).parameters.values())
    assert [p.name for p in params[:2]] == ["self", "spec"]
    keywords = params[2:]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in keywords)
    fields = [f for f in dataclasses.fields(ProcessSpec) if f.name != "argv"]
    assert [p.name for p in keywords] == [f.name for f in fields]
    assert [p.annotation for p in keywords] == [f.type for f in fields]  # both strings (PEP 563)
    assert [p.default for p in keywords] == [_field_default(f) for f in fields]


def test_run_takes_the_keywords_and_refuses_them_beside_a_process_spec(service) -> None:
    with service.create(ContainerSpec()) as box:
        proc = box.run(["/bin/sh", "-c", 'pwd; printf %s "$GREETING"'], env={"GREETING": "hi"},
                       cwd="/", stdout=PIPE, text=True)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        assert out.splitlines() == [os.path.realpath(box.path), "hi"]
        spec = ProcessSpec(["/bin/true"])
        for keyword, value in [("env", {}), ("cwd", "/tmp"), ("stdout", PIPE), ("text", True)]:
            with pytest.raises(TypeError, match="not both"):
                box.run(spec, **{keyword: value})
        assert box.run(spec).wait(timeout=60) == 0
