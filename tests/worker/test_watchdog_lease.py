"""The watchdog's heartbeat (lua/renew.lua, on fakeredis): an attempt renews
only its own lease, takes back one that lapsed while nobody else took it, and
stops when another attempt holds the job (so a worker that lost touch with
Redis cannot steal the lease back from the copy that was re-queued)."""

import time

from longrun import keys
from tests.support.jobs import claim, new_job
from workers.watchdog import RunningJob, Watchdog


def test_heartbeat_renews_the_attempts_own_lease_and_deadline(fake_store):
    job_id = new_job(fake_store)
    claim(fake_store, job_id, token="a:1:x")
    fake_store.redis.expire(keys.lease(job_id), 1)
    fake_store.redis.zadd(keys.RUNNING, {job_id: time.time()})

    assert fake_store.renew(job_id, "a:1:x") == ("held", False)

    assert fake_store.redis.ttl(keys.lease(job_id)) > 1
    assert fake_store.redis.zscore(keys.RUNNING, job_id) > time.time() + 1


def test_heartbeat_takes_back_a_lapsed_lease_nobody_took_and_runs_again(fake_store):
    job_id = new_job(fake_store)
    claim(fake_store, job_id, token="a:1:x")
    fake_store.redis.delete(keys.lease(job_id))
    fake_store.transition(job_id, "pending")  # as the reaper would have re-queued it

    assert fake_store.renew(job_id, "a:1:x") == ("held", False)

    assert fake_store.redis.get(keys.lease(job_id)) == "a:1:x"
    assert fake_store.get(job_id)["status"] == "running"


def test_heartbeat_never_overwrites_another_attempts_lease(fake_store):
    job_id = new_job(fake_store)
    claim(fake_store, job_id, token="a:1:x")
    fake_store.redis.delete(keys.lease(job_id))
    claim(fake_store, job_id, token="b:2:y")  # the re-queued copy took the job

    assert fake_store.renew(job_id, "a:1:x") == ("lost", False)
    assert fake_store.redis.get(keys.lease(job_id)) == "b:2:y"


def test_heartbeat_of_a_finished_job_renews_nothing_and_reports_a_cancel(fake_store):
    job_id = new_job(fake_store)
    claim(fake_store, job_id, token="a:1:x")
    fake_store.request_cancel(job_id)
    assert fake_store.renew(job_id, "a:1:x") == ("held", True)

    fake_store.transition(job_id, "completed")

    assert fake_store.renew(job_id, "a:1:x")[0] == "over"
    assert not fake_store.redis.exists(keys.lease(job_id))
    assert fake_store.redis.zscore(keys.RUNNING, job_id) is None


def test_watchdog_stops_a_copy_whose_lease_another_attempt_holds(fake_store):
    job_id = new_job(fake_store)
    claim(fake_store, job_id, token="a:1:x")
    fake_store.redis.delete(keys.lease(job_id))
    claim(fake_store, job_id, token="b:2:y")
    running = RunningJob(job_id, "a:1:x")

    Watchdog()._beat(fake_store, running)

    assert running.lease_lost and running.cancel_event.is_set()
    assert fake_store.get(job_id)["status"] == "running"  # the job itself is untouched
