"""What the numbers were measured on, recorded with every result."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from kernel.settings import Settings
from payhooks_devtools.stack.probes import pg_connect


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _kafka_version() -> str:
    """From the running broker's classpath (the native stack's jars carry the version)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "kafka.Kafka" in text:
            match = re.search(r"kafka[-_](?:2\.\d+-)?(\d+\.\d+\.\d+)", text)
            return match.group(1) if match else "unknown (broker found, version not in path)"
    return "unknown (broker not a local process)"


def fsync_cost(folder: Path, seconds: float = 1.0) -> dict[str, float]:
    """8 KiB write + fdatasync in a loop on the file system at `folder` (where the native
    PostgreSQL keeps its data): a commit costs at least one of these."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench-fsync.tmp"
    block = os.urandom(8192)
    count = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            count += 1
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return {
        "fdatasync_per_s": round(count / elapsed),
        "usec_per_fdatasync": round(1e6 * elapsed / count, 1),
    }


def describe(settings: Settings, database_url: str, wrk_version: str) -> dict[str, Any]:
    with pg_connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT current_setting('server_version'), current_setting('fsync'), "
            "current_setting('synchronous_commit'), current_setting('data_directory')"
        )
        pg_version, fsync, sync_commit, data_dir = cur.fetchone() or ("?", "?", "?", ".")
    conn.close()
    redis_info = redis.Redis.from_url(settings.redis_url).info("server")
    parent = Path(data_dir).parent  # same file system as the data, never inside it
    fsync_dir = parent if os.access(parent, os.W_OK) else settings.state_dir
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": _kafka_version(),
        "postgresql": pg_version,
        "postgresql_fsync": fsync,
        "postgresql_synchronous_commit": sync_commit,
        "redis": str(redis_info.get("redis_version", "unknown")),
        "load_generator": wrk_version,
        "fsync": {"measured_in": str(fsync_dir), **fsync_cost(fsync_dir)},
        "other_load": _other_load(),
    }


def _other_load() -> str:
    """Whether something else heavy was running (a chaos run shares the machine's cores)."""
    out = subprocess.run(
        ["pgrep", "-fa", "payhooks chaos"], capture_output=True, text=True, check=False
    )
    return "payhooks chaos running" if out.stdout.strip() else "none seen"
