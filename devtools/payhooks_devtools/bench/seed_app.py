"""The seed's design as a benchmark peer: the webhook handler credits synchronously under a Redis
lock, no Kafka. Built from our own parts (signature scheme, credit service, Redis lock adapter)
so the comparison is about the design, not about the code.

    uvicorn --factory payhooks_devtools.bench.seed_app:create_app

`POST /webhooks/paystack`: verify → lock the reference in Redis (30 s lease, 10 s wait, as the
seed's `credit_user_with_lock`) → one credit transaction → 200. The provider waits for all of it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumer.adapters.unit_of_work import SqlAlchemyUnitOfWork as UnitOfWork
from consumer.bootstrap import default_locks
from consumer.domain.errors import ConsumerError, RetryableError
from consumer.service_layer.credit import credit_payment
from consumer.service_layer.ports import Locks
from kernel.db.engine import make_engine, make_session_factory
from kernel.settings import Settings
from producer_gateway.domain.intake import verify_and_normalize
from schemas.envelope import WebhookEnvelope
from schemas.errors import ContractError
from schemas.providers import SCHEMES, ProviderEvent

# A thread per request in flight (Starlette's pool has 40); each needs its own connection.
POOL_SIZE = 20


def _credit(
    locks: Locks,
    new_uow: Callable[[], UnitOfWork],
    envelope: WebhookEnvelope,
    event: ProviderEvent,
) -> tuple[int, str]:
    with locks.holding([event.reference]) as held:
        if event.reference in held.timed_out:
            return 503, "locked"
        try:
            outcome = credit_payment(new_uow(), envelope, event)
        except RetryableError as exc:
            return 503, str(exc)
        except ConsumerError as exc:
            return 409, str(exc)
    return 200, outcome.verdict.value if outcome.verdict else "settled"


def _disposing(engine: Engine) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        engine.dispose()

    return lifespan


def build_seed_app(settings: Settings) -> Starlette:
    engine = make_engine(settings.database_url, pool_size=POOL_SIZE)
    sessions = make_session_factory(engine)
    locks = default_locks(settings)
    scheme = SCHEMES["paystack"]
    secrets = settings.provider_secrets("paystack")

    def new_uow() -> UnitOfWork:
        return UnitOfWork(sessions)

    async def webhook(request: Request) -> Response:
        body = await request.body()
        try:
            envelope = verify_and_normalize(
                scheme,
                body,
                request.headers,
                secrets,
                now=time.time(),
                tolerance_seconds=settings.signature_tolerance_seconds,
                received_at=datetime.now(UTC),
            )
            event = scheme.parse(body, request.headers)
        except ContractError as exc:
            return JSONResponse({"error": str(exc)}, status_code=401)
        status, detail = await run_in_threadpool(_credit, locks, new_uow, envelope, event)
        return JSONResponse({"status": detail}, status_code=status)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/webhooks/paystack", webhook, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=_disposing(engine),
    )


def create_app() -> Starlette:
    """uvicorn factory: settings from the environment."""
    return build_seed_app(Settings())
