"""One writer at a time per tenant source: imports and syncs that load the same source queue up.

Without it two appends to one source could both read version N and each write N+1 with only
their own rows: the second swap would silently drop the first's rows. The lock is an exclusive
``flock`` on a file under the portal's home (the imports' uploads and Parquet versions live
there too, so every process that loads data shares it); the kernel releases it when its holder
dies, so a crashed worker never leaves a source locked.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from portal.errors import Conflict

#: How long a load waits for another load of the same source before giving up.
WAIT_S = 30 * 60.0
_POLL_S = 0.2


def lock_path(home: Path, tenant_id: int, name: str) -> Path:
    """The lock file of a tenant's source (a checked source name: letters, digits and ``_``)."""
    return home / "warehouse" / f"t{tenant_id}" / ".locks" / f"{name}.lock"


@contextmanager
def source_lock(
    home: Path,
    tenant_id: int,
    name: str,
    *,
    wait_s: float = WAIT_S,
    cancelled: Callable[[], bool] | None = None,
    on_cancel: Callable[[], Exception] | None = None,
) -> Iterator[None]:
    """Hold the source's write lock; wait for it (checking ``cancelled``) at most ``wait_s``.

    A wait that runs out is a :class:`~portal.errors.Conflict` naming ``table``; a cancel seen
    while waiting raises ``on_cancel()``.
    """
    path = lock_path(home, tenant_id, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    with open(path, "a+b") as fh:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if cancelled is not None and on_cancel is not None and cancelled():
                    raise on_cancel() from None
                if time.monotonic() >= deadline:
                    raise Conflict(
                        f"table: another import or sync of {name!r} is still loading; try again later",
                        field="table",
                    ) from None
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
