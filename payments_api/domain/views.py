"""What the API answers, as pydantic models: /openapi.json is generated from these and from
`InitializePayment`, so the document cannot drift from the code."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from schemas.states import PaymentState


class PaymentCreated(BaseModel):
    """201 of POST /payments (replayed as stored for the same Idempotency-Key and body)."""

    reference: str
    state: str = Field(description="`processing` once the provider gave a checkout URL")
    authorization_url: str | None = Field(description="where the payer is sent")
    user_id: str
    amount: int = Field(description="minor units")
    currency: str
    provider: str


class PaymentView(BaseModel):
    """GET /payments/{reference}."""

    reference: str
    state: str = Field(description=", ".join(PaymentState))
    credited: bool
    refunded_amount: int = Field(description="refunds and lost disputes so far, minor units")
    user_id: str
    amount: int = Field(description="minor units")
    currency: str
    provider: str
    created_at: datetime
    completed_at: datetime | None


class WalletView(BaseModel):
    """GET /wallets/{user_id}: balances per currency, in minor units."""

    user_id: str
    balances: dict[str, int]


class ErrorDetail(BaseModel):
    code: str = Field(description="snake_case, stable")
    message: str = Field(description="what to do")


class ErrorBody(BaseModel):
    """Every error: `{"error": {"code", "message"}}`."""

    error: ErrorDetail


class Status(BaseModel):
    """GET /healthz, GET /readyz."""

    status: str
