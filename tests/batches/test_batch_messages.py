"""The broker messages of a batch's items are the ones Celery would build for each job."""

import json

from api import batch_service, service
from api.extensions import services


def test_each_item_message_is_what_celery_builds_for_its_job(app):
    with app.app_context():
        svc = services(app)
        make = batch_service.message_factory(svc, "sleep", 4, 120)
        assert make is not None
        for job_id in ("a" * 32, "0123456789abcdef" * 2):
            queue_key, payload = make(job_id)
            want_key, want = service.prepare_message(svc, job_id, "sleep", 4, 120)
            got, expected = json.loads(payload), json.loads(want)
            assert queue_key == want_key
            assert got["properties"].pop("delivery_tag") != expected["properties"].pop("delivery_tag")
            assert got == expected
