"""The console's session: a signed cookie that stands for one configured API key.

Signing in with an API key puts the key's tenant and identity (the first 16 hex
digits of its SHA-256, never the key) in a cookie signed with
``LONGRUN_CONSOLE_SECRET``, or, when that is unset, with a random secret made
once and kept in Redis (``keys.CONSOLE_SECRET``) so that every API process and
restart verifies the same cookies. The cookie is HttpOnly, SameSite=Strict,
Secure when the request came over HTTPS, and ends ``console_session_hours``
after sign-in. Each request looks its key up again, so removing a key from
LONGRUN_API_KEYS ends its sessions at once.

Every state-changing console request carries the session's CSRF token (a form
field or the X-CSRF-Token header); SameSite=Strict is the second fence.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from datetime import timedelta

import redis
from flask import Flask, Request, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from api.auth import ApiKey
from longrun import keys
from longrun.errors import ServiceUnavailable

COOKIE_NAME = "longrun_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class SecretSource:
    """The signing secret: the setting, else one random secret shared through Redis."""

    def __init__(self, configured: str, client: redis.Redis):
        self._secret: str | None = configured or None
        self._redis = client
        self._lock = threading.Lock()

    def __call__(self) -> str:
        if self._secret is None:
            with self._lock:
                if self._secret is None:
                    try:
                        self._redis.set(keys.CONSOLE_SECRET, secrets.token_hex(32), nx=True)
                        stored = self._redis.get(keys.CONSOLE_SECRET)
                    except redis.RedisError as exc:
                        raise ServiceUnavailable("Redis is unreachable") from exc
                    if not stored:
                        raise ServiceUnavailable("the console's signing secret vanished from Redis; try again")
                    self._secret = stored.decode() if isinstance(stored, bytes) else str(stored)
        return self._secret


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, signed with the console's secret, which is
    only fetched when a request carries a cookie to verify or a session to save."""

    def __init__(self, secret: SecretSource):
        self.secret = secret

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            self.secret(),
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method},
        )

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession:
        # No Cookie header at all (every API client): no cookie jar parsed.
        if "HTTP_COOKIE" not in request.environ or not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        try:
            return super().open_session(app, request) or self.session_class()
        except ServiceUnavailable:
            return self.session_class()  # treated as signed out; the page itself then says 503

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def configure(app: Flask, secret: SecretSource, hours: float) -> None:
    app.session_interface = ConsoleSessionInterface(secret)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_REFRESH_EACH_REQUEST=False,  # an API read through the session never re-signs it
        PERMANENT_SESSION_LIFETIME=timedelta(hours=hours),
    )


def sign_in(key: ApiKey) -> None:
    session.clear()  # a new session (and CSRF token) at every sign-in: no fixation
    session.permanent = True
    session["tenant"] = key.tenant
    session["key"] = key.identity
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def sign_out() -> None:
    session.clear()


def session_key(configured: tuple[ApiKey, ...]) -> ApiKey | None:
    """The configured key the request's session stands for, if it is still configured."""
    identity, tenant = session.get("key"), session.get("tenant")
    if not isinstance(identity, str) or not tenant:
        return None
    for key in configured:
        if key.tenant == tenant and hmac.compare_digest(key.identity, identity):
            return key
    return None


def csrf_token() -> str:
    """The session's CSRF token (made on first use, e.g. by the sign-in form)."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def csrf_ok() -> bool:
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(expected, sent)
