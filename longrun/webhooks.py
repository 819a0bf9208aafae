"""Webhooks: which state changes a job's webhook is told about, how each
delivery is signed, and the per-job delivery log.

A job may carry ``webhook: {url, events}`` with events among ``started`` (a
worker began it), ``progress`` (throttled: at most one per
``webhook_progress_interval_seconds``) and ``completed`` (any final state:
completed, failed or cancelled; the payload's ``data.status`` says which).

Deliveries follow the Standard Webhooks scheme: headers ``webhook-id`` (the
delivery id, the same on every retry, for de-duplication), ``webhook-timestamp``
(epoch seconds of this attempt) and ``webhook-signature``: ``v1,<base64 of
HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>``. A secret written
``whsec_<base64>`` is base64-decoded first, as the scheme specifies.

The state-change hook (``Dispatcher``) runs in whichever process made the
change (a worker's pool process, or the API for a cancel); it reads the job's
webhook once per process and job, records the delivery and hands its id to a
Celery task on its own queue (``workers/webhook_task.py``), which attempts it
and retries with exponential backoff. Nothing here imports Celery or Flask.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, cast

import httpx
import redis
from redis.client import Pipeline
from redis.typing import EncodableT, FieldT

from longrun import keys
from longrun.errors import DeliveryNotFound, InvalidInput, UnsafeURL
from longrun.jobstore import JobStore, document, iso
from longrun.settings import Settings
from longrun.states import JobStatus
from longrun.urls import check_url

EVENTS = ("started", "progress", "completed")
DEFAULT_EVENTS = ("completed",)
USER_AGENT = "Longrun-Webhooks/1"

# Delivery states, as the delivery log shows them.
PENDING, DELIVERED, RETRYING, FAILED = "pending", "delivered", "retrying", "failed"


def event_for(status: JobStatus, progress: dict[str, Any] | None) -> str | None:
    """The webhook event a state change is, or None (pending is never sent)."""
    if status.is_final:
        return "completed"
    if status == JobStatus.RUNNING:
        return "progress" if progress is not None else "started"
    return None


def secret_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :])
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header value for one attempt."""
    mac = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def validate_webhook(settings: Settings, webhook: dict[str, Any]) -> dict[str, Any]:
    """A submitted webhook, checked (URL rules, secret configured) and normalised."""
    if not settings.webhook_secret:
        raise InvalidInput(
            "webhooks are not enabled on this deployment (LONGRUN_WEBHOOK_SECRET is unset)",
            details={"webhook": ["webhooks are not enabled on this deployment"]},
        )
    try:
        url = check_url(webhook["url"], allowlist=settings.url_allowlist)
    except UnsafeURL as exc:
        raise UnsafeURL(f"webhook.url: {exc.message}", details={"webhook": {"url": [exc.message]}}) from None
    events = list(dict.fromkeys(webhook.get("events") or DEFAULT_EVENTS))
    return {"url": url, "events": events}


def payload(event: str, job: dict[str, Any]) -> dict[str, Any]:
    """The body of a delivery: what happened and the job as GET shows it."""
    data = {
        k: job.get(k)
        for k in (
            "id",
            "kind",
            "status",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "metadata",
            "result",
            "error",
        )
    }
    return {"type": f"job.{event}", "timestamp": iso(time.time()), "data": data}


class DeliveryLog:
    """A job's deliveries in one Redis hash: ``<id>`` holds the delivery,
    ``<id>#state`` its state and ``<id>#<n>`` its n-th attempt (each write is
    one field, so a retry and a manual redelivery never overwrite each other)."""

    def __init__(self, client: redis.Redis, settings: Settings):
        self.redis = client
        self.settings = settings

    def _ttl(self) -> int:
        # Kept as long as the job can be (deleted with it by JobStore._remove).
        s = self.settings
        return s.retention_seconds + s.max_timeout_seconds if s.retention_seconds else 0

    def _write(self, job_id: str, mapping: Mapping[FieldT, EncodableT], pipe: Pipeline | None = None) -> None:
        own = pipe is None
        pipe = pipe or self.redis.pipeline(transaction=False)
        pipe.hset(keys.webhook_log(job_id), mapping=mapping)
        if self._ttl():
            pipe.expire(keys.webhook_log(job_id), self._ttl())
        if own:
            pipe.execute()

    def create(self, job_id: str, event: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        delivery_id = "msg_" + uuid.uuid4().hex
        delivery = {
            "id": delivery_id,
            "job_id": job_id,
            "event": event,
            "url": url,
            "created_at": time.time(),
            "body": json.dumps(body, separators=(",", ":")),
        }
        self._write(job_id, {delivery_id: json.dumps(delivery), f"{delivery_id}#state": json.dumps({"state": PENDING})})
        return delivery

    def get(self, job_id: str, delivery_id: str) -> dict[str, Any]:
        raw = self.redis.hget(keys.webhook_log(job_id), delivery_id) if delivery_id.startswith("msg_") else None
        if not raw:
            raise DeliveryNotFound(f"job {job_id} has no webhook delivery {delivery_id!r}")
        return cast(dict[str, Any], json.loads(raw))

    def set_state(self, job_id: str, delivery_id: str, state: str, next_attempt_at: float | None = None) -> None:
        self._write(job_id, {f"{delivery_id}#state": json.dumps({"state": state, "next_attempt_at": next_attempt_at})})

    def add_attempt(self, job_id: str, delivery_id: str, attempt: dict[str, Any]) -> int:
        """Store an attempt; returns its number (1-based, counting manual redeliveries)."""
        n = self.redis.hincrby(keys.webhook_log(job_id), f"{delivery_id}#n", 1)
        self._write(job_id, {f"{delivery_id}#{n}": json.dumps({**attempt, "n": n})})
        return n

    def list(self, job_id: str) -> list[dict[str, Any]]:
        """Every delivery, oldest first, with its state and attempts (no body)."""
        fields = cast(dict[str, str], self.redis.hgetall(keys.webhook_log(job_id)))  # decoded replies
        deliveries = {}
        for name, value in fields.items():
            if "#" not in name:
                d = json.loads(value)
                d.pop("body", None)
                deliveries[name] = {**d, "state": PENDING, "next_attempt_at": None, "attempts": []}
        for name, value in fields.items():
            base, _, suffix = name.partition("#")
            if base not in deliveries or suffix in ("", "n"):
                continue
            if suffix == "state":
                deliveries[base].update(json.loads(value))
            else:
                deliveries[base]["attempts"].append(json.loads(value))
        out = sorted(deliveries.values(), key=lambda d: d["created_at"])
        for d in out:
            d["attempts"].sort(key=lambda a: a["n"])
            d["created_at"] = iso(d["created_at"])
            d["next_attempt_at"] = iso(d["next_attempt_at"])
        return out


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """Wait before retry after the ``attempt``-th failure: base * 2**(attempt-1), capped."""
    return min(settings.webhook_retry_max_seconds, settings.webhook_retry_base_seconds * 2.0 ** (attempt - 1))


def post(http: httpx.Client, settings: Settings, delivery: dict[str, Any]) -> dict[str, Any]:
    """One signed POST of a delivery; returns the attempt as the log keeps it."""
    body = delivery["body"].encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(settings.webhook_secret, delivery["id"], timestamp, body),
    }
    started = time.monotonic()
    attempt: dict[str, Any] = {"at": iso(time.time()), "status_code": None, "error": None}
    try:
        # Redirects are not followed: a 3xx could point anywhere, past the URL rules.
        response = http.post(
            delivery["url"],
            content=body,
            headers=headers,
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
        )
        attempt["status_code"] = response.status_code
        if not response.is_success:
            attempt["error"] = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        attempt["error"] = f"{type(exc).__name__}: {exc}"[:300]
    attempt["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    attempt["ok"] = attempt["error"] is None
    return attempt


def attempt_delivery(
    client: redis.Redis,
    settings: Settings,
    job_id: str,
    delivery_id: str,
    http: httpx.Client | None = None,
    *,
    retries_left: bool = True,
) -> tuple[str, float]:
    """Attempt one delivery and log it. Returns (outcome, retry in seconds):
    outcome is delivered, retry, failed (gave up) or refused (URL rules / no secret)."""
    log = DeliveryLog(client, settings)
    try:
        delivery = log.get(job_id, delivery_id)
    except DeliveryNotFound:
        return "gone", 0.0  # the job was deleted meanwhile
    try:
        # Checked again at delivery: the name may resolve elsewhere by now.
        check_url(delivery["url"], allowlist=settings.url_allowlist)
        if not settings.webhook_secret:
            raise InvalidInput("LONGRUN_WEBHOOK_SECRET is unset")
    except InvalidInput as exc:
        log.add_attempt(
            job_id,
            delivery_id,
            {
                "at": iso(time.time()),
                "status_code": None,
                "ok": False,
                "error": f"refused: {exc.message}",
                "duration_ms": 0,
            },
        )
        log.set_state(job_id, delivery_id, FAILED)
        client.hincrby(keys.METRICS_WEBHOOKS, "refused", 1)
        return "refused", 0.0
    own = http is None
    http = http or httpx.Client()
    try:
        attempt = post(http, settings, delivery)
    finally:
        if own:
            http.close()
    n = log.add_attempt(job_id, delivery_id, attempt)
    if attempt["ok"]:
        log.set_state(job_id, delivery_id, DELIVERED)
        client.hincrby(keys.METRICS_WEBHOOKS, "delivered", 1)
        return "delivered", 0.0
    client.hincrby(keys.METRICS_WEBHOOKS, "failed", 1)
    if not retries_left:
        log.set_state(job_id, delivery_id, FAILED)
        client.hincrby(keys.METRICS_WEBHOOKS, "gave_up", 1)
        return "failed", 0.0
    wait = backoff_seconds(settings, n)
    log.set_state(job_id, delivery_id, RETRYING, next_attempt_at=time.time() + wait)
    return "retry", wait


class Dispatcher:
    """The job store's on_transition hook: records deliveries and publishes them.

    ``publish(job_id, delivery_id)`` sends the delivery task. The job's webhook
    is read once per process and job (it never changes): a worker gets it from
    the claim (``prime``), so a job without one costs nothing more.
    """

    CACHE_SIZE = 4096

    def __init__(self, store: JobStore, publish: Callable[[str, str], None]):
        self.store = store
        self.publish = publish
        self._config: OrderedDict[str, dict[str, Any] | None] = OrderedDict()

    def prime(self, job_id: str, raw: str) -> None:
        """Remember a job's webhook config (raw JSON, or empty: none) read elsewhere."""
        self._remember(job_id, json.loads(raw) if raw else None)

    def _remember(self, job_id: str, config: dict[str, Any] | None) -> None:
        self._config[job_id] = config
        self._config.move_to_end(job_id)
        if len(self._config) > self.CACHE_SIZE:
            self._config.popitem(last=False)

    def config(self, job_id: str) -> dict[str, Any] | None:
        if job_id in self._config:
            self._config.move_to_end(job_id)
            return self._config[job_id]
        raw = self.store.redis.hget(keys.job(job_id), "webhook")
        config = json.loads(raw) if raw else None
        self._remember(job_id, config)
        return config

    def __call__(self, job_id: str, status: JobStatus, progress: dict[str, Any] | None) -> str | None:
        """Returns the delivery id it published, if any."""
        event = event_for(status, progress)
        if event is None:
            return None
        config = self.config(job_id)
        if not config or event not in config["events"]:
            return None
        settings = self.store.settings
        interval_ms = int(settings.webhook_progress_interval_seconds * 1000)
        if (
            event == "progress"
            and interval_ms > 0
            and not self.store.redis.set(keys.webhook_throttle(job_id), "1", nx=True, px=interval_ms)
        ):
            return None  # throttled: a later progress event or the final state follows
        record = self.store.load(job_id)
        delivery = DeliveryLog(self.store.redis, settings).create(
            job_id, event, config["url"], payload(event, document(record))
        )
        self.publish(job_id, delivery["id"])
        return cast(str, delivery["id"])
