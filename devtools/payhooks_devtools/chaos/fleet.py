"""The real payhooks processes of a chaos run: gateways and consumers, killed and restarted."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from payhooks_devtools.localnet import stop_process


@dataclass
class Member:
    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0


@dataclass
class Fleet:
    env: dict[str, str]
    logs: Path
    members: dict[str, Member] = field(default_factory=dict)

    def add(self, name: str, args: list[str]) -> Member:
        member = Member(name, args)
        self.members[name] = member
        self.start(name)
        return member

    def start(self, name: str) -> None:
        member = self.members[name]
        member.starts += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.{member.starts}.log").open("wb") as log:
            member.process = subprocess.Popen(
                [sys.executable, "-m", "payhooks", *member.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, name: str) -> None:
        """SIGKILL: no clean-up, no commit, no goodbye."""
        process = self.members[name].process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def terminate(self, name: str, timeout: float = 30) -> None:
        process = self.members[name].process
        if process is not None:
            stop_process(process, timeout=timeout)

    def terminate_all(self, names: list[str], *, timeout: float) -> dict[str, float]:
        """SIGTERM these members at once; the seconds each took to exit. One still running
        after `timeout` is SIGKILLed and counts as `inf`; `exit_code(name)` tells how it ended."""
        started = time.monotonic()
        running = {}
        for name in names:
            process = self.members[name].process
            if process is not None and process.poll() is None:
                process.terminate()
                running[name] = process
        took: dict[str, float] = {}
        while running and time.monotonic() - started < timeout:
            for name, process in list(running.items()):
                if process.poll() is not None:
                    took[name] = time.monotonic() - started
                    del running[name]
            time.sleep(0.05)
        for name, process in running.items():
            process.kill()
            process.wait()
            took[name] = math.inf
        return took

    def wait_logged(self, names: list[str], marker: str, *, timeout: float) -> None:
        """Until each running member's current log holds `marker` (or `timeout` s pass): a
        member started moments ago may still be importing, without its signal handlers yet."""
        deadline = time.monotonic() + timeout
        waiting = [name for name in names if self.alive(name)]
        while waiting and time.monotonic() < deadline:
            waiting = [
                name for name in waiting if self.alive(name) and marker not in self._log(name)
            ]
            time.sleep(0.1)

    def _log(self, name: str) -> str:
        member = self.members[name]
        path = self.logs / f"{name}.{member.starts}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def exit_code(self, name: str) -> int | None:
        process = self.members[name].process
        return None if process is None else process.poll()

    def alive(self, name: str) -> bool:
        process = self.members[name].process
        return process is not None and process.poll() is None

    def stop_all(self) -> None:
        for name in self.members:
            self.terminate(name)
