"""One OS resource a container owns, as the state store records it (a plain record).

Below both the backends, which create resources, and the state store, which
persists them, so that neither depends on the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["Resource"]


@dataclasses.dataclass(frozen=True)
class Resource:
    """One OS resource a container owns, as recorded in the state store.

    ``kind`` names the primitive (``"cgroup"``, ``"dir"``, ``"loopfs"``,
    ``"job"``, ``"user"``, ...), ``key`` identifies it uniquely within the
    container (usually a path or a name) and ``data`` holds JSON-able facts
    enough to remove it after a crash.
    """

    kind: str
    key: str
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
