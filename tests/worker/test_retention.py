"""Finished jobs expire after the configured retention: 410 for a while, then
404, and nothing is left behind in Redis."""

import pytest

from longrun import keys
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_expired_job_is_410_then_404_and_leaves_no_key(redis_factory, start_worker, settings_for, client_for):
    import redis

    server = redis_factory()
    retention = {"LONGRUN_RETENTION_SECONDS": "2", "LONGRUN_TOMBSTONE_SECONDS": "3"}
    settings = settings_for(server.url, retention_seconds=2, tombstone_seconds=3)
    client = client_for(settings)
    start_worker("retention", redis=server.url, **retention)
    db = redis.Redis.from_url(server.url, decode_responses=True)

    job_id = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}}).get_json()["id"]
    wait_until(lambda: client.get(f"/api/v1/jobs/{job_id}").get_json()["status"] == "completed", message="completion")
    assert 0 < db.ttl(keys.job(job_id)) <= 2

    wait_until(lambda: client.get(f"/api/v1/jobs/{job_id}").status_code == 410, timeout=10, message="410")
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["error"]["code"] == "expired"
    wait_until(lambda: client.get(f"/api/v1/jobs/{job_id}").status_code == 404, timeout=10, message="404")

    # The janitor (every 5 s, one worker at a time) drops the index entries.
    def nothing_left():
        leftovers = list(db.scan_iter(match=f"*{job_id}*"))
        leftovers += [
            k
            for k in db.scan_iter(match=f"{keys.PREFIX}*")
            if db.type(k) == "zset" and any(m.endswith(job_id) for m in db.zrange(k, 0, -1))
        ]
        return not leftovers

    wait_until(nothing_left, timeout=15, interval=0.5, message="no key left for the job")
    db.close()
