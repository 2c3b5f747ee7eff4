"""Hypothesis over a record's header and value bytes into the decode and gate path: nothing in a
record raises out of it (so nothing can make the consumer loop exit), a held record never waits
past now + the longest retry delay, and main-topic records never wait at all."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.domain.errors import ConsumerError, PoisonMessage
from consumer.domain.records import Delivery, DuePolicy, gate, handoff_headers
from consumer.domain.retry_policy import RetryPolicy
from consumer.service_layer.batch import BatchHandler
from consumer.service_layer.credit import CreditItem
from consumer.service_layer.settle import Settler
from schemas import headers as h
from schemas.headers import decode_headers
from tests.helpers import paystack_envelope_bytes

PREFIX = "prop"
MAIN, RETRY = f"{PREFIX}.webhooks", f"{PREFIX}.webhooks.retry.1"
LONGEST_MS = 600_000
NOW = 1_800_000_000_000
SECRET = b"sk_test_paystack_primary_0123456789abcdef"

header_names = st.sampled_from([*h.ALL, "verif-hash", "x"]) | st.text(max_size=20)
header_values = (
    st.binary(max_size=64)
    | st.integers(min_value=-(10**30), max_value=10**30).map(lambda n: str(n).encode())
    | st.sampled_from([b"9" * 5000, b"", "\u0663\u0663".encode(), b"1e3", b" 12", b"+5"])
)
headers = st.lists(st.tuples(header_names, st.none() | header_values), max_size=8)


def _mutations() -> st.SearchStrategy[bytes]:
    genuine = json.loads(paystack_envelope_bytes("prop-ref", secret=SECRET.decode()))
    field = st.sampled_from(sorted(genuine))
    junk = st.none() | st.integers() | st.text(max_size=50) | st.lists(st.integers(), max_size=3)
    return st.tuples(field, junk).map(
        lambda change: json.dumps({**genuine, change[0]: change[1]}).encode()
    )


values = st.none() | st.binary(max_size=256) | _mutations()


def _handler() -> BatchHandler:
    class _NoLocks:  # decode never settles, so the settler's ports are never used
        def holding(self, references: object) -> object:
            raise AssertionError("decode must not lock")

    return BatchHandler(
        settler=Settler(new_uow=lambda: None, locks=_NoLocks()),  # type: ignore[arg-type,return-value]
        policy=RetryPolicy((1.0,)),
        prefix=PREFIX,
        group="g",
        secrets=lambda _provider: (SECRET,),
    )


HANDLER = _handler()
POLICY = DuePolicy(is_retry_topic=lambda topic: topic == RETRY, longest_delay_ms=LONGEST_MS)


# A loaded machine must not fail the property for being slow to generate examples.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.sampled_from([MAIN, RETRY]), raw_headers=headers, value=values)
def test_any_record_decodes_to_an_event_or_poison_and_gates_within_bounds(
    topic: str, raw_headers: list[tuple[str, bytes | None]], value: bytes | None
) -> None:
    delivery = Delivery(topic, 0, 7, NOW, b"k", value, decode_headers(raw_headers))

    gated = gate([delivery], NOW, POLICY)
    decoded = HANDLER.decode(delivery)
    outgoing = handoff_headers(
        delivery, group="g", attempts_made=1, not_before_ms=NOW, now_ms=NOW, error=PoisonMessage()
    )

    assert len(gated.ready) + len(gated.held) == 1
    for held in gated.held:
        assert topic == RETRY
        assert NOW < held.not_before_ms <= NOW + LONGEST_MS
    assert isinstance(decoded, CreditItem | ConsumerError)
    assert all(isinstance(v, bytes) for _, v in outgoing)


def test_the_genuine_record_decodes_to_its_event() -> None:
    delivery = Delivery(
        MAIN, 0, 0, NOW, b"k", paystack_envelope_bytes("ok", secret=SECRET.decode())
    )
    decoded = HANDLER.decode(delivery)
    assert isinstance(decoded, CreditItem)
    assert decoded.event.reference == "ok"
