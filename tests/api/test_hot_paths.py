"""The per-process shortcuts of the hot API paths give exactly what the slow
way gives: the compiled job dump equals JobSchema's, a templated job message
equals the one Celery builds, and the rate budget refuses past the limit
however the count is split between processes."""

import base64
import json
import uuid

from api.fastdump import compile_dump
from api.limits import RateBudget
from api.schemas import JobSchema
from longrun import keys

RUNNING = {
    "id": "j1",
    "kind": "inference",
    "status": "running",
    "progress": {
        "percentage": 12,
        "current_step": 1,
        "total_steps": 1,
        "step_name": "generate",
        "message": "generated 3 tokens",
        "output": "a b c",
        "seq": 4,
        "extra": "not in the schema",
    },
    "created_at": "2026-12-01T20:00:00.000Z",
    "started_at": "2026-12-01T20:00:01.000Z",
    "finished_at": None,
    "attempts": 1,
    "priority": 0,
    "timeout_seconds": 3600,
    "metadata": {"a": [1, 2]},
    "result": None,
    "error": None,
    "tenant": "t1",
    "input": {"input": "hi"},
    "_times": {"created_at": 1.0},
}
FAILED = {
    **RUNNING,
    "status": "failed",
    "progress": {"percentage": 0, "current_step": 0, "total_steps": None, "step_name": None, "message": None, "seq": 7},
    "finished_at": "2026-12-01T20:00:09.000Z",
    "error": {"type": "Timeout", "message": "ran past 2 s"},
}
COMPLETED = {
    **RUNNING,
    "status": "completed",
    "result": {"output": "a b c", "usage": {"n": 3}},
    "cancel_requested": False,
}


def test_the_compiled_job_dump_equals_the_schemas():
    dump = compile_dump(JobSchema())
    for doc in (RUNNING, FAILED, COMPLETED):
        assert json.dumps(dump(doc), sort_keys=True) == json.dumps(JobSchema().dump(doc), sort_keys=True)


def test_a_templated_job_message_equals_the_one_celery_builds(redis_url):
    from longrun.settings import from_env
    from workers import broker
    from workers.celery_app import make_celery
    from workers.publish import publish_job

    settings = from_env({"REDIS_URL": redis_url})
    celery = make_celery(settings)

    def build(job_id):
        with broker.capture() as messages:
            publish_job(celery, settings, job_id, "sleep", 7, 120)
        return messages[0]

    templates = broker.MessageTemplates()
    for _ in range(2):  # the first builds the template, the second only fills it in
        job_id = uuid.uuid4().hex
        queue_key, payload = templates.message(("sleep", 7, 120), job_id, build)
        expected_key, expected = build(job_id)
        ours, celerys = json.loads(payload), json.loads(expected)
        for message in (ours, celerys):
            assert uuid.UUID(message["properties"].pop("delivery_tag"))
            message["body"] = base64.b64decode(message["body"]).decode()
        assert (queue_key, ours) == (expected_key, celerys)
        assert queue_key in keys.queue_keys("sleep")


def test_the_rate_budget_refuses_past_the_limit_across_processes(redis_client):
    identity = f"key:{uuid.uuid4().hex}"
    processes = [RateBudget(), RateBudget()]  # two API processes, one Redis count
    allowed = sum(1 for i in range(1200) if processes[i % 2].take(redis_client, identity, 1000, 3600) == 0)

    # Each reserves chunks of 10: never more than the limit, at most one chunk per process fewer.
    assert 1000 - 2 * 10 <= allowed <= 1000
    assert processes[0].take(redis_client, identity, 1000, 3600) > 0


def test_the_fast_json_response_equals_jsonify_and_keeps_integers_past_64_bits():
    from flask import Flask

    from api.fastdump import json_response

    big = {**RUNNING, "input": {"n": 2**70, "text": "été"}}
    with Flask(__name__).app_context():
        for doc in (RUNNING, big):
            response = json_response(doc, status=201)
            assert response.status_code == 201 and response.mimetype == "application/json"
            assert json.loads(response.get_data()) == json.loads(json.dumps(doc))
