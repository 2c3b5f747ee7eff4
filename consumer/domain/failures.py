"""Transient or permanent: the one classification every failure goes through. Pure.

Adapters translate driver errors into our hierarchy (`DependencyUnavailable` from a lost
PostgreSQL or Redis connection, `LockTimeout` from a lock wait), so this needs no driver types.
"""

from __future__ import annotations

from enum import StrEnum

from consumer.domain.errors import (
    DependencyUnavailable,
    LockTimeout,
    PermanentError,
    RetryableError,
)


class FailureKind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


def classify(error: BaseException) -> FailureKind:
    """Permanent errors (poison, schema, amount mismatch) never improve with time; everything
    else is transient. An error we did not foresee gets the benefit of the doubt: it walks the
    retry topics (bounded) and still ends in the DLQ if it persists, so nothing is lost."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, PermanentError):
            return FailureKind.PERMANENT
        if isinstance(seen, RetryableError):
            return FailureKind.TRANSIENT
        seen = seen.__cause__
    return FailureKind.TRANSIENT


def retry_in_process(error: BaseException) -> bool:
    """Worth another try within this batch: a lost PostgreSQL/Redis connection or a lock wait may
    clear within a second. Anything else transient (a payment not initialized yet) waits on a
    retry topic instead, so the rest of its batch is not held back by it."""
    return isinstance(error, DependencyUnavailable | LockTimeout)
