"""`payhooks demo`: the whole pipeline on the local stack, narrated.

Brings the stack up and migrates; starts a provider simulator, a gateway (public: webhooks only),
an api (internal: payments and wallets, bearer token) and a consumer as real processes;
initializes payments through the api's `POST /payments` (one request repeated with its
Idempotency-Key, one without a token); lets the simulator pay them, which sends each provider's
signed webhook to the gateway (one of them twice, as providers retry); sends one forged webhook;
pays one more whose webhook is lost, which one sweep pass (`payhooks sweep --once`, limited to
the demo's payments) finds at the provider and credits through the same path; refunds part of a
payment (its signed refund webhook debits the wallet once); then shows what the ledger ended with
and runs `payhooks reconcile`.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kernel.db.engine import make_engine, make_session_factory
from kernel.db.migrate import upgrade
from kernel.provider_verify import HttpProviderVerifier
from kernel.settings import Settings
from kernel.topics import delete_topics, ensure_topics
from operations.reconcile import reconcile, render_report
from operations.sweep import SqlSweepLedger, Sweeper, kafka_publisher
from payhooks_devtools.localnet import free_port, stop_process, wait_http_ok
from payhooks_devtools.simulator.events import webhook_body
from payhooks_devtools.stack import Stack
from schemas.names import main_topic
from schemas.providers import SCHEMES

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoPayment:
    user_id: str
    amount: int
    currency: str
    provider: str


@dataclass(frozen=True)
class Step:
    what: str
    detail: str
    status: int


def demo_token(run_id: str) -> str:
    return f"demo-token-{run_id}-{uuid.uuid4().hex}"


def demo_secrets(run_id: str) -> dict[str, str]:
    # Formats `payhooks gateway` / `consumer` accept at start (kernel/config_checks.py).
    key = base64.b64encode(f"payhooks-demo-signing-key-{run_id}".encode()).decode()
    return {
        "PAYHOOKS_PAYSTACK_SECRET_KEY": f"sk_test_demo_{run_id}_{'0' * 16}",
        "PAYHOOKS_STRIPE_WEBHOOK_SECRET": f"whsec_demo_{run_id}_{'0' * 16}",
        "PAYHOOKS_FLUTTERWAVE_SECRET_HASH": f"flw_demo_{run_id}_{'0' * 8}",
        "PAYHOOKS_STANDARD_WEBHOOK_SECRET": f"whsec_{key}",
    }


def demo_environment(
    settings: Settings, prefix: str, ports: dict[str, int], run_id: str, token: str
) -> dict[str, str]:
    simulator = f"http://127.0.0.1:{ports['simulator']}"
    return {
        **os.environ,
        "PAYHOOKS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PAYHOOKS_DATABASE_URL": settings.database_url,
        "PAYHOOKS_REDIS_URL": settings.redis_url,
        "PAYHOOKS_TOPIC_PREFIX": prefix,
        "PAYHOOKS_CONSUMER_GROUP": f"{prefix}-credit",
        "PAYHOOKS_RETRY_DELAYS": "1s,2s",
        "PAYHOOKS_GATEWAY_URL": f"http://127.0.0.1:{ports['gateway']}",
        "PAYHOOKS_LOG_FORMAT": "json",
        "PAYHOOKS_API_TOKENS": f"demo-shop:{token}",
        **{f"PAYHOOKS_{p.upper()}_API_BASE": f"{simulator}/{p}" for p in SCHEMES},
        **demo_secrets(run_id),
    }


@contextmanager
def running(commands: dict[str, list[str]], env: dict[str, str], logs: Path) -> Iterator[None]:
    """Start the processes, and stop them (SIGTERM, then SIGKILL) whatever happens."""
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    for name, command in commands.items():
        with (logs / f"{name}.log").open("wb") as log:
            processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
    try:
        yield
    finally:
        for process in processes:
            stop_process(process)


def initialize(api: httpx.Client, payment: DemoPayment, key: str) -> httpx.Response:
    body = {
        "user_id": payment.user_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "provider": payment.provider,
        "email": f"{payment.user_id.split('-')[0]}@example.com",
    }
    return api.post("/payments", json=body, headers={"Idempotency-Key": key})


@dataclass(frozen=True)
class Clients:
    gateway: httpx.Client  # public: webhooks
    api: httpx.Client  # internal: payments, wallets (bearer token)
    sim: httpx.Client  # the providers' stand-in


def wait_credited(api: httpx.Client, references: list[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        states = [api.get(f"/payments/{ref}").json().get("credited") for ref in references]
        if all(states):
            return
        time.sleep(0.3)
    raise RuntimeError("the consumer did not credit the payments in time; see .payhooks/demo-logs")


def wait_for(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not happen in time; see .payhooks/demo-logs")


def sweep_own(settings: Settings, references: list[str]) -> None:
    """One sweep pass, as `payhooks sweep --once --older-than 0s` does, but over the demo's own
    payments only (the local database may hold other runs' payments)."""
    engine = make_engine(settings.database_url, pool_size=1)
    verifier = HttpProviderVerifier(settings)
    publish, flush = kafka_publisher(settings, main_topic(settings.topic_prefix))
    ledger = SqlSweepLedger(make_session_factory(engine), only=frozenset(references))
    try:
        Sweeper(ledger, verifier, publish, older_than=0, expire_after=86_400).sweep_once()
    finally:
        flush()
        verifier.close()
        engine.dispose()


def _sweep_and_refund(
    api: httpx.Client, sim: httpx.Client, references: list[str], settings: Settings,
    progress: Progress,
) -> list[Step]:  # fmt: skip
    """The lost-webhook payment found by one sweep pass; a partial refund of the first one."""
    lost, refunded = references[-1], references[0]
    progress("6. a sweep pass asks the provider about payments nobody heard back about…")
    sweep_own(settings, references)
    wait_credited(api, [lost])
    progress("7. the provider refunds 100000 of the first payment and sends its refund webhook…")
    answer = sim.post("/simulate/refund", json={"reference": refunded, "amount": 100_000}).json()
    wait_for(
        lambda: api.get(f"/payments/{refunded}").json().get("refunded_amount") == 100_000,
        "the refund",
    )
    return [
        Step("sweep (one pass)", f"{lost} (webhook lost) found paid", 0),
        Step("refund webhook", f"{refunded} refund of 100000", int(answer["status_code"])),
    ]


def run_demo(settings: Settings, progress: Progress) -> int:
    progress("1. bringing up Kafka, PostgreSQL and Redis (payhooks stack up)…")
    Stack(settings).up(progress)
    upgrade(settings.database_url)
    run_id = uuid.uuid4().hex[:8]
    prefix = f"demo-{run_id}"
    demo_settings = settings.model_copy(update={"topic_prefix": prefix})
    ensure_topics(demo_settings)
    ports = {"gateway": free_port(), "api": free_port(), "simulator": free_port()}
    token = demo_token(run_id)
    env = demo_environment(settings, prefix, ports, run_id, token)
    payhooks = [sys.executable, "-m", "payhooks"]
    commands = {
        "simulator": [*payhooks, "simulator", "--port", str(ports["simulator"])],
        "gateway": [*payhooks, "gateway", "--port", str(ports["gateway"])],
        "api": [*payhooks, "api", "--port", str(ports["api"])],
        "consumer": [*payhooks, "consumer"],
    }
    progress("2. starting a provider simulator, a gateway, an api and a consumer…")
    with running(commands, env, settings.state_dir / "demo-logs"):
        hint = f"; see {settings.state_dir / 'demo-logs'}"
        for name, path in (("gateway", "readyz"), ("api", "readyz"), ("simulator", "healthz")):
            wait_http_ok(f"http://127.0.0.1:{ports[name]}/{path}", hint=hint)
        with (
            httpx.Client(base_url=f"http://127.0.0.1:{ports['gateway']}", timeout=30) as gateway,
            httpx.Client(
                base_url=f"http://127.0.0.1:{ports['api']}",
                timeout=30,
                headers={"Authorization": f"Bearer {token}"},
            ) as api,
            httpx.Client(base_url=f"http://127.0.0.1:{ports['simulator']}", timeout=30) as sim,
        ):
            clients = Clients(gateway, api, sim)
            steps, references, users = _drive(clients, run_id, progress)
            progress("5. waiting for the consumer…")
            wait_credited(api, references[:-1])
            simulator = f"http://127.0.0.1:{ports['simulator']}"
            sweep_settings = demo_settings.model_copy(
                update={f"{p}_api_base": f"{simulator}/{p}" for p in SCHEMES}
            )
            steps += _sweep_and_refund(api, sim, references, sweep_settings, progress)
            _report(api, steps, references, users, progress)
    engine = make_engine(settings.database_url)
    ledger = reconcile(engine, stuck_after_seconds=settings.stuck_processing_seconds)
    engine.dispose()
    delete_topics(demo_settings)  # each run has its own topics; leave none behind
    progress("\npayhooks reconcile:\n" + render_report(ledger))
    return 0 if ledger.ok else 1


def _drive(
    clients: Clients, run_id: str, progress: Progress
) -> tuple[list[Step], list[str], list[str]]:
    payments = [
        DemoPayment(f"ada-{run_id}", 500_000, "NGN", "paystack"),
        DemoPayment(f"grace-{run_id}", 12_550, "USD", "stripe"),
        DemoPayment(f"linus-{run_id}", 75_000, "GHS", "flutterwave"),
        DemoPayment(f"ada-{run_id}", 9_999, "USD", "standard"),
        DemoPayment(f"grace-{run_id}", 20_000, "NGN", "paystack"),  # its webhook gets lost
    ]
    steps: list[Step] = []
    references: list[str] = []
    gateway, api, sim = clients.gateway, clients.api, clients.sim
    progress("3. initializing payments with the api's POST /payments (Idempotency-Key)…")
    for index, payment in enumerate(payments):
        answer = initialize(api, payment, key=f"demo-{run_id}-{index}")
        steps.append(
            Step(
                "POST /payments",
                f"{payment.provider} {payment.amount} {payment.currency}",
                answer.status_code,
            )
        )
        references.append(answer.json()["reference"])
    again = initialize(api, payments[0], key=f"demo-{run_id}-0")
    replayed = again.headers.get("Idempotent-Replayed") == "true"
    steps.append(
        Step(
            "POST /payments again",
            f"same key → same reference, replayed={replayed}",
            again.status_code,
        )
    )
    steps.extend(_refused(clients))
    progress("4. the simulator pays them: each provider's signed webhook goes to the gateway…")
    for reference in references[:-1]:
        answer = sim.post("/simulate/pay", json={"reference": reference}).json()
        steps.append(Step(f"{answer['provider']} webhook", reference, int(answer["status_code"])))
    sim.post("/simulate/pay", json={"reference": references[-1], "webhook": False})
    duplicate = sim.post("/simulate/pay", json={"reference": references[0]}).json()
    steps.append(
        Step(
            "duplicate webhook", f"{references[0]} (provider retry)", int(duplicate["status_code"])
        )
    )
    steps.append(_forged(gateway, references[1]))
    users = sorted({payment.user_id for payment in payments})
    return steps, references, users


def _refused(clients: Clients) -> list[Step]:
    """No token at the api: 401; the payment routes asked of the public gateway: 404."""
    anonymous = clients.api.post(
        "/payments", json={}, headers={"Authorization": "", "Idempotency-Key": "demo-anon"}
    )
    public = clients.gateway.get("/wallets/anyone")
    return [
        Step("POST /payments, no token", "the api needs a bearer token", anonymous.status_code),
        Step(
            "GET /wallets on gateway",
            "the public listener serves webhooks only",
            public.status_code,
        ),
    ]


def _forged(gateway: httpx.Client, reference: str) -> Step:
    """A webhook signed with the wrong secret, claiming a much larger amount."""
    body = webhook_body("paystack", reference, 99_999_999, "USD")
    headers = SCHEMES["paystack"].sign(body, b"not-the-secret", now=time.time(), event_id="forged")
    answer = gateway.post("/webhooks/paystack", content=body, headers=headers)
    return Step("forged webhook", f"{reference} claiming 99999999 USD", answer.status_code)


def _report(
    api: httpx.Client, steps: list[Step], references: list[str], users: list[str], out: Progress
) -> None:
    out("\nwhat was sent:")
    for step in steps:
        answer = f"HTTP {step.status}" if step.status else "claim published"
        out(f"  {step.what:<22} {step.detail:<52} → {answer}")
    out("\npayments (GET /payments/{reference}):")
    for reference in references:
        payment: dict[str, Any] = api.get(f"/payments/{reference}").json()
        out(
            f"  {reference:<34} {payment['provider']:<12} {payment['state']:<18} "
            f"credited={payment['credited']}  {payment['amount']} {payment['currency']}"
            f"  refunded={payment.get('refunded_amount', 0)}"
        )
    out("\nwallets (GET /wallets/{user_id}):")
    for user in users:
        out(f"  {user:<18} {api.get(f'/wallets/{user}').json()['balances']}")
    out(
        "\nevery payment credited once (the lost-webhook one by the sweep); the duplicate "
        "absorbed; the forged webhook refused (401); the refund debited once; the api refused a "
        "request without a token (401)."
    )
