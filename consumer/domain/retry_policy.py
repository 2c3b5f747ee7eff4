"""The retry policy: attempt + error + now → "retry on topic N not before T" or "dead-letter".

Pure: the consumer only carries the decision out. Attempts count failed deliveries: a record
read from the main topic is attempt 0, one read from retry topic n is attempt n.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consumer.domain.failures import FailureKind, classify


def backoff(delays: Sequence[float], attempt: int) -> float | None:
    """Seconds to wait before retry `attempt` (1-based), or None once the delays are spent."""
    if attempt < 1 or attempt > len(delays):
        return None
    return float(delays[attempt - 1])


@dataclass(frozen=True, slots=True)
class RetryLater:
    retry_number: int  # the retry topic to publish to (1-based)
    not_before_ms: int
    attempts_made: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    attempts_made: int


RetryDecision = RetryLater | DeadLetter


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    delays: tuple[float, ...]

    def decide(self, attempt: int, error: BaseException, now_ms: int) -> RetryDecision:
        """What to do with a record whose delivery number `attempt` just failed with `error`."""
        made = attempt + 1
        if classify(error) is FailureKind.PERMANENT:
            return DeadLetter(f"permanent failure: {type(error).__name__}: {error}", made)
        delay = backoff(self.delays, attempt + 1)
        if delay is None:
            return DeadLetter(
                f"still failing after {made} attempts: {type(error).__name__}: {error}", made
            )
        return RetryLater(attempt + 1, now_ms + round(delay * 1000), made)
