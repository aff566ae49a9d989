"""The state store: uid reservation, intents, properties, events (portable, no OS resources)."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3

import pytest

from ironframe_py import ContainerExists, ContainerNotFound, ResourceExhausted, StoreError
from ironframe_py._store import EventRecord, open_store
from ironframe_py.backends.base import Resource

OWNER = (os.getpid(), 1.0, "svc")


def _reserve(store, handle, uid_range=range(5000, 5010)):
    return store.reserve(handle, uid_range, lambda h: f"/r/{h}", {"limits": {}, "env": {},
                                                                   "properties": {"p": "1"}},
                         OWNER)


@pytest.fixture
def store(tmp_path):
    store = open_store(str(tmp_path))
    yield store
    store.close()


def test_wal_mode(store):
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_lowest_free_uid_and_reuse_after_forget(store):
    assert _reserve(store, "a").uid == 5000
    assert _reserve(store, "b").uid == 5001
    store.forget("a")
    assert _reserve(store, "c").uid == 5000


def test_range_exhausted(store):
    _reserve(store, "a", uid_range=range(5000, 5001))
    with pytest.raises(ResourceExhausted, match="no free uid"):
        _reserve(store, "b", uid_range=range(5000, 5001))


def test_handles_unique_regardless_of_case(store):
    _reserve(store, "Box")
    with pytest.raises(ContainerExists) as info:
        _reserve(store, "bOX")
    assert not isinstance(info.value, OSError) and info.value.handle == "bOX"
    assert store.container("BOX").handle == "Box"


def test_unknown_handle(store):
    with pytest.raises(ContainerNotFound):
        store.container("nope")


def test_intents_in_order_and_forget_refuses_while_resources_remain(store):
    _reserve(store, "a")
    first, second = Resource("cgroup", "/sys/x", {}), Resource("loopfs", "/img", {"m": "/r/a"})
    store.add_intent("a", first)
    store.add_intent("a", second)
    store.update_resource("a", Resource("loopfs", "/img", {"m": "/r/a", "dev": "/dev/loop3"}))
    assert store.resources("a") == [first, Resource("loopfs", "/img", {"m": "/r/a",
                                                                        "dev": "/dev/loop3"})]
    with pytest.raises(StoreError, match="still recorded"):
        store.forget("a")
    store.remove_resource("a", first)
    store.forget("a", [second])
    assert store.containers() == []


def test_properties_and_events(store):
    _reserve(store, "a")
    assert store.properties("a") == {"p": "1"}
    store.set_property("a", "q", "2")
    assert store.remove_property("a", "p") and not store.remove_property("a", "p")
    assert store.properties("a") == {"q": "2"}
    store.add_event(EventRecord("a", 1.0, "memory", 64.0, 70.0, 42, "oom"))
    assert store.events("a", kinds=("memory",))[0].pid == 42
    assert store.events("a", kinds=("escapee",)) == []


def _reserve_in_child(path, handle, queue):
    child_store = open_store(path)
    try:
        queue.put(_reserve(child_store, handle).uid)
    finally:
        child_store.close()


def test_two_processes_never_get_the_same_uid(tmp_path):
    queue = multiprocessing.get_context("fork").Queue()
    procs = [multiprocessing.get_context("fork").Process(
        target=_reserve_in_child, args=(str(tmp_path), f"h{i}", queue)) for i in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    uids = [queue.get(timeout=5) for _ in procs]
    assert sorted(uids) == list(range(5000, 5006))


def test_uids_claimed_by_other_services_are_skipped(store):
    record = store.reserve("a", range(5000, 5010), lambda h: f"/r/{h}", {"limits": {}, "env": {},
                                                                          "properties": {}},
                           OWNER, claimed=lambda uid: uid in (5000, 5001))
    assert record.uid == 5002
