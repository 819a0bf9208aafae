"""Fixtures for live events, webhooks, logs and metrics: a webhook receiver on
127.0.0.1 (tests/support/webhooks.py). Reading an event stream: tests/support/sse.py."""

import pytest

from tests.support.webhooks import WebhookReceiver


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.close()
