"""Deleting old rows a batch at a time (idempotency keys, consumed_records): short transactions,
so pruning a large backlog never holds many row locks or one long transaction."""

from __future__ import annotations

from collections.abc import Callable


def delete_in_batches(delete_batch: Callable[[], int], batch: int) -> int:
    """Call `delete_batch` (one transaction deleting at most `batch` rows; the number deleted)
    until a call deletes fewer than `batch`; the total deleted."""
    total = 0
    while True:
        deleted = delete_batch()
        total += deleted
        if deleted < batch:
            return total
