"""CPU used by the servers a drain runs against (Linux /proc): the PostgreSQL backends of the
benchmark's database and the Kafka broker listening on the bootstrap port. Per credit, next to
the consumers' own CPU, it shows where a machine's cores go and so what a drain needs to scale."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from kernel.settings import Settings

LISTEN = "0A"  # /proc/net/tcp state of a listening socket


def _cpu(pid: int) -> float:
    """User + system CPU seconds of one process so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cmdlines() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found[int(entry.parent.name)] = entry.read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
    return found


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == LISTEN and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def listener(port: int, candidates: dict[int, str]) -> int | None:
    """The pid among `candidates` that listens on `port`, if any can be seen."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    for pid in candidates:
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if links & sockets:
            return pid
    return None


@dataclass
class ServerCpu:
    """CPU seconds the PostgreSQL backends serving `database` and the Kafka broker have used
    since `start()`; a backend that appears later counts from zero."""

    database: str
    kafka_port: int
    exclude: frozenset[int] = frozenset()  # backends that are not the consumers' (samplers)
    _postgres: dict[int, float] | None = None
    _kafka: tuple[int, float] | None = None

    @classmethod
    def of(cls, settings: Settings, exclude: frozenset[int] = frozenset()) -> ServerCpu:
        port = settings.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1]
        return cls(make_url(settings.database_url).database or "", int(port), exclude)

    def _backends(self, cmdlines: dict[int, str]) -> list[int]:
        return [
            pid
            for pid, line in cmdlines.items()
            if line.startswith("postgres: ")
            and f" {self.database} " in line
            and pid not in self.exclude
        ]

    def start(self) -> None:
        cmdlines = _cmdlines()
        self._postgres = {pid: _cpu(pid) for pid in self._backends(cmdlines)}
        brokers = {pid: line for pid, line in cmdlines.items() if "kafka.Kafka" in line}
        broker = listener(self.kafka_port, brokers)
        self._kafka = (broker, _cpu(broker)) if broker is not None else None

    def used(self) -> tuple[float, float | None]:
        """(PostgreSQL backends, Kafka broker or None when not a local process) CPU seconds."""
        assert self._postgres is not None, "start() first"
        backends = self._backends(_cmdlines())
        postgres = sum(_cpu(pid) - self._postgres.get(pid, 0.0) for pid in backends)
        if self._kafka is None:
            return postgres, None
        broker, at_start = self._kafka
        return postgres, _cpu(broker) - at_start
