"""Every kind resumes from its checkpoints when its pool process is killed
(SIGKILL, by the pid its lease names): codegen does not parse again, a
scripted browser job reopens its page and goes on at the next step, and an
interrupted LLM answer is continued, not started over. The session's worker,
fake model server and test pages."""

import io
import json

import pytest

from longrun import keys
from tests.support.jobs import events, kill_job_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def step_status(redis_client, job_id, position):
    entry = redis_client.hget(keys.steps(job_id), str(position))
    return json.loads(entry)["status"] if entry else None


def log_lines(redis_client, job_id, text) -> int:
    return sum(text in json.loads(line)["message"] for line in redis_client.lrange(keys.job_log(job_id), 0, -1))


def attempts_of(doc) -> list[int]:
    return [step["attempt"] for step in doc["steps"]]


def test_codegen_killed_after_its_parse_steps_does_not_parse_again(
    client, worker, wait_for_status, openai_server, redis_client, datasheet_pdf, schematic_pdf
):
    answer = "```c\nvoid touch_init(void) { TK_CTRL = 0x01; }\n```"
    openai_server.reply(answer, tokens=[answer[i : i + 4] for i in range(0, len(answer), 4)], token_delay=0.3)
    openai_server.set_default(answer)
    response = client.post(
        "/api/v1/jobs",
        content_type="multipart/form-data",
        data={
            "kind": "codegen",
            "input": json.dumps({"instruction": "init the touch keys", "language": "c"}),
            "datasheet": (io.BytesIO(datasheet_pdf), "ds.pdf"),
            "schematic": (io.BytesIO(schematic_pdf), "sch.pdf"),
        },
    )
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    # In step 3, waiting for the slow answer, with both parses done and logged.
    wait_until(
        lambda: (
            step_status(redis_client, job_id, 3) == "running"
            and log_lines(redis_client, job_id, "parsing the schematic") == 1
            and openai_server.requests
        ),
        timeout=60,
        message="codegen to be in its generate step",
    )

    kill_job_process(redis_client, worker, job_id, attempt=1)

    done = wait_for_status(job_id, "completed", "failed", timeout=90)
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2
    assert attempts_of(done) == [1, 1, 2]
    assert [s["name"] for s in done["steps"]] == ["parse datasheet", "parse schematic", "generate code"]
    assert log_lines(redis_client, job_id, "parsing the datasheet") == 1
    assert log_lines(redis_client, job_id, "parsing the schematic") == 1
    assert done["result"]["generated_code"] == "void touch_init(void) { TK_CTRL = 0x01; }\n"
    # The resumed answer still had the parsed texts: the second request carried them.
    assert len(openai_server.requests) == 2
    assert "TK_CTRL" in openai_server.requests[1]["messages"][1]["content"]


def test_browser_job_killed_in_step_3_reopens_the_page_and_resumes_at_step_3(
    client, submit, worker, wait_for_status, test_pages, redis_client, chromium_processes
):
    from backends.browser.processes import kill_marked

    hits_before = len(test_pages.hits)
    job = submit(
        "browser",
        {
            "steps": [
                {"action": "goto", "url": test_pages.url("/links")},
                {"action": "click", "selector": "#to-about"},
                {"action": "wait_for", "ms": 4000},
                {"action": "extract", "selector": "#about", "name": "about.txt"},
            ]
        },
    )
    job_id = job["id"]
    wait_until(
        lambda: step_status(redis_client, job_id, 3) == "running", timeout=60, message="the browser job to be in step 3"
    )

    kill_job_process(redis_client, worker, job_id, attempt=1)
    kill_marked(job_id)  # the killed process's Chromium: a real host loses it with the process

    done = wait_for_status(job_id, "completed", "failed", timeout=90)
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2
    assert attempts_of(done) == [1, 1, 2, 2]
    result = done["result"]
    assert result["final_url"] == test_pages.url("/about")
    assert result["extracted"] == {"about.txt": "Longrun test site"}
    assert [s["action"] for s in result["steps"]] == ["goto", "click", "wait_for", "extract"]
    hits = test_pages.hits[hits_before:]
    # Steps 1 and 2 ran once (one visit of /links); /about twice: the click, then the reopen.
    assert hits.count("/links") == 1
    assert hits.count("/about") == 2
    wait_until(lambda: not chromium_processes(job_id), timeout=30, message="no Chromium of the job left")


def test_inference_killed_mid_stream_continues_its_answer(
    client, submit, worker, wait_for_status, openai_server, redis_client
):
    words = [f"word{i} " for i in range(40)]
    answer = "".join(words)
    openai_server.reply(answer, tokens=words, token_delay=0.1, times=2)
    job = submit("inference", {"input": "count for me", "options": {"max_tokens": 100}})
    job_id = job["id"]

    def partial_text():
        raw = redis_client.hget(keys.step_outputs(job_id), "1:partial")
        text = json.loads(raw)["value"]["text"] if raw else ""
        return text if len(text.split()) >= 10 else None

    wait_until(partial_text, timeout=60, message="a partial answer to be saved")

    kill_job_process(redis_client, worker, job_id, attempt=1)

    done = wait_for_status(job_id, "completed", "failed", timeout=90)
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2
    # One coherent answer: the saved words, then the rest, each word exactly once.
    assert done["result"]["output"] == answer
    assert len(openai_server.continued) == 1
    prefix = openai_server.continued[0]
    assert answer.startswith(prefix) and len(prefix.split()) >= 10
    second = openai_server.requests[1]["messages"]
    assert second[-1] == {"role": "assistant", "content": prefix}
    resumed = [
        json.loads(e["progress"]).get("resumed")
        for e in events(redis_client, job_id)
        if e.get("progress") and "resumed" in json.loads(e["progress"])
    ]
    assert resumed == [{"attempt": 2, "from_step": 1, "step_name": "generate", "steps_done": 0}]
    # The partial answer was only for the resume: a final job keeps none.
    assert not redis_client.exists(keys.step_outputs(job_id))


def test_chat_turn_killed_mid_answer_is_continued_and_written_to_the_history_once(
    client, submit, worker, wait_for_status, openai_server, redis_client
):
    import uuid

    words = [f"part{i} " for i in range(30)]
    openai_server.reply("".join(words), tokens=words, token_delay=0.1, times=2)
    chat_id = f"durable-{uuid.uuid4().hex[:8]}"
    job_id = submit("chat", {"input": "tell me a long story", "chat_id": chat_id})["id"]
    wait_until(
        lambda: redis_client.hexists(keys.step_outputs(job_id), "1:partial"),
        timeout=60,
        message="a partial answer to be saved",
    )

    kill_job_process(redis_client, worker, job_id, attempt=1)

    done = wait_for_status(job_id, "completed", "failed", timeout=90)
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2
    history = [json.loads(m) for m in redis_client.lrange(keys.chat_messages("default", chat_id), 0, -1)]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[1]["content"] == "".join(words)
    assert len(openai_server.continued) == 1
