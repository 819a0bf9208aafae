"""The ``chat`` kind end to end: a conversation whose history lives in Redis
across jobs and is sent to the (fake) model with every new question."""

import uuid

import pytest

from longrun import keys
from longrun.settings import get_settings

pytestmark = pytest.mark.integration


def _turn(submit, wait_for_status, **job_input):
    job = submit("chat", job_input)
    done = wait_for_status(job["id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    return done["result"]


def test_first_turn_returns_seed_001_shape(submit, wait_for_status, openai_server):
    chat_id = f"chat-{uuid.uuid4().hex[:8]}"
    question = "孕妇最近出现头晕症状，需要什么建议？" * 2  # longer than a title
    openai_server.reply("Rest, drink water, and see a doctor if it persists.")

    result = _turn(
        submit,
        wait_for_status,
        input=question,
        chat_id=chat_id,
        user_id=123,
        user_type="pregnant_mother",
        file_ids=["f1"],
    )

    assert set(result) == {"chat_meta", "session_title", "messages"}
    assert result["session_title"] == question[:30] + "..."
    meta = result["chat_meta"]
    assert (meta["chat_id"], meta["user_id"], meta["user_type"], meta["turns"]) == (
        chat_id,
        "123",
        "pregnant_mother",
        1,
    )
    assert meta["created_at"].endswith("Z") and meta["updated_at"] >= meta["created_at"]
    asked, answer = result["messages"]
    assert (asked["role"], asked["file_ids"]) == ("user", ["f1"])
    assert answer == {
        **answer,
        "role": "assistant",
        "model": "fake-model",
        "content": "Rest, drink water, and see a doctor if it persists.",
    }
    sent = openai_server.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "pregnant mother" in sent[0]["content"]
    assert sent[1:] == [{"role": "user", "content": question}]


def test_second_turn_sends_the_history_and_history_expires(submit, wait_for_status, openai_server, redis_client):
    chat_id = f"chat-{uuid.uuid4().hex[:8]}"
    openai_server.reply("Nice to meet you, Ada.")
    openai_server.reply("Your name is Ada.")

    _turn(submit, wait_for_status, input="My name is Ada.", chat_id=chat_id, user_id="u1")
    second = _turn(submit, wait_for_status, input="What is my name?", chat_id=chat_id, user_id="u1")

    assert openai_server.requests[-1]["messages"][1:] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    assert second["chat_meta"]["turns"] == 2
    assert second["session_title"] == "My name is Ada."
    assert [m["content"] for m in second["messages"]] == ["What is my name?", "Your name is Ada."]
    retention = get_settings().chat_history_seconds
    for key in (keys.chat_messages("default", chat_id), keys.chat_meta("default", chat_id)):
        assert 0 < redis_client.ttl(key) <= retention


def test_chat_without_chat_id_starts_a_new_chat(submit, wait_for_status, openai_server):
    result = _turn(submit, wait_for_status, input="Hello?")

    assert result["chat_meta"]["chat_id"].startswith("chat-")
    assert result["chat_meta"]["turns"] == 1
    assert result["messages"][1]["content"] == "echo: Hello?"


def test_another_user_cannot_continue_a_chat(submit, wait_for_status, openai_server):
    chat_id = f"chat-{uuid.uuid4().hex[:8]}"
    _turn(submit, wait_for_status, input="Secret plans.", chat_id=chat_id, user_id="alice")

    job = submit("chat", {"input": "What were the plans?", "chat_id": chat_id, "user_id": "mallory"})
    done = wait_for_status(job["id"], "failed", "completed")

    assert done["error"]["type"] == "ChatOwnedByAnotherUser"
    assert len(openai_server.requests) == 1  # the model never saw mallory's question


@pytest.mark.parametrize(
    "job_input, field",
    [
        ({"chat_id": "c1"}, "input"),
        ({"input": "hi", "user_id": ["x"]}, "user_id"),
        ({"input": "hi", "file_ids": "f1"}, "file_ids"),
        ({"input": "hi", "options": {"temperature": -1}}, "options"),
    ],
)
def test_bad_chat_input_is_400_naming_the_field(client, job_input, field):
    response = client.post("/api/v1/jobs", json={"kind": "chat", "input": job_input})

    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]["input"]


def test_kinds_lists_inference_and_chat_with_their_input_schemas(client):
    kinds = {k["name"]: k for k in client.get("/api/v1/kinds").get_json()["kinds"]}

    assert {"input", "messages", "options"} <= set(kinds["inference"]["input_schema"]["properties"])
    assert {"input", "chat_id", "user_id", "user_type", "file_ids"} <= set(kinds["chat"]["input_schema"]["properties"])
    assert "input" in kinds["chat"]["input_schema"]["required"]
