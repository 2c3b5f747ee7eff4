"""What the consumer's batch path costs per credit, in the consumer's own CPU: decode + re-verify,
the Redis locks, the batch transaction on the real PostgreSQL, the log lines — over fixed
500-record batches of pre-built Paystack webhooks, Kafka left out. A drain's CPU per credit moves
with the batch size it settles into (adaptive batching, per-batch fixed costs), so it hides
per-record changes on a busy machine; this holds the batch size fixed.

    python -m payhooks_devtools.bench.consumer_costs [--events N] [--repetitions R] \\
        [NAME=CODE_DIR ...]

Each NAME=CODE_DIR runs that checkout's code (on PYTHONPATH; `NAME=` is this one), the variants
alternating, each repetition on the same payments from the same state; it prints one JSON object:
main-thread CPU µs per credit per variant, (median, min, max). Its own database, dropped after.
Wrap it in `flock /tmp/payhooks-bench.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from kernel.settings import Settings
from payhooks_devtools.bench.ledger import (
    SECRET,
    amount_of,
    bench_database,
    envelope,
    reset_credits,
    seed_payments,
)

BATCH = 500
REFERENCES = "cc"


def _batch_path_us(events: int) -> float:
    """In this process (the child): main-thread CPU µs per credit of the batch path."""
    from consumer.bootstrap import bootstrap  # noqa: PLC0415 - the variant's code, in the child
    from consumer.domain.records import Delivery  # noqa: PLC0415
    from consumer.entrypoints import worker  # noqa: PLC0415
    from kernel.logs import configure_logging  # noqa: PLC0415

    try:  # the settings class per deployable, or the older single one
        from consumer.settings import ConsumerSettings as AppSettings  # noqa: PLC0415
    except ImportError:  # pragma: no cover - an older checkout
        from kernel.settings import Settings as AppSettings  # type: ignore[assignment] # noqa: PLC0415

    settings = AppSettings()
    topic = f"{settings.topic_prefix}.webhooks"  # the main topic, as a real consumer reads it
    deliveries = [
        Delivery(topic, 0, n, 0, None, envelope(f"{REFERENCES}{n}", amount_of(n)), {})
        for n in range(events)
    ]
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the log lines are written, to nowhere
    configure_logging("json")
    app = bootstrap(settings)
    _tune_gc()
    cpu, applied = 0.0, 0
    for start in range(0, events, BATCH):
        began = time.thread_time()
        results = app.handler.handle(deliveries[start : start + BATCH], worker.now_ms())
        _log_all(worker, results)
        cpu += time.thread_time() - began
        applied += sum(result.outcome == "applied" for result in results)
    app.close()
    if applied != events:
        raise RuntimeError(f"{applied} of {events} credited: the figure would mean nothing")
    return 1e6 * cpu / events


def _tune_gc() -> None:
    """The variant's GC set-up, as its `payhooks consumer` process does it after start-up."""
    try:
        from kernel.gc_tuning import tune_gc  # noqa: PLC0415 - the variant's code, if it has it
    except ImportError:  # pragma: no cover - an older checkout
        return
    tune_gc()


def _log_all(worker: Any, results: Sequence[Any]) -> None:
    """The batch's log lines as the checkout writes them (`log_results`, or older: per record)."""
    if hasattr(worker, "log_results"):
        worker.log_results(results)
        return
    for result in results:  # pragma: no cover - an older checkout
        worker.log_result(result)


def _run_variant(database_url: str, code: str, events: int) -> float:
    env = {
        **os.environ,
        "PAYHOOKS_DATABASE_URL": database_url,
        "PAYHOOKS_PAYSTACK_SECRET_KEY": SECRET,
        "PAYHOOKS_TOPIC_PREFIX": f"cc{uuid.uuid4().hex[:8]}",
        "PAYHOOKS_LOG_FORMAT": "json",
    }
    if code:
        env["PYTHONPATH"] = code
    command = [sys.executable, "-m", "payhooks_devtools.bench.consumer_costs"]
    out = subprocess.run(
        [*command, "--child", str(events)],
        env=env,
        cwd=code or None,  # `-m` puts the working directory first on sys.path, before PYTHONPATH
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def compare(variants: dict[str, str], events: int, repetitions: int) -> dict[str, Any]:
    per_variant: dict[str, list[float]] = {name: [] for name in variants}
    token = uuid.uuid4().hex[:8]
    with bench_database(Settings().database_url, token) as database_url:
        seed_payments(database_url, REFERENCES, events)
        for repetition in range(repetitions):
            names = list(variants) if repetition % 2 == 0 else list(variants)[::-1]
            for name in names:
                reset_credits(database_url, REFERENCES)
                per_variant[name].append(_run_variant(database_url, variants[name], events))
    return {
        name: [round(statistics.median(v), 1), round(min(v), 1), round(max(v), 1)]
        for name, v in per_variant.items()
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", help="NAME=CODE_DIR (empty dir: this checkout)")
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(round(_batch_path_us(args.child), 1))
        return
    variants = dict(v.split("=", 1) for v in args.variants) or {"this": ""}
    print(json.dumps(compare(variants, args.events, args.repetitions)))


if __name__ == "__main__":
    main()
