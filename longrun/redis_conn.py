"""Redis connections built from Settings: one Redis, or the master Sentinel names.

Every process (API, workers, the broker transport, the result backend, the job
store) reaches Redis through what this module computes, so that one setting,
``LONGRUN_REDIS_SENTINELS``, moves all of them onto a Sentinel-managed master.
redis-py's Sentinel-managed pools ask the sentinels for the master's address on
every new connection and drop a connection whose server was demoted, so after a
failover each process follows the new master by itself; requests made in the
window fail with one of ``longrun.errors.REDIS_UNREACHABLE`` and the API
answers 503 + Retry-After.
"""

from typing import Any, cast
from urllib.parse import quote, urlparse

import redis
from redis.sentinel import Sentinel

from longrun.settings import Settings, sentinel_addresses

SENTINEL_DB = 0

try:  # redis-py >= 7: a new connection otherwise looks its own version up (importlib.metadata, ~1 ms)
    from redis.driver_info import DriverInfo

    DRIVER: dict[str, Any] = {"driver_info": DriverInfo(name="redis-py")}  # its version looked up once here
except ImportError:
    DRIVER = {}


def uses_sentinel(settings: Settings) -> bool:
    return bool(settings.redis_sentinels)


def _sentinel_kwargs(settings: Settings) -> dict[str, Any]:
    """How to talk to the sentinels themselves (not to the master)."""
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_seconds,
        "socket_connect_timeout": settings.redis_timeout_seconds,
    }
    if settings.redis_sentinel_password:
        options["password"] = settings.redis_sentinel_password
    return options


def client(settings: Settings, *, decode_responses: bool = True) -> redis.Redis:
    """The job store's client: of REDIS_URL, or of the master the sentinels name now."""
    options = {
        "decode_responses": decode_responses,
        "socket_timeout": settings.redis_timeout_seconds,
        "socket_connect_timeout": settings.redis_timeout_seconds,
        "health_check_interval": 30,
        # redis-py caps a pool at 100 connections and then raises: a threads pool of
        # 200 jobs needs more. A process opens only as many as it uses at once.
        "max_connections": 10_000,
        **DRIVER,
    }
    if not uses_sentinel(settings):
        return redis.Redis.from_url(settings.redis_url, **options)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py's Sentinel is not annotated
        sentinel_addresses(settings.redis_sentinels), sentinel_kwargs=_sentinel_kwargs(settings)
    )
    master = sentinel.master_for(  # type: ignore[no-untyped-call]
        settings.redis_sentinel_master, db=SENTINEL_DB, password=settings.redis_password or None, **options
    )
    return cast(redis.Redis, master)


def call_script(client: redis.Redis, script: Any, script_keys: list[str], args: list[Any] | tuple[()] = ()) -> Any:
    """``script(keys=, args=)`` for a read-only script on a hot path, in one EVALSHA
    on a pooled connection without redis-py's per-command layers (about a third of
    a status read's Redis CPU). Like redis-py's client it tries once more on a
    dropped connection (safe: the script only reads) and loads a script a new or
    restarted server does not know."""
    pool = client.connection_pool
    for attempt in (1, 2):
        conn: Any = pool.get_connection()  # redis-py leaves send_command/disconnect unannotated
        try:
            try:
                conn.send_command("EVALSHA", script.sha, len(script_keys), *script_keys, *args)
                return conn.read_response()
            except redis.exceptions.NoScriptError:
                conn.send_command("EVAL", script.script, len(script_keys), *script_keys, *args)
                return conn.read_response()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            conn.disconnect()
            if attempt == 2:
                raise
        finally:
            pool.release(conn)
    raise AssertionError("unreachable")


def broker_is_store(settings: Settings) -> bool:
    """True when broker messages live in the job store's Redis: then the create
    script can push a job's message with its record, and the reconciler can
    check the queues atomically with the records."""
    if uses_sentinel(settings):
        return True
    return settings.broker_url == settings.redis_url and urlparse(settings.broker_url).scheme == "redis"


def _sentinel_url(settings: Settings) -> str:
    """kombu's and Celery's form: one ``sentinel://`` URL per sentinel, joined by ``;``.
    The password in them is the master's (the sentinels' goes in sentinel_kwargs)."""
    auth = f":{quote(settings.redis_password, safe='')}@" if settings.redis_password else ""
    return ";".join(
        f"sentinel://{auth}{host}:{port}/{SENTINEL_DB}" for host, port in sentinel_addresses(settings.redis_sentinels)
    )


def celery_settings(settings: Settings) -> dict[str, Any]:
    """Celery's broker and result backend settings for these Redis settings.

    Both are kombu's and Celery's own Redis or Sentinel support, extended by our
    transport (workers/broker.py) and backend (workers/result_backend.py).
    ``broker_transport_options`` here is merged into celeryconfig's own.
    """
    if uses_sentinel(settings):
        sentinel = {"master_name": settings.redis_sentinel_master, "sentinel_kwargs": _sentinel_kwargs(settings)}
        url = _sentinel_url(settings)
        return {
            "broker_url": url,
            "broker_transport": "workers.broker:SentinelTransport",
            "broker_transport_options": sentinel,
            "result_backend": "workers.result_backend:LongrunSentinelBackend+" + url,
            "result_backend_transport_options": sentinel,
        }
    return {
        "broker_url": settings.broker_url,
        # kombu's Redis transport, plus handing a job's message to the job
        # store's create script (one round trip per submit; workers/broker.py).
        "broker_transport": "workers.broker:Transport" if urlparse(settings.broker_url).scheme == "redis" else None,
        "broker_transport_options": {},
        # Our backend subclass writes each job state change atomically with the
        # job index and event stream (workers/result_backend.py).
        "result_backend": "workers.result_backend:LongrunBackend+" + settings.result_backend_url,
        "result_backend_transport_options": {},
    }
