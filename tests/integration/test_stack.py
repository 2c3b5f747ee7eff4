"""`payhooks stack` against the real servers: status, idempotent up, env, clear errors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kernel.settings import Settings
from payhooks_devtools.localnet import free_port
from payhooks_devtools.stack.native import NativePostgres

pytestmark = pytest.mark.integration


def payhooks(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payhooks", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=300,
        check=False,
    )


def test_status_shows_every_server_answering(stack_settings: Settings) -> None:
    done = payhooks("stack", "status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["kafka", "postgres", "redis"]
    assert all(line.split()[2] == "up" for line in lines)


def test_up_when_everything_is_up_changes_nothing(stack_settings: Settings) -> None:
    done = payhooks("stack", "up")
    assert done.returncode == 0, done.stderr
    assert "starting" not in done.stderr
    assert done.stdout.count(" up ") == 3


def test_env_prints_exports(stack_settings: Settings) -> None:
    done = payhooks("stack", "env")
    assert done.returncode == 0
    assert "export PAYHOOKS_KAFKA_BOOTSTRAP=127.0.0.1:9092" in done.stdout.splitlines()
    assert any(
        line.startswith("export PAYHOOKS_DATABASE_URL=") for line in done.stdout.splitlines()
    )


def test_a_port_taken_by_another_program_is_a_one_line_error(stack_settings: Settings) -> None:
    port = free_port()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen()

    def accept_and_hang_up() -> None:
        while True:
            try:
                connection, _ = squatter.accept()
            except OSError:
                return
            connection.close()

    threading.Thread(target=accept_and_hang_up, daemon=True).start()
    try:
        env = {**os.environ, "PAYHOOKS_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        done = payhooks("stack", "up", env=env)
    finally:
        squatter.close()
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert f"port {port} is taken by a program that is not redis" in done.stderr


def test_down_stops_nothing_it_did_not_start(tmp_path: os.PathLike[str]) -> None:
    env = {**os.environ, "PAYHOOKS_STATE_DIR": str(tmp_path)}
    done = payhooks("stack", "down", env=env)
    assert done.returncode == 0
    assert "nothing of ours was running" in done.stdout


def test_up_starts_a_private_stack_and_down_stops_exactly_it(tmp_path: Path) -> None:
    kafka_port, pg_port, redis_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PAYHOOKS_STATE_DIR": str(tmp_path / "state"),
        "PAYHOOKS_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "PAYHOOKS_DATABASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/payhooks",
        "PAYHOOKS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    try:
        started = payhooks("stack", "up", env=env)
        assert started.returncode == 0, started.stderr
        assert "starting Kafka" in started.stderr
        status = payhooks("stack", "status", env=env)
        assert status.returncode == 0
        assert status.stdout.count("started by payhooks") == 3
    finally:
        stopped = payhooks("stack", "down", env=env)
        pg_dir = NativePostgres(env["PAYHOOKS_DATABASE_URL"], tmp_path / "state").dir
        shutil.rmtree(pg_dir, ignore_errors=True)  # may sit outside tmp_path (see NativePostgres)
    assert stopped.stdout.strip() == "stopped: kafka, postgres, redis"
    after = payhooks("stack", "status", env=env)
    assert after.returncode == 1
    assert after.stdout.count("DOWN") == 3
    assert payhooks("stack", "status").returncode == 0  # the shared stack is untouched


def test_an_unreachable_database_is_a_one_line_error_naming_the_fix() -> None:
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/payhooks"

    done = payhooks("db", "upgrade", "--database-url", url)

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: PostgreSQL: connection to server")
    assert "check `payhooks stack status` or --database-url" in done.stderr


@pytest.mark.parametrize(
    ("tools", "message"),
    [((), "java is not installed"), (("java",), "mvn is not installed")],
    ids=["no-java", "no-mvn"],
)
def test_a_missing_tool_is_a_one_line_error_naming_the_fix(
    stack_settings: Settings, tmp_path: Path, tools: tuple[str, ...], message: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    env = {
        **os.environ,
        "PATH": str(bin_dir),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # no Kafka jars cached: mvn is needed
        "PAYHOOKS_STATE_DIR": str(tmp_path / "state"),
        "PAYHOOKS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
    }

    done = payhooks("stack", "up", env=env)

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert "apt-get install" in done.stderr
