"""Longrun's own settings, read once from the environment.

Celery's settings live in ``celeryconfig.py``, which reads the shared ones
(Redis URLs, retention, the longest allowed job) from here, so there is one
source of truth for both sides.
"""

import os
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from functools import lru_cache
from typing import Any

from longrun import profiles
from longrun.allowlist import Allowlist
from longrun.errors import SettingsError

__all__ = [
    "DEFAULT_REDIS_URL",
    "ENV_NAMES",
    "Settings",
    "SettingsError",
    "env_name",
    "from_env",
    "get_settings",
    "sentinel_addresses",
]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Settings:
    redis_url: str = DEFAULT_REDIS_URL
    broker_url: str = ""
    result_backend_url: str = ""
    # How long a finished job (record, result, events, files) is kept; 0 keeps forever.
    retention_seconds: int = 24 * 3600
    # How long after that an id still answers 410 Gone instead of 404.
    tombstone_seconds: int = 7 * 24 * 3600
    default_timeout_seconds: int = 3600
    max_timeout_seconds: int = 6 * 3600
    # A job whose worker died this many times is failed instead of redelivered.
    max_attempts: int = 3
    # An attempt holds the job's lease this long unless its heartbeat renews it.
    lease_seconds: int = 15
    heartbeat_seconds: float = 1.0
    # How long a running job may ignore a cancel before it is interrupted.
    cancel_grace_seconds: float = 5.0
    # Progress reports closer together than this are coalesced.
    progress_interval_seconds: float = 0.2
    # Progress and partial-output writes per worker process and second, at most: a
    # threads pool of 200 jobs reports each job every 1 s, not every 0.2 s.
    progress_writes_per_second: float = 200.0
    # A finished step's output larger than this (JSON bytes) is kept as a file, not in Redis.
    step_output_max_bytes: int = 64 * 1024
    # Unacked messages of a vanished worker are redelivered after this long.
    visibility_timeout_seconds: int = 0
    redis_timeout_seconds: float = 2.0
    # -- high availability (docs/ha.md) --
    # Sentinels "host:port,host:port": when set, every process finds the current
    # master through them (REDIS_URL, CELERY_BROKER_URL and CELERY_RESULT_BACKEND
    # are then not used) and follows it after a failover.
    redis_sentinels: str = ""
    redis_sentinel_master: str = "longrun"
    # Password of the master and replicas the sentinels name (with one Redis it goes in REDIS_URL).
    redis_password: str = field(default="", repr=False)
    # Password of the sentinels themselves (their requirepass), if any.
    redis_sentinel_password: str = field(default="", repr=False)
    # A submit answers 202, and a job's final state is written before its message
    # is acked, only once that many replicas have it (Redis WAIT); 0: do not wait.
    redis_min_replicas: int = 0
    # How long one WAIT may take; past it the submit answers 503 + Retry-After.
    redis_replica_timeout_seconds: float = 1.0
    # A pending job whose message is in no queue is published again within this
    # long (workers/reconciler.py); 0 turns the reconciler off.
    reconcile_seconds: int = 30
    events_maxlen: int = 1000
    artifacts_dir: str = "var/artifacts"
    # -- security and limits (docs/security.md) --
    # API keys: "tenant=sha256hex,..." (hash a key with: python -m api.auth hash KEY).
    api_keys: str = ""
    # "on" (default) or "off": off serves every request as tenant "default" (local development only).
    auth: str = "on"
    # Largest request body (uploads included) and multipart limits; past them: 413.
    max_request_bytes: int = 50 * 1024 * 1024
    max_form_parts: int = 100
    max_form_field_bytes: int = 1024 * 1024
    # Requests per API key per window; past it: 429 + Retry-After. 0 turns it off.
    rate_limit_requests: int = 1200
    rate_limit_window_seconds: int = 60
    # -- flow control (docs/flow-control.md) --
    # Jobs of one tenant sent to workers or running at once; the rest wait in Redis (0: no cap).
    max_running_per_tenant: int = 0
    # Per-kind caps on jobs out at once, "browser=4,codegen=2" (a kind not named: its workers' slots).
    max_running_per_kind: str = ""
    # "on": jobs wait in Redis and are dispatched in turn across tenants; "off": published at submit.
    fair_dispatch: str = "on"
    # Shares of the dispatch turn, "acme=3,beta=2" (a tenant not named has weight 1).
    tenant_weights: str = ""
    # How often the elected mover looks for due delayed jobs and schedule ticks.
    dispatch_tick_seconds: float = 0.2
    # Latest run_at / largest delay_seconds a submit may ask for.
    max_delay_seconds: int = 366 * 24 * 3600
    # Messages waiting in a kind's queue past which submit answers 503 + Retry-After (0: no limit).
    max_queue_depth: int = 10000
    # Live event stream (SSE): idle streams get a comment this often; each
    # tenant may hold this many open at once.
    sse_heartbeat_seconds: float = 15.0
    sse_max_streams_per_tenant: int = 20
    # Webhooks: deliveries are signed with this secret (Standard Webhooks;
    # "whsec_<base64>" or any string). Empty: jobs with a webhook are refused.
    webhook_secret: str = ""
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 8
    # Retry n waits base * 2**(n-1) seconds, at most webhook_retry_max_seconds.
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_seconds: float = 600.0
    # At most one progress delivery per job this often (started/completed always go).
    webhook_progress_interval_seconds: float = 5.0
    # Per-job logs: records at or above this level are kept, at most this many
    # lines and bytes (the oldest go first), each line cut to job_log_line_bytes.
    job_log_level: str = "INFO"
    job_log_max_lines: int = 2000
    job_log_max_bytes: int = 512 * 1024
    job_log_line_bytes: int = 4096
    # Largest file a multipart upload may carry (413 past it).
    max_upload_bytes: int = 20 * 1024 * 1024
    # codegen: characters of extracted PDF text sent to the model (fit its context).
    codegen_prompt_chars: int = 6000
    # Jobs one worker process runs at once (Celery's concurrency); 0: one per CPU.
    worker_concurrency: int = 0
    # Which queues a worker takes, and on which pool (docs/pools.md): "" every queue
    # on prefork; "io" the I/O-bound kinds (io_kinds) and webhook deliveries on a
    # threads pool of io_concurrency; "cpu" every other kind on prefork.
    worker_role: str = ""
    io_kinds: str = "inference,chat,chat_completion"
    io_concurrency: int = 200
    # Finished jobs kept per tenant (the janitor removes the oldest first); 0: no limit.
    max_finished_jobs: int = 0
    # Synchronous seed routes (POST /api/v2/chat/qa, POST /api/v1/generate) wait this long.
    sync_wait_seconds: int = 110
    # Hosts jobs may reach although the URL rules would refuse them (longrun/urls.py):
    # comma-separated hostnames (*.suffix), host:port, IPs or CIDRs.
    url_allowlist: str = ""
    # Browser jobs: Debian's Chromium (never a downloaded one), and how long one step may wait.
    chromium_path: str = "/usr/bin/chromium"
    browser_step_timeout_seconds: float = 30.0
    # OpenAI-compatible chat completions endpoint (Ollama, vLLM, llama.cpp, OpenAI), e.g.
    # http://127.0.0.1:11434/v1; empty: no model configured (LLM jobs fail saying so).
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = field(default="", repr=False)
    llm_connect_timeout_seconds: float = 5.0
    # Longest wait for the next bytes of an answer (a streamed token, or a whole
    # non-streamed answer): past it the call is retried, then the job fails.
    llm_read_timeout_seconds: float = 120.0
    llm_max_retries: int = 2
    llm_retry_backoff_seconds: float = 1.0
    # How an answer cut off by a lost worker goes on (docs/steps.md): prefix | vllm | restart.
    llm_resume: str = "prefix"
    # Chat history per chat_id: kept this long after its last turn, at most this many messages.
    chat_history_seconds: int = 30 * 24 * 3600
    chat_history_max_messages: int = 40
    # Shared request rates per model, "gpt-4o-mini=500/m,llama3=10/s" (every worker together).
    llm_rate_limits: str = ""
    # Longest one LLM call waits for its model's quota (429 pauses, the rate above) before it fails.
    llm_rate_limit_max_wait_seconds: float = 600.0
    # The console (/console, docs/console.md): signs its session cookies with this
    # secret; empty: a random one made once and shared by every API process in Redis.
    console_secret: str = field(default="", repr=False)
    # A console session ends this long after sign-in.
    console_session_hours: float = 12.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "broker_url", self.broker_url or self.redis_url)
        object.__setattr__(self, "result_backend_url", self.result_backend_url or self.redis_url)
        if not self.visibility_timeout_seconds:
            object.__setattr__(self, "visibility_timeout_seconds", self.max_timeout_seconds + 600)
        for name in (
            "retention_seconds",
            "tombstone_seconds",
            "max_attempts",
            "lease_seconds",
            "worker_concurrency",
            "max_finished_jobs",
            "max_upload_bytes",
            "redis_min_replicas",
            "reconcile_seconds",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must not be negative")
        if self.max_attempts < 1:
            raise SettingsError("max_attempts must be at least 1")
        if self.llm_resume not in ("prefix", "vllm", "restart"):
            raise SettingsError("LONGRUN_LLM_RESUME must be 'prefix', 'vllm' or 'restart'")
        if self.auth not in ("on", "off"):
            raise SettingsError("LONGRUN_AUTH must be 'on' or 'off'")
        for name in ("max_request_bytes", "max_form_parts", "rate_limit_window_seconds"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{env_name(name)} must be at least 1")
        try:
            Allowlist.parse(self.url_allowlist)
        except ValueError as exc:
            raise SettingsError(f"url_allowlist: {exc}") from None
        if self.fair_dispatch not in ("on", "off"):
            raise SettingsError("LONGRUN_FAIR_DISPATCH must be 'on' or 'off'")
        for name in ("max_running_per_kind", "tenant_weights"):
            try:
                parse_counts(getattr(self, name))
            except ValueError as exc:
                raise SettingsError(f"{env_name(name)}: {exc}") from None
        try:
            parse_rates(self.llm_rate_limits)
        except ValueError as exc:
            raise SettingsError(f"{env_name('llm_rate_limits')}: {exc}") from None
        if self.redis_sentinels:
            sentinel_addresses(self.redis_sentinels)  # raises SettingsError naming the bad entry
        if self.default_timeout_seconds > self.max_timeout_seconds:
            raise SettingsError("default_timeout_seconds must not exceed max_timeout_seconds")
        if self.worker_role not in ("", "io", "cpu"):
            raise SettingsError("LONGRUN_WORKER_ROLE must be empty, 'io' or 'cpu'")
        if self.io_concurrency < 1:
            raise SettingsError("LONGRUN_IO_CONCURRENCY must be at least 1")

    @property
    def kind_caps(self) -> dict[str, int]:
        return parse_counts(self.max_running_per_kind)

    @property
    def weights(self) -> dict[str, int]:
        return parse_counts(self.tenant_weights)

    @property
    def rate_limits(self) -> dict[str, float]:
        """Model -> requests per second allowed to all workers together."""
        return parse_rates(self.llm_rate_limits)

    @property
    def job_grace_seconds(self) -> int:
        """Seconds between a job's soft time limit and the hard kill."""
        return max(5, int(self.cancel_grace_seconds))


def parse_counts(text: str) -> dict[str, int]:
    """``"a=3,b=2"`` -> {"a": 3, "b": 2}; each count a whole number of at least 1."""
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"{item!r} is not name=N with N >= 1")
        out[name.strip()] = int(value)
    return out


RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rates(text: str) -> dict[str, float]:
    """``"gpt-4o-mini=500/m"`` -> {"gpt-4o-mini": 8.33} (requests per second)."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, rate = item.partition("=")
        count, _, unit = rate.strip().partition("/")
        try:
            per_second = float(count) / RATE_UNITS[unit.strip() or "s"]
        except (ValueError, KeyError):
            raise ValueError(f"{item!r} is not model=N/s, N/m or N/h") from None
        if not name.strip() or per_second <= 0:
            raise ValueError(f"{item!r} is not model=N/s, N/m or N/h with N > 0")
        out[name.strip()] = per_second
    return out


def sentinel_addresses(spec: str) -> list[tuple[str, int]]:
    """LONGRUN_REDIS_SENTINELS ``"host:port,host:port"`` -> [(host, port), ...]."""
    addresses = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"LONGRUN_REDIS_SENTINELS: {entry!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    if not addresses:
        raise SettingsError("LONGRUN_REDIS_SENTINELS names no sentinel")
    return addresses


# Environment variable -> field. REDIS_URL and Celery's own names stay as users know them.
ENV_NAMES = {
    "redis_url": "REDIS_URL",
    "broker_url": "CELERY_BROKER_URL",
    "result_backend_url": "CELERY_RESULT_BACKEND",
    "llm_base_url": "LLM_BASE_URL",
    "llm_model": "LLM_MODEL",
    "llm_api_key": "LLM_API_KEY",
}


def env_name(field_name: str) -> str:
    return ENV_NAMES.get(field_name, "LONGRUN_" + field_name.upper())


def _convert(field: Field[Any], raw: str) -> Any:
    kind = field.type if isinstance(field.type, type) else type(field.default)
    try:
        return kind(float(raw)) if kind is int else kind(raw)
    except ValueError:
        raise SettingsError(f"{env_name(field.name)}={raw!r} is not a valid {kind.__name__}") from None


def from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from the profile file (``ENV``, see longrun.profiles), then the
    environment, then ``overrides``: each later source wins."""
    environ = os.environ if environ is None else environ
    values, sources = profiles.load(environ)
    for spec in fields(Settings):
        raw = environ.get(env_name(spec.name))
        if raw not in (None, ""):
            values[spec.name] = _convert(spec, raw)
            sources.pop(spec.name, None)
    values.update(overrides)
    try:
        return Settings(**values)
    except SettingsError as exc:
        # Name the profile key when the value came from the file.
        message = str(exc)
        for name, source in sources.items():
            if name not in overrides and message.startswith(name):
                message = f"{source} ({message})"
        raise SettingsError(message) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return from_env()
