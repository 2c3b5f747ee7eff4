"""The long-lived helper thread that runs the transactional calls (`kafka_txn.Helper`): calls run
on one thread that outlives them, results and errors come back to the caller, a call blocked past
its bound is left behind with its thread, and no call ever waits behind another."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from consumer.adapters.kafka_txn import Helper, Wedged


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # lets a left-behind helper thread end


def test_calls_run_one_after_another_on_one_thread_that_is_not_the_callers() -> None:
    helper = Helper()

    threads = [helper.run(5.0, threading.current_thread) for _ in range(3)]

    assert threads[0] is threads[1] is threads[2]
    assert threads[0] is not threading.current_thread()
    helper.close()
    threads[0].join(5.0)
    assert not threads[0].is_alive()


def test_a_call_s_result_and_its_exception_reach_the_caller() -> None:
    helper = Helper()

    def fails() -> None:
        raise ValueError("from librdkafka")

    assert helper.run(5.0, lambda: 42) == 42
    with pytest.raises(ValueError, match="from librdkafka"):
        helper.run(5.0, fails)
    assert helper.run(5.0, lambda: "still serving") == "still serving"
    helper.close()


def test_a_call_blocked_past_its_bound_is_left_behind_with_its_thread(
    release: threading.Event,
) -> None:
    helper = Helper()
    blocked_on: list[threading.Thread] = []

    def hangs() -> None:
        blocked_on.append(threading.current_thread())
        release.wait()

    with pytest.raises(Wedged):
        helper.run(0.05, hangs)
    after = helper.run(5.0, threading.current_thread)

    assert after is not blocked_on[0]
    assert blocked_on[0].is_alive()  # still inside the call
    release.set()
    blocked_on[0].join(5.0)
    assert not blocked_on[0].is_alive()  # the call returned: its thread ended, serving no more
    assert helper.run(5.0, threading.current_thread) is after
    helper.close()


def test_a_call_made_while_another_runs_gets_a_thread_of_its_own(
    release: threading.Event,
) -> None:
    helper = Helper()
    first_started = threading.Event()
    first_on: list[threading.Thread] = []

    def first() -> None:
        first_on.append(threading.current_thread())
        first_started.set()
        release.wait()

    caller = threading.Thread(target=lambda: helper.run(30.0, first))
    caller.start()
    assert first_started.wait(5.0)

    second_on = helper.run(5.0, threading.current_thread)

    assert second_on is not first_on[0]
    assert caller.is_alive()  # the first call is still running, the second did not wait on it
    release.set()
    caller.join(5.0)
    helper.close()
