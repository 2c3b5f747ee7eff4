"""Who is calling: bearer tokens from `PAYHOOKS_API_TOKENS` (`<client-name>:<token>` pairs).

A client may have several tokens at once (rotation: add the new one, move callers, drop the old).
Only SHA-256 digests of the tokens are kept; the presented token's digest is compared with every
one of them in constant time, so the time taken tells neither how much of a token was right nor
its length. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from payments_api.domain.errors import ConfigurationError

CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
MIN_TOKEN_LENGTH = 16
MAX_TOKEN_LENGTH = 512
_VARIABLE = "PAYHOOKS_API_TOKENS"


@dataclass(frozen=True, slots=True)
class ApiClients:
    """The configured (client name, SHA-256 of the token) pairs."""

    tokens: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> ApiClients:
        """One `<client-name>:<token>` per entry. The error names the entry, never its token."""
        pairs: list[tuple[str, bytes]] = []
        for position, entry in enumerate(entries, start=1):
            name, colon, token = entry.partition(":")
            if not colon or not CLIENT_NAME.match(name):
                raise ConfigurationError(
                    f"{_VARIABLE}: entry {position} is not <client-name>:<token> "
                    "(client names: letters, digits, _ . -, up to 64)"
                )
            if not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH or not token.isascii():
                raise ConfigurationError(
                    f"{_VARIABLE}: the token of client {name!r} (entry {position}) must be "
                    f"{MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} ASCII characters"
                )
            pairs.append((name, _digest(token.encode())))
        return cls(tuple(pairs))

    def authenticate(self, authorization: str | None) -> str | None:
        """The client name for an `Authorization: Bearer <token>` header value, else None."""
        presented = bearer_token(authorization)
        if presented is None:
            return None
        digest = _digest(presented)
        found: str | None = None
        for name, token in self.tokens:
            # Every token is compared, match or not: constant work whatever was presented.
            if hmac.compare_digest(digest, token) and found is None:
                found = name
        return found


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def bearer_token(authorization: str | None) -> bytes | None:
    """The token of a well-formed `Bearer <token>` header value (ASCII, bounded), else None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    if not token.isascii() or not token.isprintable():
        return None
    return token.encode()
