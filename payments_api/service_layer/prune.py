"""Idempotency keys are kept for the TTL (≥ 24 h), then deleted by the api's periodic pruning.

A deleted key lets go of its payment too (the payment row stays, its key is cleared), so the key
can start afresh, exactly as an expired key does on reuse: the pruning deletes what `judge_key`
calls expired (created before `now - ttl`), never a key it would still replay.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kernel.batches import delete_in_batches
from payments_api.service_layer.ports import KeyPruner

BATCH = 1000


def prune_idempotency_keys(keys: KeyPruner, ttl: timedelta, *, now: datetime) -> int:
    """Delete keys created more than `ttl` before `now`, a batch per transaction; the number
    deleted."""
    cutoff = now - ttl
    return delete_in_batches(lambda: keys.delete_keys_before(cutoff, BATCH), BATCH)
