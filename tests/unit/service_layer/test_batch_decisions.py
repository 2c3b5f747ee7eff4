"""The fast tier: the batch handler's, settler's and retry routing's decisions on in-memory fakes
of the ports (tests/fakes.py). The same paths run on real servers in tests/integration."""

from __future__ import annotations

from consumer.domain.errors import DependencyUnavailable
from consumer.domain.records import Delivery
from consumer.domain.retry_policy import RetryPolicy
from consumer.service_layer.batch import BatchHandler, Result
from consumer.service_layer.settle import Settler
from schemas import headers as h
from tests.conftest import PAYSTACK_SECRET
from tests.fakes import FakeLedger, FakeLocks, FakeUnitOfWork
from tests.helpers import paystack_envelope_bytes

PREFIX = "fast"
NOW_MS = 1_800_000_000_000


def handler(
    ledger: FakeLedger, uow: FakeUnitOfWork | None = None, locks: FakeLocks | None = None
) -> BatchHandler:
    settler = Settler(uow or FakeUnitOfWork(ledger), locks or FakeLocks(), wait_max_seconds=0)
    return BatchHandler(
        settler=settler,
        policy=RetryPolicy((5.0, 30.0)),
        prefix=PREFIX,
        group="payhooks-credit",
        secrets=lambda _provider: [PAYSTACK_SECRET.encode()],
    )


def delivery(value: bytes | None, offset: int = 0, topic: str = f"{PREFIX}.webhooks") -> Delivery:
    return Delivery(topic, 0, offset, NOW_MS, b"key", value)


def headers_of(result: Result) -> dict[str, str]:
    assert result.handoff is not None
    return {name: value.decode() for name, value in result.handoff.headers}


def test_a_genuine_success_is_credited_once_and_its_duplicate_is_recorded() -> None:
    # Given a processing payment and its success delivered twice in one batch
    ledger = FakeLedger()
    ledger.add_payment("ref-1", 500_000)
    value = paystack_envelope_bytes("ref-1", 500_000)

    # When the batch is handled
    results = handler(ledger).handle([delivery(value, 0), delivery(value, 1)], NOW_MS)

    # Then the first applies, the second is a duplicate, and the wallet holds one credit
    assert [r.outcome for r in results] == ["applied", "duplicate"]
    assert ledger.credits == [("ref-1", results[0].event_id)]
    assert ledger.balances == {1: 500_000}
    assert ledger.payments["ref-1"].state == "completed"
    assert [row.outcome for row in ledger.consumed] == ["applied", "duplicate"]


def test_an_unknown_reference_goes_to_retry_topic_one_with_its_headers() -> None:
    # Given no payment for the reference yet
    ledger = FakeLedger()

    # When its success is handled
    (result,) = handler(ledger).handle([delivery(paystack_envelope_bytes("ref-x"))], NOW_MS)

    # Then it is handed to retry topic 1, due after the first delay, nothing written
    assert result.outcome == "retry"
    assert result.handoff is not None
    assert result.handoff.topic == f"{PREFIX}.webhooks.retry.1"
    headers = headers_of(result)
    assert headers[h.ATTEMPT] == "1"
    assert headers[h.NOT_BEFORE] == str(NOW_MS + 5_000)
    assert headers[h.ORIGINAL_TOPIC] == f"{PREFIX}.webhooks"
    assert headers[h.ERROR_CLASS] == "PaymentNotFound"
    assert ledger.credits == []
    assert ledger.events == {}


def test_a_record_still_failing_on_the_last_retry_topic_is_dead_lettered() -> None:
    # Given the record comes from the last retry topic and its payment is still missing
    ledger = FakeLedger()
    last = delivery(paystack_envelope_bytes("ref-late"), topic=f"{PREFIX}.webhooks.retry.2")

    # When it is handled
    (result,) = handler(ledger).handle([last], NOW_MS)

    # Then it goes to the DLQ with the reason
    assert result.outcome == "dlq"
    assert result.handoff is not None
    assert result.handoff.topic == f"{PREFIX}.webhooks.dlq"
    assert result.reason.startswith("still failing after 3 attempts: PaymentNotFound")


def test_forged_or_unreadable_records_are_dead_lettered_without_touching_the_ledger() -> None:
    # Given a record signed with another secret and one that is not an envelope at all
    ledger = FakeLedger()
    ledger.add_payment("ref-forged")
    forged = paystack_envelope_bytes("ref-forged", secret="sk_not_ours")

    # When they are handled
    results = handler(ledger).handle([delivery(forged, 0), delivery(b"\xff{", 1)], NOW_MS)

    # Then both are poison: DLQ at once, no credit, no database work
    assert [r.outcome for r in results] == ["dlq", "dlq"]
    assert {headers_of(r)[h.ERROR_CLASS] for r in results} == {"PoisonMessage"}
    assert ledger.credits == []
    assert ledger.calls == []


def test_an_amount_mismatch_is_rejected_flagged_and_dead_lettered() -> None:
    # Given a payment initialized for 500 000 and a success for 400 000
    ledger = FakeLedger()
    payment = ledger.add_payment("ref-short", 500_000)

    # When it is handled
    (result,) = handler(ledger).handle(
        [delivery(paystack_envelope_bytes("ref-short", 400_000))], NOW_MS
    )

    # Then no credit, the payment is flagged, the record goes to the DLQ as rejected
    assert result.outcome == "rejected"
    assert result.handoff is not None
    assert result.handoff.topic.endswith(".dlq")
    assert ledger.credits == []
    assert payment.id in ledger.flags
    assert ledger.events[result.event_id or ""].outcome == "rejected"


def test_a_lock_held_elsewhere_sends_only_its_record_to_a_retry_topic() -> None:
    # Given two payments, one of whose references another worker holds locked
    ledger = FakeLedger()
    ledger.add_payment("ref-free")
    ledger.add_payment("ref-held", wallet_id=2)
    locks = FakeLocks(taken={"ref-held"})
    batch = [
        delivery(paystack_envelope_bytes("ref-free"), 0),
        delivery(paystack_envelope_bytes("ref-held"), 1),
    ]

    # When the batch is handled
    results = handler(ledger, locks=locks).handle(batch, NOW_MS)

    # Then the free one is credited; the held one waits on a retry topic (LockTimeout)
    assert [r.outcome for r in results] == ["applied", "retry"]
    assert headers_of(results[1])[h.ERROR_CLASS] == "LockTimeout"
    assert ledger.credits == [("ref-free", results[0].event_id)]
    assert locks.held[0] == ["ref-free", "ref-held"]


def test_a_batch_the_ledger_refuses_falls_back_one_by_one_and_isolates_the_bad_event() -> None:
    # Given three payments, the ledger refusing one of them
    ledger = FakeLedger(fail_on_credit={"ref-bad"})
    for reference in ("ref-a", "ref-bad", "ref-c"):
        ledger.add_payment(reference)
    uow = FakeUnitOfWork(ledger)
    batch = [
        delivery(paystack_envelope_bytes(r), i) for i, r in enumerate(("ref-a", "ref-bad", "ref-c"))
    ]

    # When the batch is handled
    results = handler(ledger, uow=uow).handle(batch, NOW_MS)

    # Then its neighbours are credited and only the bad one is handed off (retry: unforeseen)
    assert [r.outcome for r in results] == ["applied", "retry", "applied"]
    assert sorted(reference for reference, _ in ledger.credits) == ["ref-a", "ref-c"]
    assert uow.committed == 2
    assert uow.rolled_back >= 1


def test_a_lost_connection_is_retried_in_process_then_the_credit_lands_once() -> None:
    # Given a ledger whose first commit fails as a dropped connection would
    ledger = FakeLedger()
    ledger.add_payment("ref-flaky")
    uow = FakeUnitOfWork(ledger, failures=[DependencyUnavailable("PostgreSQL: gone")])

    # When the record is handled
    (result,) = handler(ledger, uow=uow).handle(
        [delivery(paystack_envelope_bytes("ref-flaky"))], NOW_MS
    )

    # Then the settler tried again within the batch and credited it once
    assert result.outcome == "applied"
    assert ledger.credits == [("ref-flaky", result.event_id)]
    assert uow.committed == 1


def test_a_connection_that_stays_down_hands_the_record_to_a_retry_topic() -> None:
    # Given a ledger whose commits keep failing
    ledger = FakeLedger()
    ledger.add_payment("ref-down")
    down: list[BaseException] = [DependencyUnavailable("PostgreSQL: gone") for _ in range(5)]
    uow = FakeUnitOfWork(ledger, failures=down)

    # When the record is handled
    (result,) = handler(ledger, uow=uow).handle(
        [delivery(paystack_envelope_bytes("ref-down"))], NOW_MS
    )

    # Then nothing is written and it waits on retry topic 1
    assert result.outcome == "retry"
    assert headers_of(result)[h.ERROR_CLASS] == "DependencyUnavailable"
    assert ledger.credits == []
    assert ledger.balances == {1: 0}


def test_a_retried_record_keeps_counting_its_attempts() -> None:
    # Given a record already on retry topic 1 (attempt 1) whose payment is still missing
    ledger = FakeLedger()
    first = delivery(paystack_envelope_bytes("ref-wait"), topic=f"{PREFIX}.webhooks.retry.1")
    first = first._replace(headers={h.ATTEMPT: "1", h.ORIGINAL_TOPIC: f"{PREFIX}.webhooks"})

    # When it fails again
    (result,) = handler(ledger).handle([first], NOW_MS)

    # Then it moves on to retry topic 2 after the second delay
    assert result.handoff is not None
    assert result.handoff.topic == f"{PREFIX}.webhooks.retry.2"
    assert headers_of(result)[h.NOT_BEFORE] == str(NOW_MS + 30_000)


def test_a_batch_settled_with_its_locks_taken_ahead_adopts_them_and_gives_nothing_back() -> None:
    # Given a batch prepared and its locks taken ahead (while the batch before settled)
    ledger = FakeLedger()
    ledger.add_payment("ref-a", 500_000)
    locks = FakeLocks()
    batch = handler(ledger, locks=locks)
    prepared = batch.reserve(batch.prepare([delivery(paystack_envelope_bytes("ref-a"))], NOW_MS))
    assert locks.reserved == [["ref-a"]]
    # When it settles
    (result,) = batch.settle(prepared)
    # Then it is credited under the adopted locks, and nothing is given back unadopted
    assert result.outcome == "applied"
    assert locks.held == [["ref-a"]]
    assert locks.released == []


def test_a_dropped_batch_gives_back_the_locks_it_took_ahead() -> None:
    # Given a batch prepared and its locks taken ahead
    ledger = FakeLedger()
    ledger.add_payment("ref-b", 500_000)
    locks = FakeLocks()
    batch = handler(ledger, locks=locks)
    prepared = batch.reserve(batch.prepare([delivery(paystack_envelope_bytes("ref-b"))], NOW_MS))
    # When it is dropped instead of settled (an abandoned transaction before it, a stop)
    batch.drop(prepared)
    # Then its locks are given back, nothing was held or credited, and a second drop is a no-op
    assert locks.released == [["ref-b"]]
    assert locks.held == []
    assert ledger.credits == []
    batch.drop(prepared)
    assert locks.released == [["ref-b"]]
