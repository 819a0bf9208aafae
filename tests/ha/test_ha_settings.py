"""The HA settings (docs/ha.md) and what they configure: sentinel addresses,
Celery's broker and backend through Sentinel, the passwords kept out of reprs;
and a write that reaches a read-only replica answers 503, not 500."""

import uuid

import pytest

from longrun import redis_conn
from longrun.settings import Settings, SettingsError, from_env, sentinel_addresses

SENTINEL_ENV = {
    "LONGRUN_REDIS_SENTINELS": "10.0.0.1:26379, sentinel-b:26380",
    "LONGRUN_REDIS_SENTINEL_MASTER": "jobs",
    "LONGRUN_REDIS_PASSWORD": "p@ss/word",
    "LONGRUN_REDIS_SENTINEL_PASSWORD": "s3nt",
    "LONGRUN_REDIS_MIN_REPLICAS": "1",
    "LONGRUN_RECONCILE_SECONDS": "12",
}


def test_sentinel_settings_come_from_their_environment_variables_and_hide_the_passwords():
    settings = from_env(SENTINEL_ENV)

    assert sentinel_addresses(settings.redis_sentinels) == [("10.0.0.1", 26379), ("sentinel-b", 26380)]
    assert (settings.redis_sentinel_master, settings.redis_min_replicas, settings.reconcile_seconds) == ("jobs", 1, 12)
    assert "p@ss/word" not in repr(settings) and "s3nt" not in repr(settings)


@pytest.mark.parametrize("bad", ["sentinel-a", "host:port", "host:0", ",", "host:70000"])
def test_a_bad_sentinel_address_names_the_variable(bad):
    with pytest.raises(SettingsError, match="LONGRUN_REDIS_SENTINELS"):
        from_env({"LONGRUN_REDIS_SENTINELS": bad})


def test_negative_min_replicas_is_refused():
    with pytest.raises(SettingsError, match="redis_min_replicas"):
        Settings(redis_min_replicas=-1)


def test_celery_reaches_broker_and_backend_through_the_sentinels():
    from kombu.transport import get_transport_cls

    from workers import broker
    from workers.celery_app import make_celery
    from workers.result_backend import LongrunSentinelBackend

    settings = from_env(SENTINEL_ENV)
    app = make_celery(settings)
    conf = app.conf

    assert conf.broker_url == (
        "sentinel://:p%40ss%2Fword@10.0.0.1:26379/0;sentinel://:p%40ss%2Fword@sentinel-b:26380/0"
    )
    options = conf.broker_transport_options
    assert options["master_name"] == conf.result_backend_transport_options["master_name"] == "jobs"
    assert options["sentinel_kwargs"]["password"] == "s3nt"
    assert options["visibility_timeout"] == settings.visibility_timeout_seconds  # celeryconfig's own still there
    with app.connection_for_write() as connection:
        assert get_transport_cls(connection.transport_cls) is broker.SentinelTransport
    assert isinstance(app.backend, LongrunSentinelBackend)
    assert redis_conn.broker_is_store(settings)


def test_without_sentinels_everything_stays_on_redis_url():
    settings = Settings(redis_url="redis://127.0.0.1:6390/2")
    celery = redis_conn.celery_settings(settings)

    assert celery["broker_url"] == "redis://127.0.0.1:6390/2"
    assert celery["broker_transport"] == "workers.broker:Transport"
    assert celery["result_backend"] == "workers.result_backend:LongrunBackend+redis://127.0.0.1:6390/2"
    assert redis_conn.broker_is_store(settings)
    assert not redis_conn.broker_is_store(Settings(redis_url="redis://a/0", broker_url="redis://b/0"))


@pytest.mark.integration
def test_a_submit_that_reaches_a_read_only_replica_answers_503_not_500(redis_factory, settings_for, client_for):
    from tests.support.redis_cluster import RedisNode
    from tests.support.session import SESSION_DIR

    master = redis_factory()
    replica = RedisNode(SESSION_DIR / f"replica-{uuid.uuid4().hex[:6]}", replica_of=master.port).start()
    try:
        client = client_for(settings_for(replica.url))  # as a connection to a just-demoted master would
        response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}})

        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "service_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    finally:
        replica.kill()
