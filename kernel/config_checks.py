"""Configuration refused at start: secrets of a known format and a minimum length, and no
hash-only provider left unconfirmed. Each problem is one line naming the variable and what is
wrong with it, never the value (not even a part of it)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator

from kernel.settings import WebhookSecretsSettings
from schemas.errors import CommandError

MIN_SECRET_CHARS = 24  # after any fixed prefix
MIN_STANDARD_KEY_BYTES = 24  # the Standard Webhooks spec's secrets are 24-64 random bytes
MIN_FLUTTERWAVE_HASH_CHARS = 16  # chosen in Flutterwave's dashboard, so no fixed format

_PAYSTACK = re.compile(r"sk_(test|live)_(?P<rest>[A-Za-z0-9_]+)")
_STRIPE = re.compile(r"whsec_(?P<rest>[A-Za-z0-9_+/=-]+)")


class ConfigInvalid(CommandError):
    """The configuration cannot be run with; the message names the variable and the problem."""

    exit_code = 2


def _paystack(secret: str) -> str | None:
    match = _PAYSTACK.fullmatch(secret)
    if match is None:
        return "is not a Paystack secret key (sk_test_… or sk_live_… from the dashboard)"
    if len(match["rest"]) < MIN_SECRET_CHARS:
        return f"is too short: Paystack keys have at least {MIN_SECRET_CHARS} chars after sk_…_"
    return None


def _stripe(secret: str) -> str | None:
    match = _STRIPE.fullmatch(secret)
    if match is None:
        return "is not a Stripe endpoint secret (whsec_… from the endpoint's page)"
    if len(match["rest"]) < MIN_SECRET_CHARS:
        return f"is too short: a Stripe endpoint secret has {MIN_SECRET_CHARS}+ chars after whsec_"
    return None


def _flutterwave(secret: str) -> str | None:
    if not secret.isascii() or not secret.isprintable() or " " in secret:
        return "must be printable ASCII without spaces (it travels in the verif-hash header)"
    if len(secret) < MIN_FLUTTERWAVE_HASH_CHARS:
        return f"is too short: choose a secret hash of {MIN_FLUTTERWAVE_HASH_CHARS}+ random chars"
    return None


def _standard(secret: str) -> str | None:
    if not secret.startswith("whsec_"):
        return "is not a Standard Webhooks secret (whsec_ followed by base64)"
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return "is not valid base64 after whsec_"
    if len(key) < MIN_STANDARD_KEY_BYTES:
        return f"decodes to {len(key)} bytes; a signing key needs {MIN_STANDARD_KEY_BYTES}+"
    return None


_CHECKS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "paystack": ("PAYHOOKS_PAYSTACK_SECRET_KEY", _paystack),
    "stripe": ("PAYHOOKS_STRIPE_WEBHOOK_SECRET", _stripe),
    "flutterwave": ("PAYHOOKS_FLUTTERWAVE_SECRET_HASH", _flutterwave),
    "standard": ("PAYHOOKS_STANDARD_WEBHOOK_SECRET", _standard),
}


def _secret_problems(settings: WebhookSecretsSettings) -> Iterator[str]:
    for provider, (variable, check) in _CHECKS.items():
        secrets = settings.provider_secrets(provider)
        for position, secret in enumerate(secrets, start=1):
            problem = check(secret.decode(errors="replace"))
            if problem is not None:
                which = f" (secret {position} of {len(secrets)})" if len(secrets) > 1 else ""
                yield f"{variable}{which} {problem}"


def _confirmation_problems(settings: WebhookSecretsSettings) -> Iterator[str]:
    unconfirmed = set(settings.hash_only_providers()) - settings.confirmed_providers()
    for provider in sorted(unconfirmed):
        yield (
            f"PAYHOOKS_CONFIRM_WITH_PROVIDER leaves out {provider}, whose webhooks are accepted "
            f"hash-only: add {provider}, or set PAYHOOKS_{provider.upper()}_REQUIRE_SIGNATURE=true"
        )


def config_problems(settings: WebhookSecretsSettings) -> list[str]:
    """Every problem, one line each; empty when the configuration may run."""
    return [*_secret_problems(settings), *_confirmation_problems(settings)]


def check_config(settings: WebhookSecretsSettings) -> None:
    """Raise ConfigInvalid naming the first problem (the process exits ≠ 0 with that line)."""
    problems = config_problems(settings)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigInvalid(problems[0] + more)
