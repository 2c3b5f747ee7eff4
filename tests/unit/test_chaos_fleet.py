"""The chaos fleet waits for a restarted consumer to be up before the clean-stop check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from payhooks_devtools.chaos.fleet import Fleet, Member

SLOW_START = "import sys, time; time.sleep({delay}); print({line!r}, flush=True); time.sleep(60)"


def _member(fleet: Fleet, name: str, delay: float, line: str) -> subprocess.Popen[bytes]:
    fleet.logs.mkdir(parents=True, exist_ok=True)
    member = Member(name, [], starts=1)
    with (fleet.logs / f"{name}.1.log").open("wb") as log:
        member.process = subprocess.Popen(
            [sys.executable, "-c", SLOW_START.format(delay=delay, line=line)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    fleet.members[name] = member
    return member.process


def test_a_member_still_starting_is_waited_for_until_it_logs_that_it_started(
    tmp_path: Path,
) -> None:
    fleet = Fleet(env={}, logs=tmp_path)
    process = _member(fleet, "consumer-1", 0.5, '{"event": "consumer.started"}')
    try:
        fleet.wait_logged(["consumer-1"], '"consumer.started"', timeout=30)
        assert '"consumer.started"' in (tmp_path / "consumer-1.1.log").read_text()
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()


def test_a_member_that_never_logs_it_is_waited_for_no_longer_than_the_timeout(
    tmp_path: Path,
) -> None:
    fleet = Fleet(env={}, logs=tmp_path)
    process = _member(fleet, "consumer-1", 0.0, '{"event": "something.else"}')
    try:
        fleet.wait_logged(["consumer-1"], '"consumer.started"', timeout=0.5)
        assert '"consumer.started"' not in (tmp_path / "consumer-1.1.log").read_text()
        assert process.poll() is None  # still running: the wait gave up, it did not kill
    finally:
        process.kill()
        process.wait()
