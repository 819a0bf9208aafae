"""backends.chat_history and the chat kind's plain functions, on fakeredis."""

import fakeredis
import pytest

from backends.chat_history import ChatHistory, ChatOwnedByAnotherUser, session_title
from longrun import keys
from tasks.chat import history_window, system_prompt


@pytest.fixture
def history():
    client = fakeredis.FakeRedis(decode_responses=True)
    yield ChatHistory(client, "acme", "c1", retention_seconds=600, max_messages=4)
    client.close()


def _append(history, job_id, question, answer="ok", user_id="u1"):
    return history.append_turn(
        job_id,
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
        user_id=user_id,
        user_type="user",
        model="m",
    )


def test_turns_append_in_order_and_count(history):
    _append(history, "j1", "first?", "one")
    meta = _append(history, "j2", "second?", "two")

    assert [(m["role"], m["content"], m["job_id"]) for m in history.messages()] == [
        ("user", "first?", "j1"),
        ("assistant", "one", "j1"),
        ("user", "second?", "j2"),
        ("assistant", "two", "j2"),
    ]
    assert meta["turns"] == "2" and meta["user_id"] == "u1" and meta["session_title"] == "first?"


def test_history_keeps_only_the_newest_messages(history):
    for n in range(3):
        _append(history, f"j{n}", f"q{n}")

    assert [m["content"] for m in history.messages()] == ["q1", "ok", "q2", "ok"]


def test_every_turn_renews_the_retention_of_both_keys(history):
    _append(history, "j1", "hello")
    history.redis.expire(keys.chat_messages("acme", "c1"), 5)

    _append(history, "j2", "again")

    assert history.redis.ttl(keys.chat_messages("acme", "c1")) == 600
    assert history.redis.ttl(keys.chat_meta("acme", "c1")) == 600


def test_chats_are_scoped_by_tenant(history):
    _append(history, "j1", "mine")
    other = ChatHistory(history.redis, "other-tenant", "c1", retention_seconds=600, max_messages=4)

    assert other.messages() == [] and other.meta() == {}


def test_a_redelivered_job_finds_its_own_turn(history):
    _append(history, "j1", "q")

    assert [m["role"] for m in history.turn_of("j1", history.messages())] == ["user", "assistant"]
    assert history.turn_of("j2", history.messages()) == []


def test_only_the_chats_first_user_may_continue_it(history):
    _append(history, "j1", "q", user_id="alice")
    meta = history.meta()

    history.check_owner(meta, "alice")
    history.check_owner(meta, None)  # anonymous turns are not tied to a user
    with pytest.raises(ChatOwnedByAnotherUser):
        history.check_owner(meta, "bob")


def test_session_title_is_the_start_of_the_first_question():
    assert session_title("  short\nquestion ") == "short question"
    assert session_title("x" * 40) == "x" * 30 + "..."


def test_history_window_keeps_the_newest_messages_within_budget():
    messages = [
        {"role": "user", "content": "a" * 10, "job_id": "j"},
        {"role": "assistant", "content": "b" * 10},
        {"role": "user", "content": "c" * 10},
    ]

    assert history_window(messages, budget=25) == [
        {"role": "assistant", "content": "b" * 10},
        {"role": "user", "content": "c" * 10},
    ]
    assert history_window(messages, budget=5) == []


def test_system_prompt_names_the_user_type():
    assert "pregnant mother" in system_prompt("pregnant_mother")
    assert "user is" not in system_prompt("user")
