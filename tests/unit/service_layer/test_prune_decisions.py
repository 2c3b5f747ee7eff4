"""The fast tier for the api's Idempotency-Key pruning: which keys go, in which batches, on the
in-memory store of tests/fakes.py. The SQL side (row locks skipped, the payment letting go of its
key) runs on PostgreSQL in tests/integration/test_payments_api.py."""

from __future__ import annotations

from datetime import timedelta

from payments_api.domain.payments import KeyVerdict, StoredKey, judge_key
from payments_api.service_layer.ports import KeyRecord, ScopedKey
from payments_api.service_layer.prune import BATCH, prune_idempotency_keys
from tests.fakes import FakeInitializeStore, FakeProvider
from tests.unit.service_layer.test_initialize_decisions import NOW, command, run

TTL = timedelta(hours=24)
LOCK_TIMEOUT = timedelta(seconds=30)
OLD = ScopedKey("merchant", "key-old")
NEW = ScopedKey("merchant", "key-new")


def _store_with_keys(count: int, age: timedelta) -> FakeInitializeStore:
    store = FakeInitializeStore()
    for n in range(count):
        store.keys[ScopedKey("merchant", f"key-{n}")] = KeyRecord("f", 201, {}, None, NOW - age)
    return store


def test_keys_past_the_ttl_go_and_their_payments_stay_but_let_go_of_them() -> None:
    # Given a key used a day and a minute ago, and one used now
    store, provider = FakeInitializeStore(), FakeProvider()
    then = NOW - TTL - timedelta(minutes=1)
    run(store, provider, command(reference="pay-old"), OLD, now=then)
    run(store, provider, command(reference="pay-new"), NEW, now=NOW)

    # When the pruning runs
    pruned = prune_idempotency_keys(store, TTL, now=NOW)

    # Then only the old key is gone; both payments stay, the old one holding no key
    assert pruned == 1
    assert set(store.keys) == {NEW}
    assert [p.reference for p in store.payments.values()] == ["pay-old", "pay-new"]
    assert store.holders == {NEW: 2}
    assert [cutoff for cutoff, _, _ in store.prune_batches] == [NOW - TTL]


def test_a_pruned_key_starts_afresh_instead_of_replaying() -> None:
    store, provider = FakeInitializeStore(), FakeProvider()
    run(store, provider, command(reference="pay-old"), OLD, now=NOW - TTL - timedelta(hours=1))
    prune_idempotency_keys(store, TTL, now=NOW)

    again = run(store, provider, command(reference="pay-old-2"), OLD, now=NOW)

    assert again.status == 201
    assert not again.replayed
    assert again.body["reference"] == "pay-old-2"
    assert len(provider.calls) == 2


def test_the_pruning_and_a_reuse_draw_the_ttl_line_at_the_same_place() -> None:
    # A key exactly TTL old is still replayed, so the pruning keeps it; a microsecond older it
    # has expired for reuse too, so the pruning deletes it.
    for age, verdict, kept in [
        (TTL, KeyVerdict.REPLAY, True),
        (TTL + timedelta(microseconds=1), KeyVerdict.EXPIRED, False),
    ]:
        store = _store_with_keys(1, age)
        stored = StoredKey("f", has_response=True, locked_at=None, created_at=NOW - age)

        prune_idempotency_keys(store, TTL, now=NOW)

        assert judge_key(stored, "f", now=NOW, ttl=TTL, lock_timeout=LOCK_TIMEOUT) is verdict
        assert bool(store.keys) is kept


def test_a_backlog_goes_one_bounded_batch_per_transaction() -> None:
    store = _store_with_keys(2 * BATCH + 1, TTL * 2)

    pruned = prune_idempotency_keys(store, TTL, now=NOW)

    assert pruned == 2 * BATCH + 1
    assert [(limit, n) for _, limit, n in store.prune_batches] == [
        (BATCH, BATCH),
        (BATCH, BATCH),
        (BATCH, 1),
    ]
    assert store.keys == {}


def test_a_full_last_batch_is_followed_by_an_empty_one_then_it_stops() -> None:
    store = _store_with_keys(BATCH, TTL * 2)

    assert prune_idempotency_keys(store, TTL, now=NOW) == BATCH
    assert [n for _, _, n in store.prune_batches] == [BATCH, 0]


def test_keys_held_by_a_transaction_are_left_for_a_later_pass_and_it_still_ends() -> None:
    # Given old keys, one of them row-locked by a transaction still running
    store = _store_with_keys(3, TTL * 2)
    held = ScopedKey("merchant", "key-1")
    store.row_locked.add(held)

    # When the pruning runs, it deletes the others and stops instead of retrying the held one
    assert prune_idempotency_keys(store, TTL, now=NOW) == 2
    assert set(store.keys) == {held}
    assert len(store.prune_batches) == 1
