"""The bounded body reader (kernel/http_edge.py `read_body`): a body already at hand is taken
without arming the timeout; one still arriving is read under it, whether the wait starts at
the first message or a later one; over the limit, too slow, or a client gone are each said."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from kernel.http_edge import BodyTooLarge, BodyTooSlow, read_body, scope_headers

Step = Message | None  # None: this receive() waits (a later message, or forever)


def _receiver(steps: list[Step]) -> Callable[[], Awaitable[Message]]:
    """An ASGI `receive` answering `steps` in order; a None step waits for a wake-up first
    (the next message arrives on a later turn of the loop) and the last None waits forever."""
    remaining = list(steps)

    async def receive() -> Message:
        step = remaining.pop(0)
        while step is None:
            if not remaining:
                await asyncio.Event().wait()  # nothing more will come
            await asyncio.sleep(0)  # suspends: the message is not at hand yet
            step = remaining.pop(0)
        return step

    return receive


def _chunk(body: bytes, *, more: bool = False) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


def _read(steps: list[Step], limit: int = 100, timeout: float = 5.0) -> bytes:
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    request = Request(scope, _receiver(steps))
    return asyncio.run(read_body(request, limit, timeout))


@pytest.mark.parametrize(
    ("steps", "body"),
    [
        ([_chunk(b"at hand")], b"at hand"),
        ([None, _chunk(b"later")], b"later"),
        ([_chunk(b"one ", more=True), _chunk(b"two")], b"one two"),
        ([_chunk(b"one ", more=True), None, _chunk(b"two")], b"one two"),
        ([None, _chunk(b"one ", more=True), None, _chunk(b"two", more=True), _chunk(b"")],
         b"one two"),
    ],
)  # fmt: skip
def test_the_body_is_read_whether_or_not_it_is_already_at_hand(
    steps: list[Step], body: bytes
) -> None:
    assert _read(steps) == body


@pytest.mark.parametrize(
    "steps",
    [
        [None],
        [_chunk(b"part", more=True), None],
    ],
)
def test_a_body_that_stops_arriving_is_too_slow(steps: list[Step]) -> None:
    with pytest.raises(BodyTooSlow):
        _read(steps, timeout=0.05)


@pytest.mark.parametrize(
    "steps",
    [
        [_chunk(b"x" * 101)],
        [None, _chunk(b"x" * 101)],
        [_chunk(b"x" * 60, more=True), _chunk(b"x" * 60)],
    ],
)
def test_a_body_over_the_limit_is_too_large(steps: list[Step]) -> None:
    with pytest.raises(BodyTooLarge):
        _read(steps)


@pytest.mark.parametrize(
    "steps", [[{"type": "http.disconnect"}], [None, {"type": "http.disconnect"}]]
)
def test_a_client_gone_before_its_body_is_a_disconnect(steps: list[Step]) -> None:
    with pytest.raises(ClientDisconnect):
        _read(steps)


def test_cancelling_a_waiting_read_cancels_the_receive_it_waits_in() -> None:
    cancelled = asyncio.Event()

    async def receive() -> Message:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("never woken")

    async def main() -> None:
        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        reading = asyncio.create_task(read_body(Request(scope, receive), 100, 5.0))
        await asyncio.sleep(0)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert cancelled.is_set()

    asyncio.run(main())


def test_the_headers_dict_keeps_the_first_of_a_repeated_name_like_starlette() -> None:
    # Given a request whose signature header comes twice, and a latin-1 value
    scope = {
        "type": "http",
        "headers": [
            (b"x-paystack-signature", b"first"),
            (b"content-length", b"2"),
            (b"x-paystack-signature", b"second"),
            (b"x-note", "café".encode("latin-1")),
        ],
    }
    # When the lane builds its headers dict
    headers = scope_headers(scope)
    # Then every lookup answers what Starlette's Headers answers
    starlette = Request(scope).headers
    assert headers == {name: starlette[name] for name in starlette}
    assert headers["x-paystack-signature"] == "first"
