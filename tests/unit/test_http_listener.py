"""The listeners' httptools protocol caps the request head (kernel/http_listener.py): a head over
the cap is answered 431 and the connection closed, whether it arrives whole or trickles in and
never ends; heads under the cap are served, one after another on a keep-alive connection and
pipelined in one read. Fed through an in-memory transport, as uvicorn's event loop would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from kernel.http_listener import CappedHttpToolsProtocol

CAP = 1024


class FakeTransport:
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, _: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def recording_app(calls: list[str]) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        calls.append(scope["path"])
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def _serve(chunks: list[bytes]) -> tuple[FakeTransport, list[str]]:
    calls: list[str] = []
    config = Config(
        recording_app(calls), log_config=None, h11_max_incomplete_event_size=CAP, lifespan="off"
    )
    protocol = CappedHttpToolsProtocol(
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    for chunk in chunks:
        if transport.closed:
            break
        protocol.data_received(chunk)
        for _ in range(5):  # let the request's task run
            await asyncio.sleep(0)
    return transport, calls


def serve(chunks: list[bytes]) -> tuple[FakeTransport, list[str]]:
    return asyncio.run(_serve(chunks))


def request(path: str = "/healthz", padding: int = 0) -> bytes:
    extra = b"X-Pad: " + b"a" * padding + b"\r\n" if padding else b""
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def statuses(written: bytes) -> list[int]:
    return [int(part.split(b" ", 1)[0]) for part in written.split(b"HTTP/1.1 ")[1:]]


def assert_refused(transport: FakeTransport, calls: list[str]) -> None:
    assert statuses(bytes(transport.written)) == [431]
    body = bytes(transport.written).split(b"\r\n\r\n", 1)[1]
    assert orjson.loads(body)["error"]["code"] == "headers_too_large"
    assert transport.closed
    assert calls == []


def test_a_whole_head_over_the_cap_is_refused_before_any_route_runs() -> None:
    # Given a head 1 byte over the cap as measured (target + names + values), in one read
    transport, calls = serve([request(padding=CAP)])

    # Then 431, closed, the app never called
    assert_refused(transport, calls)


@pytest.mark.parametrize("piece", [1, 100, CAP // 2])
def test_a_head_that_trickles_past_the_cap_without_ending_is_refused(piece: int) -> None:
    # Given a head that keeps arriving in pieces and never ends
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (2 * CAP)
    chunks = [head[i : i + piece] for i in range(0, len(head), piece)]

    transport, calls = serve(chunks)

    # Then it is refused once more than the cap has arrived, not held any longer
    assert_refused(transport, calls)


def test_a_head_under_the_cap_arriving_in_pieces_is_served() -> None:
    head = request(padding=CAP - 100)
    transport, calls = serve([head[i : i + 7] for i in range(0, len(head), 7)])

    assert statuses(bytes(transport.written)) == [200]
    assert calls == ["/healthz"]


def test_the_cap_is_per_request_on_a_keep_alive_connection() -> None:
    # Given three requests on one connection, each under the cap, together well over it
    big = request(padding=CAP - 100)
    transport, calls = serve([big, big[:50], big[50:], big])
    assert calls == ["/healthz"] * 3

    assert statuses(bytes(transport.written)) == [200, 200, 200]
    assert not transport.closed


def test_pipelined_requests_in_one_read_are_each_served() -> None:
    transport, calls = serve([request("/a") + request("/b") + request("/c")])

    assert statuses(bytes(transport.written)) == [200, 200, 200]
    assert calls == ["/a", "/b", "/c"]


def test_an_invalid_request_is_still_a_400() -> None:
    transport, calls = serve([b"NOT HTTP AT ALL\r\n\r\n"])

    assert statuses(bytes(transport.written)) == [400]
    assert transport.closed
    assert calls == []


def test_a_head_over_the_cap_after_another_request_in_the_same_read_is_refused() -> None:
    # Given a small request and, in the same read, one whose head is over the cap
    transport, calls = serve([request("/a") + request("/b", padding=CAP)])

    # Then the second is refused (measured, since the read's size says nothing about it)
    assert 431 in statuses(bytes(transport.written))
    assert transport.closed
    assert "/b" not in calls


def test_a_small_head_with_a_large_body_in_one_read_is_served() -> None:
    # Given one read well over the cap, nearly all of it body
    body = b"x" * (4 * CAP)
    head = b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode()
    transport, calls = serve([head + b"\r\n\r\n" + body])

    assert statuses(bytes(transport.written)) == [200]
    assert calls == ["/hook"]
