"""`python -m tests.fault_consumer <point> consumer …`: the real `payhooks` CLI, except that the
consumer SIGKILLs itself (like `kill -9`) when its batch reaches `point` ("after_db_commit",
"after_handoff_produce"). A test-only seam: production configuration cannot reach it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

import structlog

from consumer.entrypoints import worker
from payhooks.cli import main


def kill_at(point: str) -> Callable[[str], None]:
    def hook(reached: str) -> None:
        if reached == point:
            structlog.get_logger("payhooks.consumer").warning(
                "consumer.fault_injected", point=point
            )
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


if __name__ == "__main__":
    worker.fault_hook = kill_at(sys.argv[1])
    sys.argv = ["payhooks", *sys.argv[2:]]
    main()
