"""Who is calling: API keys mapped to tenants, and the tenant a request acts for.

Keys are configured hashed (``LONGRUN_API_KEYS="tenant=sha256hex,..."``), so a
leaked settings file does not leak keys. A request presents its key as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; its SHA-256 is
compared with every configured hash in constant time. A missing or wrong key
gets one fixed 401 body, whatever was wrong with it.

``LONGRUN_AUTH=off`` (local development only) serves every request as the
tenant ``default`` and logs a warning at start-up.

Make a key:  ``python -m api.auth new TENANT``  (prints the key and its setting)
Hash a key:  ``python -m api.auth hash KEY``
"""

import hashlib
import hmac
import logging
import re
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, g, request

from longrun.errors import SettingsError, Unauthorized
from longrun.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
TENANT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

# Routes anyone may call: the contract, its docs page and liveness/readiness.
PUBLIC_PATHS = frozenset({"/openapi.json", "/docs", "/api/v1/health"})
# Paths whose blueprint checks the caller itself: the console (its own session,
# api/console) and the docs page's assets.
SELF_CHECKED_PREFIXES = ("/console/", "/docs/")
# A signed-in console session may stand for its key on these methods only; a
# state change always needs the key itself, or the console's CSRF-checked forms.
SESSION_METHODS = frozenset({"GET", "HEAD"})

UNAUTHORIZED_MESSAGE = "missing or invalid API key"


@dataclass(frozen=True)
class ApiKey:
    tenant: str
    digest: str  # sha256 hex of the key

    @property
    def identity(self) -> str:
        """A name for the key that is safe to put in Redis keys and logs."""
        return self.digest[:16]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_api_keys(raw: str) -> tuple[ApiKey, ...]:
    """``"tenant=sha256hex,tenant2=sha256hex"`` -> keys; SettingsError names a bad entry."""
    parsed = []
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    for number, entry in enumerate(entries, 1):
        tenant, sep, digest = entry.partition("=")
        tenant, digest = tenant.strip(), digest.strip().lower()
        if not sep or not TENANT_NAME.match(tenant) or not SHA256_HEX.match(digest):
            # Name the entry by position only: it might be a raw key pasted by mistake.
            raise SettingsError(f"LONGRUN_API_KEYS entry {number} must be tenant=<64 hex digits of sha256(key)>")
        parsed.append(ApiKey(tenant, digest))
    return tuple(parsed)


def find_key(presented: str, configured: tuple[ApiKey, ...]) -> ApiKey | None:
    """The configured key whose hash matches; every entry is compared (constant time)."""
    digest = hash_key(presented)
    found = None
    for key in configured:
        if hmac.compare_digest(digest, key.digest):
            found = key
    return found


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key") or None


class Authenticator:
    """Sets ``g.tenant`` and ``g.api_key`` before every request, or answers 401."""

    def __init__(self, settings: Settings):
        self.enabled = settings.auth == "on"
        self.keys = parse_api_keys(settings.api_keys)
        # Set by the console: the configured key a browser's signed session stands for, if any.
        self.session_key: Callable[[tuple[ApiKey, ...]], ApiKey | None] | None = None

    def __call__(self):
        if not self.enabled:
            g.tenant = DEFAULT_TENANT
            g.api_key = None
            return
        presented = presented_key()
        key = find_key(presented, self.keys) if presented else None
        if key is None and not presented and self.session_key and request.method in SESSION_METHODS:
            key = self.session_key(self.keys)
        if key is None:
            if (
                request.path in PUBLIC_PATHS
                or request.path == "/console"
                or request.path.startswith(SELF_CHECKED_PREFIXES)
            ):
                g.tenant = g.api_key = None
                return
            raise Unauthorized(UNAUTHORIZED_MESSAGE)
        g.tenant = key.tenant
        g.api_key = key


def init_app(app: Flask, settings: Settings) -> None:
    authenticator = Authenticator(settings)
    if not authenticator.enabled:
        log.warning(
            "LONGRUN_AUTH=off: every request is served without an API key as tenant %r. "
            "Never run like this outside local development.",
            DEFAULT_TENANT,
        )
    elif not authenticator.keys:
        log.warning(
            "no API keys configured (LONGRUN_API_KEYS): every request but %s will be refused",
            ", ".join(sorted(PUBLIC_PATHS)),
        )
    app.before_request(authenticator)
    app.extensions["longrun.auth"] = authenticator


def current_tenant() -> str:
    """The tenant the request acts for (set by the authenticator)."""
    return g.get("tenant") or DEFAULT_TENANT


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "hash":
        print(hash_key(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == "new" and TENANT_NAME.match(argv[1]):
        key = secrets.token_urlsafe(32)
        print(f"key:     {key}")
        print(f"setting: LONGRUN_API_KEYS={argv[1]}={hash_key(key)}")
        return 0
    print("usage: python -m api.auth hash KEY | python -m api.auth new TENANT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
