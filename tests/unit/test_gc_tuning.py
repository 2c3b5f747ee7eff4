"""The cyclic-GC tuning of the long-running processes (kernel/gc_tuning.py): start-up objects
frozen out of collections, the youngest generation collected every N allocations."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kernel.gc_tuning import tune_gc
from producer_gateway.entrypoints.asgi import GATEWAY_YOUNG_GC_THRESHOLD


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
@pytest.mark.parametrize("young", [20_000, GATEWAY_YOUNG_GC_THRESHOLD])
def test_tuning_freezes_start_up_and_sets_the_youngest_threshold(young: int) -> None:
    older = gc.get_threshold()[1:]
    tune_gc(young)
    assert gc.get_threshold() == (young, *older)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_gc")
def test_the_default_is_the_consumers_20000() -> None:
    tune_gc()
    assert gc.get_threshold()[0] == 20_000
