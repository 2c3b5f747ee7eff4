"""Kafka (KRaft, jars from Maven Central), PostgreSQL and Redis started as plain local processes."""

from __future__ import annotations

import base64
import glob
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from sqlalchemy.engine import make_url

from payhooks.stack import probes
from payhooks.stack.errors import StackError

KAFKA_VERSION = "4.1.1"
Progress = Callable[[str], None]


def _is_root() -> bool:
    return os.geteuid() == 0


def _run(command: list[str], *, what: str, timeout: float = 600) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise StackError(f"{what}: {command[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what}: gave no answer in {timeout:.0f} s") from exc
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"{what} failed (exit {done.returncode}): {last[0]}")
    return done.stdout


def _postgres_can_reach(folder: Path) -> bool:
    """Can the postgres user get into `folder` (it makes its own subfolder there)?"""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    test = shutil.which("test", path="/usr/bin:/bin") or "test"
    done = subprocess.run(
        [_runuser(), "-u", "postgres", "--", test, "-x", str(probe)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _runuser() -> str:
    """util-linux's runuser, which root uses to run PostgreSQL as the postgres user."""
    found = shutil.which("runuser") or next(
        (path for path in ("/usr/sbin/runuser", "/sbin/runuser") if Path(path).exists()), None
    )
    if found is None:
        raise StackError("runuser is not installed: run `apt-get install util-linux` as root")
    return found


def apt_install(package: str, binary: str, progress: Progress) -> None:
    """Install a Debian package when root; otherwise say exactly what to run."""
    if not _is_root() or shutil.which("apt-get") is None:
        raise StackError(
            f"{binary} is not installed: run `sudo apt-get install -y {package}` and try again"
        )
    progress(f"installing {package} from Debian's packages (apt-get)…")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise StackError(f"`{' '.join(command)}` failed: {done.stderr.strip()[-300:]}")


def wait_until(check: Callable[[], bool], *, seconds: float, what: str, log: Path | None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    hint = f"; see {log}" if log else ""
    raise StackError(f"{what} did not come up within {seconds:.0f} s{hint}")


def pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def stop_pid(pid_file: Path, *, seconds: float = 20) -> bool:
    pid = pid_alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and pid_alive(pid_file):
        time.sleep(0.1)
    if pid_alive(pid_file):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


class NativeRedis:
    name = "redis"

    def __init__(self, redis_url: str, state_dir: Path) -> None:
        self.url = redis_url
        self.address = probes.redis_address(redis_url)
        self.dir = state_dir / "redis"
        self.pid_file = self.dir / "redis.pid"
        self.log = self.dir / "redis.log"

    def answers(self) -> bool:
        return probes.redis_answers(self.url)

    def owned(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def start(self, progress: Progress) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            apt_install("redis-server", "redis-server", progress)
            binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.dir.mkdir(parents=True, exist_ok=True)
        progress(f"starting Redis on {self.address}…")
        _run(
            [
                binary,
                "--daemonize",
                "yes",
                "--bind",
                self.address.host,
                "--port",
                str(self.address.port),
                "--dir",
                str(self.dir.resolve()),
                "--pidfile",
                str(self.pid_file.resolve()),
                "--logfile",
                str(self.log.resolve()),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            what="starting redis-server",
        )
        wait_until(self.answers, seconds=15, what="Redis", log=self.log)

    def stop(self) -> bool:
        return stop_pid(self.pid_file)


class NativePostgres:
    name = "postgres"

    def __init__(self, database_url: str, state_dir: Path) -> None:
        self.url = database_url
        self.address = probes.postgres_address(database_url)
        self.dir = self._reachable_dir((state_dir / "postgres").resolve())
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"

    @staticmethod
    def _reachable_dir(wanted: Path) -> Path:
        """`wanted`, or when root and the postgres user cannot reach it (a private parent folder),
        a folder of its own under the system temp dir, named after `wanted` so it is found again."""
        if not _is_root() or _postgres_can_reach(wanted.parent):
            return wanted
        digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"payhooks-postgres-{digest}"

    def answers(self) -> bool:
        return probes.postgres_answers(self.url)

    def owned(self) -> bool:
        return pid_alive(self.data / "postmaster.pid") is not None

    def _bin(self, progress: Progress) -> Path:
        found = shutil.which("pg_ctl")
        if found is None:
            candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
            if not candidates:
                apt_install("postgresql", "PostgreSQL", progress)
                candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
            if not candidates:
                raise StackError("PostgreSQL's pg_ctl was not found after installing postgresql")
            found = candidates[-1]
        return Path(found).resolve().parent

    def _as_owner(self, command: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root, so root hands them to the postgres user.
        return [_runuser(), "-u", "postgres", "--", *command] if _is_root() else command

    def start(self, progress: Progress) -> None:
        bindir = self._bin(progress)
        self.dir.mkdir(parents=True, exist_ok=True)
        if _is_root():
            shutil.chown(self.dir, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            progress(f"creating a PostgreSQL cluster in {self.data}…")
            user = make_url(self.url).username or "postgres"
            _run(
                self._as_owner(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        user,
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--no-sync",
                    ]
                ),
                what="initdb",
            )
        progress(f"starting PostgreSQL on {self.address}…")
        options = (
            f"-p {self.address.port} -c listen_addresses={self.address.host} "
            f"-k {self.dir} -c max_connections=300"
        )
        _run(
            self._as_owner(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                ]
            ),
            what="pg_ctl start",
            timeout=90,
        )
        wait_until(self.answers, seconds=30, what="PostgreSQL", log=self.log)

    def stop(self) -> bool:
        if not self.owned():
            return False
        bindir = self._bin(lambda _: None)
        _run(
            self._as_owner(
                [str(bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
            ),
            what="pg_ctl stop",
        )
        return True


class NativeKafka:
    name = "kafka"

    def __init__(self, bootstrap: str, state_dir: Path, cache_dir: Path) -> None:
        self.bootstrap = bootstrap
        self.address = probes.kafka_address(bootstrap)
        self.controller = probes.Address(self.address.host, self.address.port + 1)
        self.dir = state_dir.resolve() / "kafka"
        self.data = self.dir / "data"
        self.pid_file = self.dir / "kafka.pid"
        self.log = self.dir / "kafka.log"
        self.libs = cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"

    def answers(self) -> bool:
        return probes.kafka_answers(self.bootstrap)

    def owned(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def start(self, progress: Progress) -> None:
        java = self._java()
        self._fetch_jars(progress)
        if probes.port_open(self.controller):
            raise StackError(
                f"port {self.controller.port} (Kafka's controller, the broker port + 1) is taken "
                "by another program: stop it or choose another PAYHOOKS_KAFKA_BOOTSTRAP port"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            _run(
                [
                    java,
                    "-cp",
                    f"{self.libs}/*",
                    "kafka.tools.StorageTool",
                    "format",
                    # One token: a urlsafe id may start with "-", which argparse takes for a flag.
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(config),
                    "--standalone",
                ],
                what="formatting Kafka storage",
            )
        progress(f"starting Kafka {KAFKA_VERSION} (KRaft) on {self.address}…")
        log4j = resources.files("payhooks.stack.kafka").joinpath("log4j2.yaml")
        broker = [
            java,
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(config),
        ]
        # Detached through sh + setsid, as redis-server --daemonize is: the broker outlives this
        # process, and no Popen is left behind for Python to warn about. Each partition holds
        # open files, so the soft limit on them is raised to the hard one first.
        launch = (
            'ulimit -n "$(ulimit -Hn)" 2>/dev/null; '
            f"setsid {shlex.join(broker)} >>{shlex.quote(str(self.log))} 2>&1 </dev/null & echo $!"
        )
        pid = _run(["sh", "-c", launch], what="starting Kafka").strip()
        self.pid_file.write_text(pid)
        wait_until(self._ready_or_dead, seconds=90, what="Kafka", log=self.log)

    def _ready_or_dead(self) -> bool:
        if pid_alive(self.pid_file) is None:
            raise StackError(f"Kafka exited during start-up; see {self.log}")
        return self.answers()

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise StackError(
                "java is not installed: Kafka needs Java 17+ (`apt-get install openjdk-17-jre`)"
            )
        return java

    def _fetch_jars(self, progress: Progress) -> None:
        if (self.libs / ".complete").exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "mvn is not installed: it fetches Kafka's jars from Maven Central "
                "(`apt-get install maven`)"
            )
        progress(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central into {self.libs}…")
        staging = self.libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        pom = self.libs.parent / "pom.xml"
        pom.parent.mkdir(parents=True, exist_ok=True)
        pom.write_text(resources.files("payhooks.stack.kafka").joinpath("pom.xml").read_text())
        _run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom),
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ],
            what="mvn (fetching Kafka jars)",
        )
        (staging / ".complete").write_text(KAFKA_VERSION)
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)

    def _write_config(self) -> Path:
        host, port, cport = self.address.host, self.address.port, self.controller.port
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{host}:{cport}",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        config = self.dir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))
        return config

    def stop(self) -> bool:
        return stop_pid(self.pid_file, seconds=30)
