"""Transient or permanent: the one classification every failure goes through. Pure.

Adapters translate driver errors into our hierarchy (`DependencyUnavailable` from a lost
PostgreSQL or Redis connection, `LockTimeout` from a lock wait), so this needs no driver types.
"""

from __future__ import annotations

from enum import StrEnum

from consumer.domain.errors import PermanentError, RetryableError


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
