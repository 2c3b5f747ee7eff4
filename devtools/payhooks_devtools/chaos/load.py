"""The load: initialized payments, and their signed webhooks sent like a provider sends them.

Every webhook goes out 1 to 3 times, copies to different gateways at once, in a seeded random order;
a copy refused with 5xx or a connection error is retried with backoff until it is accepted or the
deadline passes, as providers do. What became of every copy is kept per payment reference, for
the verdict: accepted, refused (any answer but 2xx and 503), or given up on.

The money lifecycle rides along (docs/lifecycle.md): about 5 % of the payments are refunded —
in full, in part, or in part and then the rest — each refund webhook sent 1 to 3 times, shuffled
in with everything else (a refund may overtake its success); about 3 % are paid at the provider
but their webhook is lost, for the sweep to find.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kernel.settings import Settings
from payhooks_devtools.simulator.events import reversal_body, webhook_body
from payments_api.adapters.payment_rows import create_payment
from schemas.providers import SCHEMES

REFUND_SHARE = 0.05
LOST_WEBHOOK_SHARE = 0.03


@dataclass(frozen=True, slots=True)
class PlannedPayment:
    reference: str
    user_id: str
    amount: int
    currency: str
    provider: str
    refunds: tuple[tuple[str, int], ...] = ()  # (provider refund id, amount), in order
    webhook_lost: bool = False  # paid at the provider; only the sweep can find it


@dataclass(frozen=True, slots=True)
class Delivery:
    payment: PlannedPayment
    gateway: str
    refund: tuple[str, int] | None = None  # a refund webhook instead of the success


@dataclass
class LoadStats:
    sent: int = 0
    attempts: int = 0
    accepted: int = 0
    unavailable: int = 0
    connection_errors: int = 0
    gave_up: int = 0
    other: Counter[int] = field(default_factory=Counter)
    sent_references: set[str] = field(default_factory=set)
    accepted_references: set[str] = field(default_factory=set)
    refused: dict[str, int] = field(default_factory=dict)  # reference → a non-503 refusal
    accepted_refunds: set[tuple[str, str]] = field(default_factory=set)  # (reference, refund id)
    unanswered: set[str] = field(default_factory=set)  # a copy never got a 2xx before the end

    def accept(self, reference: str) -> None:
        self.accepted += 1
        self.accepted_references.add(reference)


# A test-only seam (never set by `payhooks chaos`): wraps the load's HTTP transport, e.g. to play
# a gateway that wrongly refuses or silently drops genuine webhooks, and see the verdict fail.
TransportWrapper = Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]


def plan_payments(
    rng: random.Random, count: int, run_id: str, providers: tuple[str, ...]
) -> list[PlannedPayment]:
    users = max(1, count // 10)  # several payments per wallet: credits contend for wallet rows
    planned = [
        PlannedPayment(
            reference=f"chaos-{run_id}-{index:06d}",
            user_id=f"chaos-{run_id}-user-{rng.randrange(users)}",
            amount=rng.randrange(100, 5_000_000),
            currency=rng.choice(("NGN", "USD", "GHS")),
            provider=rng.choice(providers),
        )
        for index in range(count)
    ]
    return [_with_lifecycle(rng, payment) for payment in planned]


def _with_lifecycle(rng: random.Random, payment: PlannedPayment) -> PlannedPayment:
    """Some payments are refunded (in full, in part, in part then the rest); some lose their
    webhook."""
    draw = rng.random()
    if draw < LOST_WEBHOOK_SHARE:
        return replace(payment, webhook_lost=True)
    if draw >= LOST_WEBHOOK_SHARE + REFUND_SHARE:
        return payment
    part = rng.randrange(1, payment.amount)
    refund_id = f"rf_{payment.reference}"
    plans = {
        "full": ((refund_id, payment.amount),),
        "partial": ((refund_id, part),),
        "partial+rest": ((refund_id, part), (f"{refund_id}_rest", payment.amount - part)),
    }
    return replace(payment, refunds=plans[rng.choice(list(plans))])


def initialize(engine: Engine, payments: list[PlannedPayment], chunk: int = 500) -> None:
    """The payments exist (state `processing`) before any webhook for them is sent."""
    for start in range(0, len(payments), chunk):
        with Session(engine) as session:
            for planned in payments[start : start + chunk]:
                payment = create_payment(
                    session,
                    reference=planned.reference,
                    user_id=planned.user_id,
                    amount=planned.amount,
                    currency=planned.currency,
                    provider=planned.provider,
                )
                payment.state = "processing"
            session.commit()


def plan_deliveries(
    rng: random.Random, payments: list[PlannedPayment], gateways: list[str]
) -> list[Delivery]:
    """Every webhook 1 to 3 times: each success (unless lost) and each refund."""
    events: list[tuple[PlannedPayment, tuple[str, int] | None]] = [
        (payment, None) for payment in payments if not payment.webhook_lost
    ]
    events += [(payment, refund) for payment in payments for refund in payment.refunds]
    deliveries = [
        Delivery(payment, rng.choice(gateways), refund)
        for payment, refund in events
        for _ in range(rng.randint(1, 3))
    ]
    rng.shuffle(deliveries)
    return deliveries


def webhook_of(delivery: Delivery) -> tuple[bytes, str]:
    """The body a provider posts for this delivery, and its message id (the same on retries)."""
    payment = delivery.payment
    if delivery.refund is None:
        body = webhook_body(payment.provider, payment.reference, payment.amount, payment.currency)
        return body, f"msg_{payment.reference}"
    refund_id, amount = delivery.refund
    body = reversal_body(
        payment.provider, payment.reference, amount, payment.currency, reversal_id=refund_id
    )
    return body, f"msg_{refund_id}"


async def deliver(
    client: httpx.AsyncClient, delivery: Delivery, settings: Settings, stats: LoadStats,
    deadline: float,
) -> None:  # fmt: skip
    payment = delivery.payment
    body, message_id = webhook_of(delivery)
    secret = settings.provider_secrets(payment.provider)[0]
    stats.sent += 1
    stats.sent_references.add(payment.reference)
    backoff = 0.2
    while time.monotonic() < deadline:
        # A provider's retries of one event carry the same message id.
        headers = SCHEMES[payment.provider].sign(body, secret, now=time.time(), event_id=message_id)
        stats.attempts += 1
        try:
            response = await client.post(
                f"{delivery.gateway}/webhooks/{payment.provider}",
                content=body,
                headers={**headers, "content-type": "application/json"},
            )
        except httpx.HTTPError:
            stats.connection_errors += 1
        else:
            if response.is_success:
                stats.accept(payment.reference)
                if delivery.refund is not None:
                    stats.accepted_refunds.add((payment.reference, delivery.refund[0]))
                return
            if response.status_code == 503:
                stats.unavailable += 1
            else:
                stats.other[response.status_code] += 1
                stats.refused[payment.reference] = response.status_code
                return
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 2.0)
    stats.gave_up += 1
    stats.unanswered.add(payment.reference)


async def send_all(
    deliveries: list[Delivery],
    settings: Settings,
    *,
    concurrency: int,
    deadline_seconds: float,
    min_seconds: float = 0.0,
    wrap_transport: TransportWrapper | None = None,
) -> LoadStats:
    """Send every delivery; spread them over at least `min_seconds` so faults land mid-load."""
    stats = LoadStats()
    started = time.monotonic()
    deadline = started + deadline_seconds
    queue: asyncio.Queue[tuple[int, Delivery]] = asyncio.Queue()
    for index, delivery in enumerate(deliveries):
        queue.put_nowait((index, delivery))
    spacing = min_seconds / max(1, len(deliveries))

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            index, delivery = queue.get_nowait()
            await asyncio.sleep(max(0.0, started + index * spacing - time.monotonic()))
            await deliver(client, delivery, settings, stats, deadline)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(limits=limits)
    if wrap_transport is not None:
        transport = wrap_transport(transport)
    async with httpx.AsyncClient(timeout=30, transport=transport) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return stats


async def paid_at_provider(simulator: str, payments: list[PlannedPayment]) -> None:
    """Every payment is paid at the (simulated) provider before its webhook goes out, as in
    life: the verify API answers "paid" for it, and only it knows the lost-webhook ones."""
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        semaphore = asyncio.Semaphore(16)

        async def pay(payment: PlannedPayment) -> None:
            async with semaphore:
                answer = await client.post(
                    f"{simulator}/simulate/pay",
                    json={
                        "reference": payment.reference,
                        "provider": payment.provider,
                        "amount": payment.amount,
                        "currency": payment.currency,
                        "webhook": False,
                    },
                )
                answer.raise_for_status()

        await asyncio.gather(*(pay(payment) for payment in payments))
