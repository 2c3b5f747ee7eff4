"""The polling thread prepares the next batch once the batch in flight waits on its commit
(`Settling.until_waiting`): `hand_over` marks the settle thread busy computing, the unit of
work's commit (or the settle's end, however it ends) marks it waiting."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from consumer.domain.records import Delivery
from consumer.entrypoints import worker
from consumer.service_layer.batch import Prepared

WAIT = 30.0  # a bound on the other thread, never a timing assertion


class _Handler:
    """A settle that computes until told to commit, then until told to finish."""

    def __init__(self, app: Any, *, fail: bool = False) -> None:
        self.app = app
        self.fail = fail
        self.computing = threading.Event()
        self.commit = threading.Event()
        self.finish = threading.Event()

    def settle(self, _prepared: Prepared) -> list[Any]:
        self.computing.set()
        assert self.commit.wait(WAIT)
        if self.fail:
            raise RuntimeError("the database went away")
        self.app.settle_waits.set()  # what the unit of work's `committing` hook does
        assert self.finish.wait(WAIT)
        return []


class _Channel:
    before_revoke: Any = None

    def group_metadata(self) -> object:
        return object()

    def transact(self, *_args: object) -> bool:
        return True


def _settling(*, fail: bool = False) -> tuple[worker.Settling, Any]:
    app = SimpleNamespace(settle_waits=threading.Event())
    app.settle_waits.set()
    app.handler = _Handler(app, fail=fail)
    return worker.Settling(app, _Channel()), app  # type: ignore[arg-type] # stand-ins


def _batch() -> Prepared:
    return Prepared((Delivery("p.webhooks", 0, 7, 0, b"r", b"{}"),), [], 0)


def test_the_next_batch_waits_while_the_settle_computes_and_goes_once_it_commits() -> None:
    settling, app = _settling()
    assert app.settle_waits.is_set()  # nothing in flight: prepare at once

    # When a batch is handed over and its settle computes its transaction
    settling.hand_over(_batch())
    assert app.handler.computing.wait(WAIT)

    # Then the polling thread is held back (up to its bound)
    settling.until_waiting(0.01)
    assert not app.settle_waits.is_set()

    # Until the settle sends its commit: from then on the polling thread prepares
    app.handler.commit.set()
    settling.until_waiting(WAIT)
    assert app.settle_waits.is_set()
    app.handler.finish.set()
    settling.close()


def test_a_settle_that_fails_lets_the_next_batch_go() -> None:
    settling, app = _settling(fail=True)
    settling.hand_over(_batch())
    assert app.handler.computing.wait(WAIT)
    assert not app.settle_waits.is_set()

    # When the settle raises before any commit
    app.handler.commit.set()
    with pytest.raises(RuntimeError, match="went away"):
        settling.finish()

    # Then the polling thread is not held back by it
    assert app.settle_waits.is_set()
    settling.close()
