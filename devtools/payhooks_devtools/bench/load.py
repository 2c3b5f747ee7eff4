"""The load generator (`wrk`, installed from apt when missing and root), the servers under test,
and CPU pinning: servers on every core but the last, the load generator on the last one, so the
generator never steals the server's core (on a single core nothing is pinned)."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from payhooks_devtools.localnet import stop_process, wait_http_ok
from payhooks_devtools.stack.native import apt_install

Progress = Callable[[str], None]

# wrk runs a Lua state per thread; every thread cycles through its share of pre-signed requests.
WRK_SCRIPT = """
local threads = {threads}
local requests = {{}}
local counter = 0
thread_index = 0  -- global: setup() sets it in each thread's state
local bodies = {{
{bodies}
}}

function setup(thread)
  thread:set("thread_index", thread_index)
  thread_index = thread_index + 1
end

function init(args)
  for i, item in ipairs(bodies) do
    local headers = {{["content-type"] = "application/json"}}
    if item[2] ~= "" then headers[ {header} ] = item[2] end
    requests[i] = wrk.format("POST", nil, headers, item[1])
  end
end

function request()
  local index = (thread_index + counter * threads) % #requests + 1
  counter = counter + 1
  return requests[index]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Pinning:
    server: str | None  # taskset CPU list, None when not pinned
    generator: str | None

    @classmethod
    def for_machine(cls, *, enabled: bool = True) -> Pinning:
        cores = sorted(os.sched_getaffinity(0))
        if not enabled or len(cores) < 2 or shutil.which("taskset") is None:
            return cls(None, None)
        return cls(",".join(map(str, cores[:-1])), str(cores[-1]))

    def server_command(self, command: list[str]) -> list[str]:
        return ["taskset", "-c", self.server, *command] if self.server else command

    def generator_command(self, command: list[str]) -> list[str]:
        return ["taskset", "-c", self.generator, *command] if self.generator else command


@dataclass(frozen=True)
class WrkRun:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    requests: int
    generator_cpu: float  # wrk's CPU seconds per wall second (1.0 = one core busy)
    server_cpu_us_per_request: float = 0.0  # the server's CPU per request (all its processes)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU used so far by a process and its descendants (Linux /proc): a
    server's cost per request that other load on the machine does not inflate much."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # it ended meanwhile
        total += (int(stat[11]) + int(stat[12])) / ticks  # utime, stime
        pending += [int(child) for child in children]
    return total


def ensure_wrk(progress: Progress) -> str:
    if shutil.which("wrk") is None:
        apt_install("wrk", "wrk", progress)
    return subprocess.run(
        ["wrk", "-v"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]


def lua_literal(text: str) -> str:
    """A Lua long-bracket string: no escapes to get wrong, whatever the body holds."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def write_wrk_script(
    path: Path, requests: Sequence[tuple[bytes, str]], header: str, threads: int
) -> Path:
    """`requests` are (body, signature) pairs; an empty signature sends no signature header."""
    bodies = ",\n".join(
        f"{{{lua_literal(body.decode())}, {lua_literal(signature)}}}"
        for body, signature in requests
    )
    path.write_text(WRK_SCRIPT.format(threads=threads, bodies=bodies, header=lua_literal(header)))
    return path


_RESULT = re.compile(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)")


def run_wrk(
    url: str, script: Path, *, connections: int, seconds: float, pinning: Pinning, threads: int
) -> WrkRun:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    out = subprocess.run(
        pinning.generator_command([*command, "-s", str(script), url]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = _RESULT.search(out)
    if match is None:
        raise RuntimeError(f"wrk gave no result: {out.strip()[-300:]}")
    requests, duration_us, p50, p99, status_errors, socket_errors = map(int, match.groups())
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return WrkRun(
        requests_per_second=requests / (duration_us / 1e6),
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        non_2xx=status_errors,
        socket_errors=socket_errors,
        requests=requests,
        generator_cpu=cpu / (duration_us / 1e6),
    )


@contextmanager
def serving(
    command: list[str], env: dict[str, str], ready_url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server until the block ends; ready when `ready_url` answers 200."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http_ok(ready_url, hint=f"; see {log}")
        yield process
    finally:
        stop_process(process)
