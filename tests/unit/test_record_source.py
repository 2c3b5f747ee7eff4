"""A delivery's place in the main topic: its own, or the one its retry headers name."""

from __future__ import annotations

from consumer.domain.records import Delivery, source_of
from schemas import headers as h


def delivery(topic: str, offset: int, headers: dict[str, str]) -> Delivery:
    return Delivery(topic, 2, offset, 0, b"k", b"v", headers)


def test_a_main_topic_record_is_its_own_source() -> None:
    assert source_of(delivery("p.webhooks", 40, {})) == ("p.webhooks", 2, 40)


def test_a_retry_record_names_the_record_it_descends_from() -> None:
    headers = {h.ORIGINAL_TOPIC: "p.webhooks", h.ORIGINAL_PARTITION: "5", h.ORIGINAL_OFFSET: "17"}

    assert source_of(delivery("p.webhooks.retry.2", 3, headers)) == ("p.webhooks", 5, 17)


def test_unreadable_retry_headers_fall_back_to_the_record_itself() -> None:
    headers = {h.ORIGINAL_TOPIC: "p.webhooks", h.ORIGINAL_PARTITION: "x", h.ORIGINAL_OFFSET: "1"}

    assert source_of(delivery("p.webhooks.retry.1", 3, headers)) == ("p.webhooks.retry.1", 2, 3)
