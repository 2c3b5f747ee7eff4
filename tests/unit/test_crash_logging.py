"""A long-running process that crashes says so on its log stream: one JSON line with the
traceback. A command for people keeps its one-line `error: …`."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAYHOOKS_CONSUMER_BATCH_SIZE": "0", "PAYHOOKS_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "payhooks", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_crashed_server_process_logs_one_json_line_with_its_traceback() -> None:
    crashed = run("consumer")  # the settings themselves are invalid: batch size 0

    assert crashed.returncode == 1
    [line] = crashed.stderr.strip().splitlines()
    entry = json.loads(line)
    assert entry["event"] == "process.crashed"
    assert entry["command"] == "consumer"
    assert entry["error"].startswith("ValidationError")
    assert "consumer_batch_size" in entry["exception"]
    assert "Traceback (most recent call last)" in entry["exception"]


def test_a_command_for_people_still_fails_in_one_plain_line() -> None:
    failed = run("reconcile")

    assert failed.returncode != 0
    [line] = failed.stderr.strip().splitlines()
    assert line.startswith("error: ")
