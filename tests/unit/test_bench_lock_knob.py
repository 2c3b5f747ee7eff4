"""PAYHOOKS_CONSUMER_REDIS_LOCK: the benchmark/ops knob that turns the consumer's Redis lock off."""

from __future__ import annotations

import pytest

from consumer.adapters.redis_lock import CreditLocks, NoLocks
from consumer.bootstrap import default_locks
from kernel.settings import Settings


def test_the_redis_lock_is_on_by_default() -> None:
    # Given no setting, When the consumer's locks are built, Then they are Redis locks
    assert isinstance(default_locks(Settings()), CreditLocks)


def test_false_turns_the_lock_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given PAYHOOKS_CONSUMER_REDIS_LOCK=false
    monkeypatch.setenv("PAYHOOKS_CONSUMER_REDIS_LOCK", "false")
    # When the consumer's locks are built
    locks = default_locks(Settings())
    # Then nothing is locked in Redis and nothing is ever reported as timed out or degraded
    assert isinstance(locks, NoLocks)
    with locks.holding(["ref-1", "ref-2"]) as held:
        assert held.timed_out == set()
        assert not held.degraded
