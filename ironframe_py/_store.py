"""Crash-safe registry of every container and every OS resource it owns.

One sqlite database (stdlib ``sqlite3``, WAL mode) under the service root.
A resource is written as an *intent* before the OS call that creates it and
marked *done* afterwards, so a host killed at any point leaves a record of
everything that may exist; :meth:`ContainerService.recover` replays it.
Writes are durable against a crash of the host process (WAL with
``synchronous=NORMAL``); an OS crash also clears the kernel objects we track.

A container's row also reserves its uid: the row is deleted only after every
resource of the container has been released, so a uid is never handed out
again while anything of the old container remains.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ._resource import Resource
from .errors import ContainerExists, ContainerNotFound, ResourceExhausted, StoreError

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers (
    handle      TEXT PRIMARY KEY COLLATE NOCASE,
    uid         INTEGER NOT NULL UNIQUE,
    state       TEXT NOT NULL,
    path        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    owner_pid   INTEGER NOT NULL,
    owner_start REAL NOT NULL,
    owner_id    TEXT NOT NULL,
    created     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    handle  TEXT NOT NULL COLLATE NOCASE,
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    data    TEXT NOT NULL,
    status  TEXT NOT NULL CHECK (status IN ('intent', 'done')),
    UNIQUE (handle, kind, key)
);
CREATE TABLE IF NOT EXISTS properties (
    handle TEXT NOT NULL COLLATE NOCASE,
    name   TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (handle, name)
);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    handle  TEXT NOT NULL COLLATE NOCASE,
    time    REAL NOT NULL,
    kind    TEXT NOT NULL,
    lim     REAL,
    usage   REAL,
    pid     INTEGER,
    detail  TEXT NOT NULL
);
"""


@dataclasses.dataclass(frozen=True)
class ContainerRecord:
    """One row of the ``containers`` table."""

    handle: str
    uid: int
    state: str
    path: str
    spec: dict[str, Any]
    owner_pid: int
    owner_start: float
    owner_id: str
    created: float


@dataclasses.dataclass(frozen=True)
class EventRecord:
    """A kill or limit event recorded for a container."""

    handle: str
    time: float
    kind: str
    limit: float | None
    usage: float | None
    pid: int | None
    detail: str


class Store:
    """The state database of one service root.  Thread-safe; several processes may share it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        with self._errors("open"):
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            check = self._db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check[0] if check else 'no answer'}")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)",
                                 (str(SCHEMA_VERSION),))
        if row is not None and int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"state store {path} has schema {row[0]}, this version "
                             f"understands {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """sqlite's errors as :class:`StoreError`, saying what to do about them."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            text = str(err)
            if "full" in text:
                advice = "free space on the filesystem holding it; nothing was changed"
            elif isinstance(err, sqlite3.OperationalError) and "locked" in text:
                advice = "another process holds its lock; retry"
            elif isinstance(err, sqlite3.OperationalError):
                advice = "check its permissions and the filesystem"
            else:
                advice = DAMAGED_ADVICE.format(path=self.path)
            raise StoreError(f"state store {self.path}: {doing} failed: {text}: {advice}") from err

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock, self._errors("read"):
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the database connection; idempotent."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction (takes the write lock up front)."""
        with self._lock, self._errors("write"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- containers -----------------------------------------------------------

    def reserve(self, handle: str, uid_range: range, path_for, spec: dict[str, Any],
                owner: tuple[int, float, str], claimed=lambda uid: False) -> ContainerRecord:
        """Insert a ``creating`` row for ``handle`` with the lowest uid no row holds.

        ``path_for(handle)`` gives the container directory; ``claimed(uid)``
        says whether another service on the host holds a uid.  A uid is free
        again only once its container's row is gone, which destroy and
        recover allow only after verifying that no process of it is left.
        Raises :class:`ContainerExists` for a taken handle (case-insensitive).
        """
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM containers WHERE handle=?", (handle,)).fetchone():
                raise ContainerExists(handle)
            used = {row[0] for row in db.execute("SELECT uid FROM containers")}
            for uid in uid_range:
                if uid not in used and not claimed(uid):
                    break
            else:
                raise ResourceExhausted(f"no free uid left in {uid_range.start}..{uid_range.stop - 1}")
            record = ContainerRecord(handle, uid, "creating", path_for(handle), spec,
                                     owner[0], owner[1], owner[2], time.time())
            db.execute("INSERT INTO containers VALUES (?,?,?,?,?,?,?,?,?)",
                       (record.handle, record.uid, record.state, record.path,
                        json.dumps(record.spec), record.owner_pid, record.owner_start,
                        record.owner_id, record.created))
            for name, value in spec.get("properties", {}).items():
                db.execute("INSERT INTO properties VALUES (?,?,?)", (handle, name, value))
        return record

    def container(self, handle: str) -> ContainerRecord:
        """The record of ``handle``; :class:`ContainerNotFound` if there is none."""
        rows = self._query("SELECT * FROM containers WHERE handle=?", (handle,))
        if not rows:
            raise ContainerNotFound(handle)
        return _container_from_row(rows[0])

    def containers(self) -> list[ContainerRecord]:
        """Every container record, oldest first."""
        rows = self._query("SELECT * FROM containers ORDER BY created")
        return [_container_from_row(row) for row in rows]

    def set_state(self, handle: str, state: str) -> None:
        """Change a container's lifecycle state."""
        with self.transaction() as db:
            db.execute("UPDATE containers SET state=? WHERE handle=?", (state, handle))

    def set_spec(self, handle: str, spec: dict[str, Any]) -> None:
        """Replace the stored spec (limits change at run time)."""
        with self.transaction() as db:
            db.execute("UPDATE containers SET spec=? WHERE handle=?", (json.dumps(spec), handle))

    def forget(self, handle: str, released: Sequence[Resource] = ()) -> None:
        """Delete the container row, its ``released`` resources, properties and events.

        This frees its uid, so it refuses while any other resource is recorded.
        """
        with self.transaction() as db:
            for resource in released:
                db.execute("DELETE FROM resources WHERE handle=? AND kind=? AND key=?",
                           (handle, resource.kind, resource.key))
            left = db.execute("SELECT COUNT(*) FROM resources WHERE handle=?", (handle,)).fetchone()[0]
            if left:
                raise StoreError(f"{handle}: {left} resources still recorded; not forgetting")
            for table in ("properties", "events", "containers"):
                db.execute(f"DELETE FROM {table} WHERE handle=?", (handle,))

    # --- resources -------------------------------------------------------------

    def add_intent(self, handle: str, resource: Resource) -> None:
        """Record that ``resource`` is about to be created (before the OS call)."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO resources (handle, kind, key, data, status) "
                       "VALUES (?,?,?,?, 'intent')",
                       (handle, resource.kind, resource.key, json.dumps(dict(resource.data))))

    def update_resource(self, handle: str, resource: Resource) -> None:
        """Replace the recorded facts of ``resource`` (e.g. the device a step attached)."""
        with self.transaction() as db:
            db.execute("UPDATE resources SET data=? WHERE handle=? AND kind=? AND key=?",
                       (json.dumps(dict(resource.data)), handle, resource.kind, resource.key))

    def mark_created(self, handle: str, state: str) -> None:
        """Every step succeeded: mark all resources done and set the state, atomically."""
        with self.transaction() as db:
            db.execute("UPDATE resources SET status='done' WHERE handle=?", (handle,))
            db.execute("UPDATE containers SET state=? WHERE handle=?", (state, handle))

    def remove_resource(self, handle: str, resource: Resource) -> None:
        """Forget ``resource`` after it was released."""
        with self.transaction() as db:
            db.execute("DELETE FROM resources WHERE handle=? AND kind=? AND key=?",
                       (handle, resource.kind, resource.key))

    def resources(self, handle: str) -> list[Resource]:
        """The container's resources in creation order (intents included)."""
        rows = self._query("SELECT kind, key, data FROM resources WHERE handle=? ORDER BY seq",
                           (handle,))
        return [Resource(kind, key, json.loads(data)) for kind, key, data in rows]

    # --- properties ----------------------------------------------------------------

    def properties(self, handle: str) -> dict[str, str]:
        """All properties of the container."""
        rows = self._query("SELECT name, value FROM properties WHERE handle=? ORDER BY name",
                           (handle,))
        return dict(rows)

    def set_property(self, handle: str, name: str, value: str) -> None:
        """Set one property."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO properties VALUES (?,?,?)", (handle, name, value))

    def remove_property(self, handle: str, name: str) -> bool:
        """Remove one property; False if it did not exist."""
        with self.transaction() as db:
            return db.execute("DELETE FROM properties WHERE handle=? AND name=?",
                              (handle, name)).rowcount > 0

    # --- events ------------------------------------------------------------------------

    def add_event(self, event: EventRecord) -> None:
        """Record a kill / limit event."""
        with self.transaction() as db:
            db.execute("INSERT INTO events (handle, time, kind, lim, usage, pid, detail) "
                       "VALUES (?,?,?,?,?,?,?)",
                       (event.handle, event.time, event.kind, event.limit, event.usage,
                        event.pid, event.detail))

    def events(self, handle: str, kinds: Sequence[str] | None = None) -> list[EventRecord]:
        """The container's events, oldest first."""
        rows = self._query("SELECT handle, time, kind, lim, usage, pid, detail FROM events "
                           "WHERE handle=? ORDER BY id", (handle,))
        records = [EventRecord(*row) for row in rows]
        return [r for r in records if kinds is None or r.kind in kinds]


def _container_from_row(row: tuple) -> ContainerRecord:
    handle, uid, state, path, spec, owner_pid, owner_start, owner_id, created = row
    return ContainerRecord(handle, uid, state, path, json.loads(spec), owner_pid, owner_start,
                           owner_id, created)


STORE_MODE = 0o600

DAMAGED_ADVICE = (
    "the database is damaged; no service will start on it, so that no container it records "
    "is forgotten. Stop every service using this root, keep a copy of {path}* , then try "
    "`sqlite3 {path} .recover | sqlite3 {path}.recovered` and move the recovered file into "
    "place; or move the damaged files aside to start with an empty store, and remove the "
    "containers it recorded by hand (their cgroups, directories under containers/, mounts "
    "and loop devices)")


def open_store(root: str) -> Store:
    """Open (creating if needed) the store of a service root.

    The database and its ``-wal`` / ``-shm`` files are private to the
    service's user (mode 0600): they hold every container's environment and
    properties, and a container user who could open ``-shm`` could take a
    read lock that stalls every write of the service.

    A store that is missing or empty while ``containers/`` holds container
    directories was lost or truncated: opening it would forget those
    containers, so that raises :class:`StoreError` instead, as does a
    damaged database.
    """
    path = os.path.join(root, "state.db")
    existed = os.path.exists(path) and os.path.getsize(path) > 0
    if not existed:
        left = _container_dirs(root)
        if left:
            raise StoreError(f"state store {path} is missing or empty, but {len(left)} container "
                             f"directories remain under {os.path.join(root, 'containers')} "
                             f"({', '.join(sorted(left)[:5])}): " + DAMAGED_ADVICE.format(path=path))
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), STORE_MODE))
    # POSIX modes (Windows keeps the root's ACL; a chmod there only sets the read-only
    # flag, and fails on a -shm file another process holds open)
    for name in (path, path + "-wal", path + "-shm") if os.name == "posix" else ():
        try:
            os.chmod(name, STORE_MODE)  # sqlite gives -wal and -shm the database's mode
        except FileNotFoundError:
            continue
    return Store(path)


def _container_dirs(root: str) -> list[str]:
    try:
        return os.listdir(os.path.join(root, "containers"))
    except FileNotFoundError:
        return []
