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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy.engine import make_url

from payhooks_devtools.stack import probes
from payhooks_devtools.stack.errors import StackError

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

    @property
    def where(self) -> str:
        return str(self.address)

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

    @property
    def where(self) -> str:
        return str(self.address)

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

    def stop(self, mode: str = "fast") -> bool:
        """`fast` (clean) or `immediate` (no checkpoint: the next start runs crash recovery)."""
        if not self.owned():
            return False
        bindir = self._bin(lambda _: None)
        _run(
            self._as_owner(
                [str(bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]
            ),
            what="pg_ctl stop",
        )
        return True


@dataclass(frozen=True, slots=True)
class SecureListener:
    """A SASL_SSL (SCRAM) listener beside the plaintext one, on `port` + the node's index."""

    port: int
    keystore: Path  # PEM: the private key (PKCS#8) and the certificate chain
    users: tuple[tuple[str, str], ...] = ()  # SCRAM (name, password) created at format time
    mechanism: str = "SCRAM-SHA-512"


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """One KRaft node (broker and controller in one process)."""

    id: int
    broker: probes.Address
    controller: probes.Address
    dir: Path
    secure_port: int | None = None

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def pid_file(self) -> Path:
        return self.dir / "kafka.pid"

    @property
    def log(self) -> Path:
        return self.dir / "kafka.log"


class NativeKafka:
    """A KRaft cluster of `brokers` nodes: brokers on the bootstrap port and the next ones;
    controllers on the broker port + 1 (one node) or on the ports after the brokers' (several)."""

    name = "kafka"

    def __init__(
        self,
        bootstrap: str,
        state_dir: Path,
        cache_dir: Path,
        *,
        brokers: int = 1,
        secure: SecureListener | None = None,
    ) -> None:
        self.address = probes.kafka_address(bootstrap)
        self.dir = state_dir.resolve() / "kafka"
        self.secure = secure
        self.nodes = [self._node(index, brokers) for index in range(brokers)]
        self.bootstrap = ",".join(str(node.broker) for node in self.nodes)
        self.libs = cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"
        self.log = self.nodes[0].log

    def _node(self, index: int, brokers: int) -> KafkaNode:
        host, port = self.address.host, self.address.port
        controller = port + 1 if brokers == 1 else port + brokers + index
        return KafkaNode(
            id=index + 1,
            broker=probes.Address(host, port + index),
            controller=probes.Address(host, controller),
            # One node keeps the layout of a one-broker stack started before clusters existed.
            dir=self.dir if brokers == 1 else self.dir / f"node-{index + 1}",
            secure_port=self.secure.port + index if self.secure else None,
        )

    @property
    def where(self) -> str:
        return self.bootstrap

    def answers(self) -> bool:
        return probes.kafka_broker_count(self.bootstrap) >= len(self.nodes)

    def owned(self) -> bool:
        return any(pid_alive(node.pid_file) is not None for node in self.nodes)

    def start(self, progress: Progress) -> None:
        java = self._java()
        self._fetch_jars(progress)
        self._check_ports()
        cluster_id = self._cluster_id()
        for node in self.nodes:
            node.dir.mkdir(parents=True, exist_ok=True)
            config = self._write_config(node)
            if not (node.data / "meta.properties").exists():
                self._format(java, config, cluster_id)
        progress(f"starting Kafka {KAFKA_VERSION} (KRaft) on {self.bootstrap}…")
        for node in self.nodes:
            if pid_alive(node.pid_file) is None:
                self.start_node(node)
        wait_until(self._ready_or_dead, seconds=120, what="Kafka", log=self.log)

    def _check_ports(self) -> None:
        for node in self.nodes:
            if pid_alive(node.pid_file) is None and probes.port_open(node.controller):
                raise StackError(
                    f"port {node.controller.port} (a Kafka controller's) is taken by another "
                    "program: stop it or choose another PAYHOOKS_KAFKA_BOOTSTRAP port"
                )

    def _cluster_id(self) -> str:
        marker = self.dir / "cluster-id"
        if not marker.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            marker.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
        return marker.read_text().strip()

    def _format(self, java: str, config: Path, cluster_id: str) -> None:
        # One token: a urlsafe id may start with "-", which argparse takes for a flag.
        command = [java, "-cp", f"{self.libs}/*", "kafka.tools.StorageTool", "format"]
        command += [f"--cluster-id={cluster_id}", "-c", str(config)]
        if len(self.nodes) == 1:
            command.append("--standalone")
        for name, password in self.secure.users if self.secure else ():
            command += ["--add-scram", f"{self.secure_mechanism}=[name={name},password={password}]"]
        _run(command, what="formatting Kafka storage")

    @property
    def secure_mechanism(self) -> str:
        return self.secure.mechanism if self.secure else ""

    def start_node(self, node: KafkaNode) -> None:
        """Launch one node's JVM (also how chaos brings a killed broker back)."""
        log4j = resources.files("payhooks_devtools.stack.kafka").joinpath("log4j2.yaml")
        heap = ["-Xms256m", "-Xmx768m"] if len(self.nodes) == 1 else ["-Xms128m", "-Xmx384m"]
        broker = [
            self._java(),
            *heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(node.dir / "server.properties"),
        ]
        # Detached through sh + setsid, as redis-server --daemonize is: the broker outlives this
        # process, and no Popen is left behind for Python to warn about. Each partition holds
        # open files, so the soft limit on them is raised to the hard one first.
        launch = (
            'ulimit -n "$(ulimit -Hn)" 2>/dev/null; '
            f"setsid {shlex.join(broker)} >>{shlex.quote(str(node.log))} 2>&1 </dev/null & echo $!"
        )
        pid = _run(["sh", "-c", launch], what="starting Kafka").strip()
        node.pid_file.write_text(pid)

    def _ready_or_dead(self) -> bool:
        for node in self.nodes:
            if pid_alive(node.pid_file) is None:
                raise StackError(f"Kafka exited during start-up; see {node.log}")
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
        pom.write_text(
            resources.files("payhooks_devtools.stack.kafka").joinpath("pom.xml").read_text()
        )
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

    def _listeners(self, node: KafkaNode) -> dict[str, str]:
        host = node.broker.host
        listeners = {"PLAINTEXT": f"{host}:{node.broker.port}"}
        if node.secure_port is not None:
            listeners["SASL_SSL"] = f"{host}:{node.secure_port}"
        listeners["CONTROLLER"] = str(node.controller)
        advertised = ",".join(f"{name}://{where}" for name, where in listeners.items())
        protocols = ",".join(f"{name}:{name}" for name in listeners if name != "CONTROLLER")
        lines = {
            "listeners": ",".join(f"{name}://{where}" for name, where in listeners.items()),
            "advertised.listeners": advertised,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{protocols}",
        }
        if self.secure is not None:
            mechanism = self.secure.mechanism
            lines |= {
                "sasl.enabled.mechanisms": mechanism,
                f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                ),
                "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
                "listener.name.sasl_ssl.ssl.keystore.location": str(self.secure.keystore),
            }
        return lines

    def _quorum(self, node: KafkaNode) -> dict[str, str]:
        if len(self.nodes) == 1:
            return {"controller.quorum.bootstrap.servers": str(node.controller)}
        voters = ",".join(f"{n.id}@{n.controller}" for n in self.nodes)
        return {"controller.quorum.voters": voters}

    def _write_config(self, node: KafkaNode) -> Path:
        replicas = str(min(len(self.nodes), 3))
        min_isr = "2" if len(self.nodes) >= 3 else "1"
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(node.id),
            **self._quorum(node),
            **self._listeners(node),
            "log.dirs": str(node.data),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "1" if len(self.nodes) == 1 else "6",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "1" if len(self.nodes) == 1 else "6",
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
        }
        config = node.dir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))
        return config

    def stop(self) -> bool:
        stopped = [stop_pid(node.pid_file, seconds=30) for node in self.nodes]
        return any(stopped)
