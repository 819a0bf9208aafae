"""The hot read's lean script call (longrun.redis_conn.call_script) against a real
redis-server: it loads a script the server does not know, and tries once more on
a dropped connection, as redis-py's own client would."""

import pytest
import redis

from longrun import redis_conn

SCRIPT = "return {KEYS[1], ARGV[1]}"


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


def test_a_script_the_server_does_not_know_is_loaded(client):
    script = client.register_script(SCRIPT)
    client.script_flush()
    assert redis_conn.call_script(client, script, ["k"], ["v"]) == ["k", "v"]
    assert client.script_exists(script.sha) == [True]


def test_a_dropped_connection_is_tried_once_more(client):
    script = client.register_script(SCRIPT)
    assert redis_conn.call_script(client, script, ["k"], ["a"]) == ["k", "a"]
    conn = client.connection_pool.get_connection()
    conn.send_command("CLIENT", "ID")
    pooled_id = conn.read_response()
    client.connection_pool.release(conn)
    # The server drops the pooled connection; the next call finds it dead and reconnects.
    killer = redis.Redis(host=conn.host, port=conn.port)
    assert killer.client_kill_filter(_id=pooled_id) == 1
    killer.close()
    assert redis_conn.call_script(client, script, ["k"], ["b"]) == ["k", "b"]


def test_a_redis_that_is_down_raises_a_connection_error():
    client = redis.Redis(port=1, socket_connect_timeout=0.5)
    script = client.register_script(SCRIPT)
    with pytest.raises(redis.exceptions.ConnectionError):
        redis_conn.call_script(client, script, ["k"], ["v"])
