"""The real payhooks processes of a chaos run: gateways and consumers, killed and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from payhooks.localnet import stop_process


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

    def alive(self, name: str) -> bool:
        process = self.members[name].process
        return process is not None and process.poll() is None

    def stop_all(self) -> None:
        for name in self.members:
            self.terminate(name)
