"""The retry policy, failure classification, hand-off headers and the due-time gate: pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consumer.domain.errors import (
    ConsumerError,
    CreditMismatch,
    DependencyUnavailable,
    LockTimeout,
    PaymentNotFound,
    PoisonMessage,
)
from consumer.domain.failures import FailureKind, classify, retry_in_process
from consumer.domain.records import Delivery, gate, handoff_headers, next_offsets
from consumer.domain.retry_policy import DeadLetter, RetryLater, RetryPolicy, backoff
from schemas import headers as h

DELAYS = (5.0, 30.0, 120.0, 600.0)
NOW = 1_700_000_000_000


def test_connection_errors_lock_timeouts_and_missing_payments_are_transient() -> None:
    for error in (DependencyUnavailable(), LockTimeout(), PaymentNotFound()):
        assert classify(error) is FailureKind.TRANSIENT


def test_poison_schema_and_mismatch_errors_are_permanent() -> None:
    for error in (PoisonMessage(), CreditMismatch()):
        assert classify(error) is FailureKind.PERMANENT


def test_the_cause_chain_decides_for_a_wrapped_error() -> None:
    wrapper = ConsumerError("wrapped")
    wrapper.__cause__ = PoisonMessage()
    assert classify(wrapper) is FailureKind.PERMANENT


def test_an_unforeseen_error_is_transient_so_it_is_retried_then_dead_lettered() -> None:
    assert classify(KeyError("x")) is FailureKind.TRANSIENT


def test_only_dependency_hiccups_are_retried_within_the_batch() -> None:
    assert retry_in_process(DependencyUnavailable("db gone"))
    assert retry_in_process(LockTimeout("held"))
    assert not retry_in_process(PaymentNotFound("not yet"))
    assert not retry_in_process(CreditMismatch("amount"))
    assert not retry_in_process(RuntimeError("unforeseen"))


def test_backoff_is_the_configured_delay_per_retry_and_none_when_spent() -> None:
    assert [backoff(DELAYS, n) for n in range(0, 6)] == [None, 5.0, 30.0, 120.0, 600.0, None]


def test_a_transient_failure_on_the_main_topic_goes_to_retry_1_after_the_first_delay() -> None:
    decision = RetryPolicy(DELAYS).decide(0, PaymentNotFound(), NOW)
    assert decision == RetryLater(retry_number=1, not_before_ms=NOW + 5_000, attempts_made=1)


def test_a_transient_failure_on_retry_n_goes_to_retry_n_plus_1() -> None:
    decision = RetryPolicy(DELAYS).decide(2, DependencyUnavailable(), NOW)
    assert decision == RetryLater(retry_number=3, not_before_ms=NOW + 120_000, attempts_made=3)


def test_after_the_last_retry_the_record_is_dead_lettered() -> None:
    decision = RetryPolicy(DELAYS).decide(4, LockTimeout(), NOW)
    assert isinstance(decision, DeadLetter)
    assert decision.attempts_made == 5
    assert "after 5 attempts" in decision.reason


def test_a_permanent_failure_skips_the_retry_topics() -> None:
    decision = RetryPolicy(DELAYS).decide(0, PoisonMessage("bad json"), NOW)
    assert isinstance(decision, DeadLetter)
    assert decision.attempts_made == 1
    assert "bad json" in decision.reason


def test_zero_delays_make_a_test_mode_that_never_waits() -> None:
    decision = RetryPolicy((0.0, 0.0)).decide(1, PaymentNotFound(), NOW)
    assert decision == RetryLater(retry_number=2, not_before_ms=NOW, attempts_made=2)


@given(attempt=st.integers(0, 10), now=st.integers(0, 2**42))
def test_every_transient_failure_either_waits_its_delay_or_dead_letters(
    attempt: int, now: int
) -> None:
    decision = RetryPolicy(DELAYS).decide(attempt, PaymentNotFound(), now)
    if attempt < len(DELAYS):
        assert isinstance(decision, RetryLater)
        assert decision.not_before_ms == now + round(DELAYS[attempt] * 1000)
    else:
        assert isinstance(decision, DeadLetter)


def delivery(
    partition: int = 0, offset: int = 0, *, topic: str = "t", headers: dict[str, str] | None = None
) -> Delivery:
    return Delivery(topic, partition, offset, 111, b"k", b"v", headers or {})


def test_headers_name_the_origin_group_attempt_and_error() -> None:
    headers = dict(
        handoff_headers(
            delivery(2, 40, topic="p.webhooks"),
            group="g",
            attempts_made=1,
            not_before_ms=NOW + 5,
            now_ms=NOW,
            error=PaymentNotFound("not yet"),
        )
    )
    assert {k: v.decode() for k, v in headers.items()} == {
        h.ATTEMPT: "1",
        h.NOT_BEFORE: str(NOW + 5),
        h.FIRST_FAILED_AT: str(NOW),
        h.ORIGINAL_TOPIC: "p.webhooks",
        h.ORIGINAL_PARTITION: "2",
        h.ORIGINAL_OFFSET: "40",
        h.ORIGINAL_TIMESTAMP: "111",
        h.GROUP: "g",
        h.ERROR_CLASS: "PaymentNotFound",
        h.ERROR_MESSAGE: "not yet",
    }


def test_the_origin_and_first_failure_survive_a_second_hop() -> None:
    first = {
        k: v.decode()
        for k, v in handoff_headers(
            delivery(2, 40, topic="p.webhooks"),
            group="g",
            attempts_made=1,
            not_before_ms=NOW,
            now_ms=NOW,
            error=LockTimeout(),
        )
    }
    second = dict(
        handoff_headers(
            delivery(0, 7, topic="p.webhooks.retry.1", headers=first),
            group="g",
            attempts_made=2,
            not_before_ms=NOW + 99,
            now_ms=NOW + 50,
            error=LockTimeout(),
        )
    )
    assert second[h.ORIGINAL_TOPIC] == b"p.webhooks"
    assert second[h.ORIGINAL_OFFSET] == b"40"
    assert second[h.FIRST_FAILED_AT] == str(NOW).encode()
    assert second[h.ATTEMPT] == b"2"


def test_the_gate_holds_a_not_yet_due_record_and_everything_after_it_in_its_partition() -> None:
    due = {h.NOT_BEFORE: str(NOW - 1)}
    later = {h.NOT_BEFORE: str(NOW + 1)}
    batch = [
        delivery(0, 10, headers=due),
        delivery(0, 11, headers=later),
        delivery(0, 12, headers=due),
        delivery(1, 5),
    ]
    result = gate(batch, NOW)
    assert [(d.partition, d.offset) for d in result.ready] == [(0, 10), (1, 5)]
    assert [(d.partition, d.offset) for d in result.held] == [(0, 11)]
    assert next_offsets(result.ready) == {("t", 0): 11, ("t", 1): 6}
