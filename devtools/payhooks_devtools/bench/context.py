"""What every stage shares: the base settings, the benchmark database, a work folder, pinning."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kernel.settings import Settings
from payhooks_devtools.bench.ledger import SECRET
from payhooks_devtools.bench.load import Pinning

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchContext:
    settings: Settings  # the local stack's addresses; stages change prefix/group/database
    database_url: str  # the benchmark's own database
    token: str  # names this run's topics and database
    workdir: Path  # logs and scripts of this run
    pinning: Pinning
    progress: Progress
    quick: bool

    def stage_settings(self, name: str) -> Settings:
        prefix = f"bench-{self.token}-{name}"
        return self.settings.model_copy(
            update={
                "database_url": self.database_url,
                "topic_prefix": prefix,
                "consumer_group": f"{prefix}-credit",
                "retry_delays": (0.1, 0.1),
            }
        )

    def child_env(self, settings: Settings, **extra: str) -> dict[str, str]:
        """The environment of a `payhooks` child process running with `settings`."""
        return {
            **os.environ,
            "PAYHOOKS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "PAYHOOKS_DATABASE_URL": settings.database_url,
            "PAYHOOKS_REDIS_URL": settings.redis_url,
            "PAYHOOKS_TOPIC_PREFIX": settings.topic_prefix,
            "PAYHOOKS_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "PAYHOOKS_CONSUMER_GROUP": settings.consumer_group,
            "PAYHOOKS_RETRY_DELAYS": ",".join(f"{d}s" for d in settings.retry_delays),
            "PAYHOOKS_CONSUMER_INPROCESS_WAIT_MAX_SECONDS": "0.02",
            "PAYHOOKS_PAYSTACK_SECRET_KEY": SECRET,
            "PAYHOOKS_LOG_FORMAT": "json",
            **extra,
        }


PYTHON = sys.executable
