"""Backend quotas shared through Redis: a 429 pauses every worker's calls to
that backend, and a per-model rate holds for all callers together."""

import threading
import time
from itertools import pairwise

import pytest

from backends import ratelimit
from backends.llm import LLMClient
from longrun import keys
from longrun.settings import from_env


def client_for(server, retries=1) -> LLMClient:
    return LLMClient(server.url, "fake-model", max_retries=retries, retry_backoff=0.1, read_timeout=5)


def test_a_429_is_not_an_attempt_and_without_retry_after_pauses_for_the_backoff(openai_server):
    openai_server.reply(status=429, times=2)  # with one retry allowed, two 429s would fail a plain retry loop
    result = client_for(openai_server).chat([{"role": "user", "content": "hi"}])

    assert result.content == "echo: hi"
    assert len(openai_server.requests) == 3
    gaps = [b - a for a, b in pairwise(openai_server.arrivals)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19  # backoff 0.1 s, then 0.2 s


def test_a_retry_after_pause_holds_back_every_client_of_that_backend(openai_server, redis_client):
    openai_server.reply(status=429, headers={"Retry-After": "2"})
    first, other = client_for(openai_server), client_for(openai_server)
    results = {}
    thread = threading.Thread(
        target=lambda: results.setdefault("first", first.chat([{"role": "user", "content": "a"}]))
    )
    thread.start()
    openai_server.wait_for_requests(1)
    paused_at = openai_server.arrivals[0]
    results["other"] = other.chat([{"role": "user", "content": "b"}])  # a second caller, as on another worker
    thread.join(10)

    assert results["first"].content == "echo: a" and results["other"].content == "echo: b"
    assert len(openai_server.requests) == 3
    assert min(openai_server.arrivals[1:]) >= paused_at + 1.9  # nobody called during the pause


def test_a_model_rate_is_shared_by_all_callers(redis_client):
    settings = from_env(llm_rate_limits="rate-model=2/s")
    assert settings.rate_limits == {"rate-model": 2.0}
    redis_client.delete(keys.llm_rate("rate-model"))
    calls: list[float] = []

    def caller():
        for _ in range(3):
            ratelimit.quota("http://127.0.0.1:1/v1", "rate-model", settings).wait_turn()
            calls.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=caller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert len(calls) == 6
    # 2/s with a burst of one second's worth: two at once, then one every half second.
    assert calls[-1] - started >= 1.9
    assert sorted(calls)[2] - started >= 0.4


@pytest.mark.parametrize("text", ["gpt=fast", "gpt=5/d", "=3/s", "gpt=0/m"])
def test_bad_rate_settings_are_refused_naming_the_variable(text):
    from longrun.settings import SettingsError

    with pytest.raises(SettingsError, match="LONGRUN_LLM_RATE_LIMITS"):
        from_env(llm_rate_limits=text)


@pytest.mark.integration
def test_a_429_pauses_jobs_on_two_workers_and_they_say_so(flow_rig, openai_server, wait_for):
    rig = flow_rig()
    workers = [rig.worker(f"quota{n}") for n in range(2)]
    openai_server.reply(status=429, headers={"Retry-After": "3"})
    first = rig.submit(kind="inference", input={"input": "one"})
    openai_server.wait_for_requests(1, timeout=30)
    paused_at = openai_server.arrivals[0]
    second = rig.submit(kind="inference", input={"input": "two"})

    messages = set()

    def second_done():
        doc = rig.job(second["id"])
        if doc["progress"].get("message"):
            messages.add(doc["progress"]["message"])
        return doc["status"] == "completed"

    wait_for(second_done, timeout=30, interval=0.1, message="the second job")
    rig.wait_status(first["id"], "completed", timeout=30)

    assert len(openai_server.requests) == 3  # the 429, then one call per job: no job retried on its own
    assert min(openai_server.arrivals[1:]) >= paused_at + 2.9
    assert any("waiting" in m and "quota" in m and "429" in m for m in messages), messages
    ran_on = [w for w in workers if f"jobs.inference[{second['id']}] received" in w.log()]
    assert ran_on and f"jobs.inference[{first['id']}] received" not in ran_on[0].log()  # another worker
