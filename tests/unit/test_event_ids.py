"""The derived event id is exactly UUIDv5 of "<provider>|<event_type>|<reference>" under the
payhooks namespace: ids already on Kafka and in `processed_events` must not change."""

from __future__ import annotations

import uuid
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from schemas.providers.base import _EVENT_ID_NAMESPACE, deterministic_event_id

_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # not encodable: no event id is built from them
_TEXT = st.text(st.characters(exclude_categories=_SURROGATES), max_size=300)


@given(provider=_TEXT, event_type=_TEXT, reference=_TEXT)
def test_equals_uuid5_for_any_text(provider: str, event_type: str, reference: str) -> None:
    expected = uuid.uuid5(_EVENT_ID_NAMESPACE, f"{provider}|{event_type}|{reference}")

    assert deterministic_event_id(provider, event_type, reference) == str(expected)


def test_a_known_id_stays_the_same() -> None:
    # Given the id uuid.uuid5 gave an event before the fast path existed
    known = "a4725263-76c8-59ed-ab3b-b2b2f4a69149"

    # Then the same event still gets it, and another one does not
    assert deterministic_event_id("paystack", "charge.success", "ref-1") == known
    assert deterministic_event_id("paystack", "charge.success", "ref-2") != known
