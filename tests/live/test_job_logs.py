"""Per-job logs: what a job logs is kept with it, capped, served and deleted with it."""

import logging

import pytest

from longrun import keys
from longrun.joblog import JobLogStore
from workers.job_logs import JobLogHandler


def test_log_keeps_the_newest_lines_within_the_line_and_byte_caps(redis_client, settings_for, redis_url):
    store = JobLogStore(redis_client, settings_for(redis_url, job_log_max_lines=10, job_log_max_bytes=10_000))
    job_id = "c" * 32
    redis_client.delete(keys.job_log(job_id), keys.job_log_meta(job_id))
    redis_client.hset(keys.job(job_id), "status", "running")  # a log is kept only for a job that exists

    store.append(job_id, [f'{{"ts":null,"level":"INFO","logger":"t","message":"line {i}"}}' for i in range(50)])

    log = store.read(job_id)
    assert [line["message"] for line in log["lines"]] == [f"line {i}" for i in range(40, 50)]
    assert log["dropped"] == 40
    small = JobLogStore(redis_client, settings_for(redis_url, job_log_max_bytes=400))  # lines are 152 bytes
    small.append(job_id, ['{"ts":null,"level":"INFO","logger":"t","message":"%s"}' % ("x" * 100)] * 5)
    log = small.read(job_id)
    assert log["bytes"] == 304 and len(log["lines"]) == 2
    assert store.read(job_id, tail=1)["lines"] == log["lines"][-1:]


def test_handler_keeps_records_of_any_logger_only_while_a_job_runs(redis_client, settings_for, redis_url):
    settings = settings_for(redis_url, job_log_line_bytes=40)
    handler = JobLogHandler(JobLogStore(redis_client, settings))
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    job_id = "d" * 32
    redis_client.delete(keys.job_log(job_id), keys.job_log_meta(job_id))
    redis_client.hset(keys.job(job_id), "status", "running")  # a log is kept only for a job that exists
    try:
        logger.warning("before the job")
        handler.start_job(job_id)
        logger.warning("inside the job: %s", "y" * 100)
        logger.debug("below the kept level")
        handler.end_job(job_id)
        logger.warning("after the job")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)

    lines = JobLogStore(redis_client, settings).read(job_id)["lines"]
    assert len(lines) == 1
    assert lines[0]["level"] == "WARNING" and lines[0]["logger"] == "some.library"
    assert lines[0]["message"].startswith("inside the job: yyy") and lines[0]["message"].endswith("...")
    assert len(lines[0]["message"].encode()) <= 40


@pytest.mark.integration
def test_a_jobs_log_lines_are_served_with_it(client, submit, wait_for_status):
    job = submit(input={"seconds": 0.2, "steps": 2, "fail": True})
    wait_for_status(job["id"], "failed")

    body = client.get(f"/api/v1/jobs/{job['id']}/logs").get_json()

    messages = [(line["level"], line["logger"], line["message"]) for line in body["lines"]]
    assert messages == [
        ("INFO", "longrun.job", "step 1 of 2: sleeping 0.1s"),
        ("INFO", "longrun.job", "step 2 of 2: sleeping 0.1s"),
        ("ERROR", "longrun.job", "failing on purpose after 2 steps"),
    ]
    assert body["dropped"] == 0
    text = client.get(f"/api/v1/jobs/{job['id']}/logs?format=text")
    assert text.mimetype == "text/plain"
    assert text.get_data(as_text=True).splitlines()[-1].endswith("longrun.job: failing on purpose after 2 steps")
    assert client.get(f"/api/v1/jobs/{'0' * 32}/logs").status_code == 404


@pytest.mark.integration
def test_a_chatty_jobs_log_is_capped_and_goes_with_the_job(client, submit, wait_for_status, redis_client):
    job = submit(input={"seconds": 0, "steps": 1, "log_lines": 2100})  # 2101 lines; the cap is 2000
    wait_for_status(job["id"], "completed")

    body = client.get(f"/api/v1/jobs/{job['id']}/logs").get_json()

    assert len(body["lines"]) == 2000 and body["dropped"] == 101
    assert body["lines"][-1]["message"] == "step 1 line 2100"
    assert 0 < redis_client.ttl(keys.job_log(job["id"])) <= 24 * 3600  # expires with the job
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
    assert not redis_client.exists(keys.job_log(job["id"]), keys.job_log_meta(job["id"]))
