"""Consumer stage: credits/s draining a backlog of events for pre-initialized payments, against
pgbench running the per-event credit transaction (same SQL, same database, same connection
count: one per consumer process).

Each repetition runs, alternating baseline and subject (`repetition_plan`): pgbench -c1,
1 consumer, the batched floor, pgbench -c2, 2 consumers, the lock pair — 1 consumer with the
Redis lock on and with it off (PAYHOOKS_CONSUMER_REDIS_LOCK=false), back to back, which goes
first alternating per repetition — and 1 consumer with 1 % of events failing transiently (their
payments do not exist, so they go to the retry topics). Every run credits the same payments
from the same state, vacuumed and checkpointed (`reset_credits`). A rate is
settled events per second, from the moment the backlog is released (`drain`: the group stable,
every member owning its share, and warm) to the moment the group's committed offsets cover it,
so neither group start-up nor a process's first batch is counted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import TopicPartition
from sqlalchemy.engine import make_url

from kernel.kafka_client import new_consumer, new_producer
from kernel.settings import ConsumerKnobs, Settings
from kernel.topics import delete_topics, ensure_topics
from payhooks_devtools.bench import batch_floor
from payhooks_devtools.bench.context import BenchContext
from payhooks_devtools.bench.ledger import amount_of, envelope, reset_credits, seed_payments
from payhooks_devtools.bench.phases import Phases
from payhooks_devtools.bench.servers import ServerCpu
from payhooks_devtools.bench.stats import Figure
from payhooks_devtools.localnet import free_port, stop_process
from payhooks_devtools.stack.probes import pg_connect
from schemas.names import main_topic

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
PG_REFERENCES = "pg"
BATCH_REFERENCES = "pb"
CONSUMER_REFERENCES = "c"
TRANSIENT_REFERENCES = "missing-"  # the 1 % whose payments do not exist
WARM_UP_REFERENCES = "cw"  # reset with the consumer's payments (same prefix)
HOLD_SECONDS = 180  # longest the backlog's transaction may stay open while the group forms

# The credit transaction the consumer runs per event, as the seed's credit_user did it.
CREDIT_SQL = """\
SELECT nextval('bench_seq') AS n \\gset
BEGIN;
SELECT id AS pid, wallet_id AS wid, amount AS amt FROM payments
  WHERE reference = 'pg' || :n FOR UPDATE \\gset
SELECT id FROM wallets WHERE id = :wid FOR UPDATE;
INSERT INTO ledger_transactions (reference, payment_id, wallet_id, amount, currency, event_id)
  VALUES ('pg' || :n, :pid, :wid, :amt, 'NGN', 'evt-pg' || :n);
UPDATE wallets SET balance = balance + :amt, updated_at = now() WHERE id = :wid;
UPDATE payments SET state = 'completed', credited = true, processing_completed_at = now(),
  updated_at = now() WHERE id = :pid;
INSERT INTO processed_events (event_id, provider, event_type, reference, outcome)
  VALUES ('evt-pg' || :n, 'paystack', 'charge.success', 'pg' || :n, 'applied')
  ON CONFLICT DO NOTHING;
COMMIT;
"""


@dataclass(frozen=True)
class ConsumerConfig:
    events: int = 20_000
    repetitions: int = 3
    transient_every: int = 100  # 1 %
    # The batched-SQL floor's credits per transaction: the consumer's largest batch, its default.
    batch_size: int = ConsumerKnobs.model_fields["consumer_batch_size"].default


@dataclass
class ConsumerRuns:
    rates: dict[str, list[float]] = field(default_factory=dict)
    bounds: dict[str, list[dict[str, float | None]]] = field(default_factory=dict)  # Drained extras

    def add(self, name: str, result: float | Drained) -> None:
        if isinstance(result, Drained):
            bound = {"lock_wait_share": round(result.lock_wait_share, 3),
                     "cpu_us_per_credit": round(result.cpu_us_per_credit, 1),
                     "machine_busy": round(result.machine_busy, 3),
                     "warmup_seconds": round(result.warmup_seconds, 2),
                     "postgres_us_per_credit": round(result.postgres_us_per_credit, 1),
                     "kafka_us_per_credit": result.kafka_us_per_credit and
                                            round(result.kafka_us_per_credit, 1),
                     **result.members}  # fmt: skip
            self.bounds.setdefault(name, []).append(bound)
            result = result.rate
        self.rates.setdefault(name, []).append(result)


Records = list[tuple[bytes, bytes]]  # key, value


def backlog(count: int, failing_every: int = 0) -> Records:
    """`count` events for payments c0.. (every `failing_every`-th for a payment that is missing)."""
    records = []
    for n in range(count):
        failing = failing_every and n % failing_every == 0
        reference = f"{TRANSIENT_REFERENCES}{n}" if failing else f"{CONSUMER_REFERENCES}{n}"
        records.append((reference.encode(), envelope(reference, amount_of(n))))
    return records


def warm_up(settings: Settings) -> int:
    """One event per main partition, for payments cw0..: each member of a stable group settles
    a batch of them before the drain, its connections made and caches filled."""
    producer = new_producer(settings, "bench")
    topic = main_topic(settings.topic_prefix)
    for partition in range(settings.topic_partitions):
        reference = f"{WARM_UP_REFERENCES}{partition}"
        value = envelope(reference, amount_of(partition))
        producer.produce(topic, key=reference.encode(), value=value, partition=partition)
    if producer.flush(30):
        raise RuntimeError("Kafka did not take the warm-up events in 30 s")
    return settings.topic_partitions


class HeldBacklog:
    """The backlog produced inside one open Kafka transaction: the consumers (read_committed)
    see none of it until `release()` commits it, then every record at once: the drain of a real
    backlog by a group that was already there, without timing the producer."""

    def __init__(self, settings: Settings, records: Records) -> None:
        self._producer = new_producer(
            settings,
            "bench",
            {
                "linger.ms": 50,
                "transactional.id": f"{settings.topic_prefix}-backlog",
                "transaction.timeout.ms": HOLD_SECONDS * 1000,
            },
        )
        self._producer.init_transactions(30)
        self._producer.begin_transaction()
        self._open = True
        topic = main_topic(settings.topic_prefix)
        for key, value in records:
            self._producer.produce(topic, key=key, value=value)
            self._producer.poll(0)
        if self._producer.flush(120):
            raise RuntimeError("Kafka did not take the backlog in 120 s")

    def release(self) -> None:
        self._producer.commit_transaction(30)
        self._open = False

    def close(self) -> None:
        if self._open:
            self._producer.abort_transaction(30)
            self._open = False


class CommittedOffsets:
    """The group's committed offsets on the main topic, summed over partitions."""

    def __init__(self, settings: Settings) -> None:
        self._reader = new_consumer(settings, "bench", {"group.id": settings.consumer_group})
        self._parts = [
            TopicPartition(main_topic(settings.topic_prefix), p)
            for p in range(settings.topic_partitions)
        ]

    def total(self) -> int:
        return sum(max(tp.offset, 0) for tp in self._reader.committed(self._parts, timeout=30))

    def close(self) -> None:
        self._reader.close()


@dataclass
class MemberLog:
    """The partitions one consumer's JSON log says it owns now. Read incrementally (whole lines
    only), so polling it is cheap."""

    path: Path
    owned: set[str] = field(default_factory=set)
    _read: int = 0  # bytes of whole lines already applied

    def refresh(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as log:
            log.seek(self._read)
            chunk = log.read()
        whole = chunk[: chunk.rfind(b"\n") + 1]
        self._read += len(whole)
        for line in whole.decode(errors="replace").splitlines():
            self.apply(line)

    def apply(self, line: str) -> None:
        if '"consumer.partitions_' not in line:
            return
        event = json.loads(line)
        if event["event"] == "consumer.partitions_assigned":
            self.owned |= set(event["partitions"])
        else:  # revoked, lost
            self.owned -= set(event["partitions"])


@dataclass
class GroupWatch:
    """The group as its members' logs tell it. Stable: every member owns a share and together
    they own every partition once. With cooperative-sticky a member that joins a moment after
    the first gets its share in a second rebalance, each one a heartbeat interval or so later:
    until then the first member owns everything."""

    members: list[MemberLog]
    wanted: int  # partitions over every subscribed topic
    metrics_ports: list[int] = field(default_factory=list)  # each member's /metrics

    @classmethod
    def of(cls, logs: list[Path], wanted: int) -> GroupWatch:
        return cls([MemberLog(log) for log in logs], wanted)

    def refresh(self) -> None:
        for member in self.members:
            member.refresh()

    def stable(self) -> bool:
        owned = [member.owned for member in self.members]
        union = set().union(*owned)
        return all(owned) and len(union) == self.wanted == sum(map(len, owned))

    def describe(self) -> str:
        return ", ".join(
            f"member {n}: {len(m.owned)} partitions" for n, m in enumerate(self.members)
        )


def wait_stable(watch: GroupWatch, procs: list[subprocess.Popen[bytes]]) -> None:
    """Poll the members' logs until the group is stable; a member that exits or 120 s without
    a stable group stops the run."""
    deadline = time.monotonic() + 120
    watch.refresh()
    while not watch.stable():
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop_all(procs)
            where = watch.members[0].path
            raise RuntimeError(
                f"the consumer group is not stable ({watch.describe()}); see {where}"
            )
        time.sleep(0.05)
        watch.refresh()


def start_consumers(
    ctx: BenchContext, settings: Settings, processes: int, name: str, **env: str
) -> tuple[list[subprocess.Popen[bytes]], GroupWatch]:
    """Start `processes` consumers and wait until the group is stable (`GroupWatch.stable`)."""
    child_env = ctx.child_env(settings, **env)
    logs = [ctx.workdir / f"{name}-{n}.log" for n in range(processes)]
    ports = [free_port() for _ in logs]
    procs = []
    for log, port in zip(logs, ports, strict=True):
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "payhooks", "consumer"],
                    env={**child_env, "PAYHOOKS_CONSUMER_METRICS_PORT": str(port)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    watch = GroupWatch.of(logs, settings.topic_partitions * (1 + len(settings.retry_delays)))
    watch.metrics_ports = ports
    wait_stable(watch, procs)
    return procs, watch


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()  # all at once: they leave the group together
    for proc in procs:
        stop_process(proc)


@dataclass
class Drained:
    """One drain: its rate, and what bounds it."""

    rate: float
    lock_wait_share: float  # of the sampled consumer backends, the share waiting on a lock
    cpu_us_per_credit: float  # the consumer processes' CPU per settled event
    machine_busy: float  # share of all cores' time not idle during the drain (any process)
    warmup_seconds: float  # from starting the processes to the clock's start (not counted)
    postgres_us_per_credit: float  # CPU of the PostgreSQL backends serving the bench database
    kafka_us_per_credit: float | None  # CPU of the Kafka broker (shared: an upper bound)
    members: dict[str, float]  # where the members' time went (bench/phases.py)


class LockWaits(threading.Thread):
    """Samples pg_stat_activity every 20 ms: how often the consumers' PostgreSQL backends
    (application_name payhooks) are waiting on a row or transaction lock rather than working."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self._conn = pg_connect(database_url)
        self._conn.autocommit = True
        self.backend_pid = self._conn.get_backend_pid()
        self._finished = threading.Event()
        self.waiting = self.active = 0

    def run(self) -> None:
        with self._conn.cursor() as cur:
            while not self._finished.wait(0.02):
                cur.execute(
                    "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'payhooks' AND state = 'active'"
                )
                waiting, active = cur.fetchone() or (0, 0)
                self.waiting += waiting
                self.active += active

    def share(self) -> float:
        self._finished.set()
        self.join()
        self._conn.close()
        return self.waiting / self.active if self.active else 0.0


def cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU the processes have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in procs:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def machine_times() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (Linux /proc/stat)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def drain(
    ctx: BenchContext, settings: Settings, processes: int, records: Records, **env: str
) -> Drained:
    """Settled events/s of `processes` consumers draining `records`. The clock starts when the
    backlog is released at once (`HeldBacklog`) to a group that is stable and warm (every member
    has settled its warm-up events): neither group start-up nor a process's first batch
    (connections, caches) is counted. `settings` names topics of this drain alone, deleted
    afterwards."""
    ensure_topics(settings)
    offsets = CommittedOffsets(settings)
    launched = time.monotonic()
    procs, watch = start_consumers(ctx, settings, processes, settings.consumer_group, **env)
    phases = Phases(watch.metrics_ports)
    waits = held = None
    try:
        warm = warm_up(settings)
        settle(offsets, warm, procs)
        held = HeldBacklog(settings, records)
        waits = LockWaits(ctx.database_url)
        servers = ServerCpu.of(settings, exclude=frozenset({waits.backend_pid}))
        waits.start()
        servers.start()
        phases.start()
        start, cpu_at_start = time.monotonic(), cpu_seconds(procs)
        busy_at_start, total_at_start = machine_times()
        held.release()
        settle(offsets, warm + len(records), procs)
        elapsed, cpu = time.monotonic() - start, cpu_seconds(procs) - cpu_at_start
        busy, total = machine_times()
        postgres, kafka = servers.used()
        per_credit = 1e6 / len(records)
        members = phases.summary(elapsed)
        return Drained(
            rate=len(records) / elapsed,
            lock_wait_share=waits.share(),
            cpu_us_per_credit=cpu * per_credit,
            machine_busy=(busy - busy_at_start) / max(1, total - total_at_start),
            warmup_seconds=start - launched,
            postgres_us_per_credit=postgres * per_credit,
            kafka_us_per_credit=None if kafka is None else kafka * per_credit,
            members=members,
        )
    finally:
        if waits is not None and waits.is_alive():
            waits.share()
        stop_all(procs)
        if held is not None:
            held.close()
        offsets.close()
        delete_topics(settings)


def settle(offsets: CommittedOffsets, target: int, procs: list[subprocess.Popen[bytes]]) -> None:
    """Until the group's committed offsets on the main topic reach `target` (600 s at most)."""
    deadline = time.monotonic() + 600
    while (done := offsets.total()) < target:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"the consumers stopped at {done}/{target} settled")
        time.sleep(0.05)


def pgbench(database_url: str, clients: int, transactions: int) -> float:
    """Credits/s of pgbench running the per-event credit transaction on `clients` connections."""
    return _pgbench(database_url, CREDIT_SQL, "bench_seq", clients, transactions)


def pgbench_batched(database_url: str, batches: int, batch_size: int) -> float:
    """Credits/s of pgbench running the consumer's batch transaction (`batch_floor.script`),
    `batch_size` credits per transaction, on one connection: the floor of what one consumer
    process could do. `batch_floor.prepare` made the batches' arrays."""
    tps = _pgbench(database_url, batch_floor.script(), "bench_batch_seq", 1, batches)
    return tps * batch_size


def _pgbench(
    database_url: str,
    script_text: str,
    sequence: str,
    clients: int,
    transactions: int,
    **variables: int,
) -> float:
    url = make_url(database_url)
    with pg_connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(f"ALTER SEQUENCE {sequence} RESTART WITH 1")
    conn.close()
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(script_text)
    command = [PGBENCH, "-n", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    command += ["-U", url.username or "postgres", "-c", str(clients), "-j", str(clients)]
    command += [f"--define={name}={value}" for name, value in variables.items()]
    command += ["-t", str(transactions // clients), "-f", script.name, url.database or ""]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    Path(script.name).unlink()
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr.strip()[-500:]}")
    out = done.stdout
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if match is None:
        raise RuntimeError(f"pgbench gave no rate: {out.strip()[-300:]}")
    return float(match.group(1))


def run_consumer_stage(ctx: BenchContext, config: ConsumerConfig) -> ConsumerRuns:
    count = config.events
    ctx.progress(f"consumer: {count} payments for pgbench and the consumers…")
    with pg_connect(ctx.database_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE SEQUENCE IF NOT EXISTS bench_seq")
        cur.execute("CREATE SEQUENCE IF NOT EXISTS bench_batch_seq")
    conn.close()
    seed_payments(ctx.database_url, PG_REFERENCES, count + 1)
    seed_payments(ctx.database_url, BATCH_REFERENCES, count)
    batches = batch_floor.prepare(ctx.database_url, BATCH_REFERENCES, count, config.batch_size)
    seed_payments(ctx.database_url, CONSUMER_REFERENCES, count)
    seed_payments(ctx.database_url, WARM_UP_REFERENCES, ctx.settings.topic_partitions)
    backlogs = Backlogs(backlog(count), backlog(count, config.transient_every))
    runs = ConsumerRuns()
    for repetition in range(config.repetitions):
        ctx.progress(f"consumer: repetition {repetition + 1}/{config.repetitions}")
        _repetition(ctx, config, backlogs, repetition, runs, batches=batches)
    return runs


@dataclass(frozen=True)
class Backlogs:
    clean: Records
    transient: Records  # 1 % for payments that do not exist: retried, then dead-lettered


# Every run starts from these payments uncredited (vacuumed, checkpointed: `reset_credits`).
RESET = (PG_REFERENCES, BATCH_REFERENCES, CONSUMER_REFERENCES, TRANSIENT_REFERENCES)
LOCK_ON = "1 consumer, lock on"
LOCK_OFF = "1 consumer, lock off"
TRANSIENT = "1 consumer, 1% transient"
CLEAN = "1 consumer, 0% (retry pair)"


def repetition_plan(rep: int) -> list[str]:
    """The runs of repetition `rep`, in order. Each pair of drains that makes a ratio of its own
    (the lock on / off; 1 % transient / 0 %) runs back to back, which of the two goes first
    alternating per repetition, so neither side always inherits what the run before it left (a
    loaded machine, a broker deleting the last drain's topics): its ratio compares like with
    like. The other figures keep their drains and order."""
    lock_pair = [LOCK_ON, LOCK_OFF] if rep % 2 == 0 else [LOCK_OFF, LOCK_ON]
    retry_pair = [CLEAN, TRANSIENT] if rep % 2 == 0 else [TRANSIENT, CLEAN]
    return ["pgbench -c1", "1 consumer", "pgbench batched", "pgbench -c2", "2 consumers",
            *lock_pair, *retry_pair]  # fmt: skip


def _repetition(
    ctx: BenchContext,
    config: ConsumerConfig,
    backlogs: Backlogs,
    rep: int,
    runs: ConsumerRuns,
    *,
    batches: int,
) -> None:
    count = config.events

    def topics(name: str) -> Settings:
        """Topics (main, retry, DLQ) and a group of one drain's own."""
        return ctx.stage_settings(f"c{rep}-{name}")

    clean = backlogs.clean
    run: dict[str, Callable[[], float | Drained]] = {
        "pgbench -c1": lambda: pgbench(ctx.database_url, 1, count),
        "1 consumer": lambda: drain(ctx, topics("one"), 1, clean),
        "pgbench batched": lambda: pgbench_batched(ctx.database_url, batches, config.batch_size),
        "pgbench -c2": lambda: pgbench(ctx.database_url, 2, count),
        "2 consumers": lambda: drain(ctx, topics("two"), 2, clean),
        LOCK_ON: lambda: drain(ctx, topics("lock"), 1, clean),
        LOCK_OFF: lambda: drain(
            ctx, topics("nolock"), 1, clean, PAYHOOKS_CONSUMER_REDIS_LOCK="false"
        ),
        TRANSIENT: lambda: drain(ctx, topics("transient"), 1, backlogs.transient),
        CLEAN: lambda: drain(ctx, topics("clean"), 1, clean),
    }
    for name in repetition_plan(rep):
        reset_credits(ctx.database_url, *RESET)
        runs.add(name, run[name]())
        bound = runs.bounds[name][-1] if name in runs.bounds else ""
        ctx.progress(f"  {name:<28} {runs.rates[name][-1]:>8.0f} /s  {bound}")


def consumer_figures(runs: ConsumerRuns, batch_size: int) -> list[Figure]:
    r = {name: tuple(rates) for name, rates in runs.rates.items()}
    return [
        Figure("consumer", "Consumer credits/s, 1 process", "/s", "1 consumer", r["1 consumer"],
               "pgbench -c1", r["pgbench -c1"], target=1.0),
        Figure("consumer", "Consumer credits/s, 1 process vs the batched-SQL floor", "/s",
               "1 consumer", r["1 consumer"], f"pgbench {batch_size}/txn",
               r["pgbench batched"], target=0.5),
        Figure("consumer", "Consumer credits/s, 2 processes", "/s", "2 consumers",
               r["2 consumers"], "pgbench -c2", r["pgbench -c2"], target=1.0),
        Figure("consumer", "Consumer scaling: 2 processes vs 1", "/s", "2 consumers",
               r["2 consumers"], "1 consumer", r["1 consumer"], target=1.0,
               extra={"bounds_2_consumers": runs.bounds.get("2 consumers", []),
                      "bounds_1_consumer": runs.bounds.get("1 consumer", [])}),
        Figure("consumer", "Retry path: 1% transient vs 0%", "/s", "1% transient",
               r[TRANSIENT], "0%", r[CLEAN], target=0.95),
        Figure("consumer", "Lock cost: Redis lock on vs off", "/s", "lock on", r[LOCK_ON],
               "lock off", r[LOCK_OFF], target=0.9,
               extra={"bounds_lock_on": runs.bounds.get(LOCK_ON, []),
                      "bounds_lock_off": runs.bounds.get(LOCK_OFF, [])}),
    ]  # fmt: skip
