"""The per-source write lock of imports and syncs: exclusive, bounded wait, cancel while waiting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from portal.errors import Conflict
from portal.ingest.locks import lock_path, source_lock


def test_the_lock_is_exclusive_per_source_and_released(tmp_path: Path) -> None:
    order: list[str] = []
    with source_lock(tmp_path, 1, "sales"):
        t = threading.Thread(target=lambda: _take(tmp_path, order))
        t.start()
        time.sleep(0.5)
        order.append("first done")
        # Another source of the same tenant, and the same name in another tenant, are free.
        with source_lock(tmp_path, 1, "costs", wait_s=0.1), source_lock(tmp_path, 2, "sales", wait_s=0.1):
            pass
    t.join(5)
    assert order == ["first done", "second"]
    assert lock_path(tmp_path, 1, "sales").is_file()


def _take(home: Path, order: list[str]) -> None:
    with source_lock(home, 1, "sales", wait_s=5):
        order.append("second")


def test_a_wait_that_runs_out_is_a_409_naming_table(tmp_path: Path) -> None:
    with source_lock(tmp_path, 1, "sales"):
        started = time.monotonic()
        with (
            pytest.raises(Conflict, match="another import or sync of 'sales'") as err,
            source_lock(tmp_path, 1, "sales", wait_s=0.3),
        ):
            pass
        assert err.value.field == "table" and err.value.status == 409
        assert time.monotonic() - started >= 0.3


def test_a_cancel_seen_while_waiting_raises_the_callers_error(tmp_path: Path) -> None:
    calls = [0]

    def cancelled() -> bool:
        calls[0] += 1
        return calls[0] >= 3

    with (
        source_lock(tmp_path, 1, "sales"),
        pytest.raises(KeyboardInterrupt),
        source_lock(tmp_path, 1, "sales", cancelled=cancelled, on_cancel=KeyboardInterrupt),
    ):
        pass
    assert calls[0] == 3
    with source_lock(tmp_path, 1, "sales", wait_s=0.1):  # free again
        pass
