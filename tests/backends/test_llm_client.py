"""backends.llm.LLMClient alone, against the fake OpenAI-compatible server."""

import socket
import threading
import time

import pytest

from backends.llm import ChatResult, LLMClient, normalize_base_url
from longrun.errors import JobCancelled, LLMBadResponse, LLMNotConfigured, LLMRejected, LLMUnavailable
from longrun.settings import from_env
from tests.support.ports import free_port
from tests.support.waiting import wait_until

HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def llm(openai_server):
    return LLMClient(
        openai_server.url, "fake-model", "sk-unit", connect_timeout=1, read_timeout=1, max_retries=2, retry_backoff=0.01
    )


def test_non_streaming_chat_returns_content_model_and_usage(llm, openai_server):
    openai_server.reply("General Kenobi.", usage={"prompt_tokens": 3, "completion_tokens": 2})

    result = llm.chat(HELLO, temperature=0.2, max_tokens=16)

    assert result == ChatResult(
        content="General Kenobi.",
        model="fake-model",
        usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    )
    sent = openai_server.requests[-1]
    assert sent["messages"] == HELLO
    assert sent["model"] == "fake-model" and sent["temperature"] == 0.2 and sent["max_tokens"] == 16
    assert "stream" not in sent and "response_format" not in sent
    assert openai_server.headers[-1]["Authorization"] == "Bearer sk-unit"


def test_per_call_model_and_json_mode_are_sent(llm, openai_server):
    openai_server.reply('{"action": "click"}')

    result = llm.chat(HELLO, model="other-model", json_mode=True)

    assert result.content == '{"action": "click"}'
    assert result.model == "other-model"
    assert openai_server.requests[-1]["response_format"] == {"type": "json_object"}


def test_streaming_calls_on_token_per_delta_and_joins_them(llm, openai_server):
    openai_server.reply(tokens=["Once ", "upon ", "a ", "time"])
    seen = []

    result = llm.chat(HELLO, on_token=seen.append)

    assert seen == ["Once ", "upon ", "a ", "time"]
    assert result.content == "Once upon a time"
    assert result.usage["completion_tokens"] == 4
    assert openai_server.requests[-1]["stream"] is True


def test_exception_from_on_token_aborts_the_stream_and_closes_the_connection(llm, openai_server):
    openai_server.reply(tokens=[f"t{i} " for i in range(50)], token_delay=0.05)
    seen = []

    def cancel_on_third(token):
        seen.append(token)
        if len(seen) == 3:
            raise JobCancelled("stop")

    with pytest.raises(JobCancelled):
        llm.chat(HELLO, on_token=cancel_on_third)

    assert len(seen) == 3
    wait_until(lambda: openai_server.disconnects == 1, timeout=10, message="the server to see the disconnect")


def test_5xx_is_retried_then_succeeds(llm, openai_server):
    openai_server.reply(status=503, times=2)
    openai_server.reply("third time lucky")

    assert llm.chat(HELLO).content == "third time lucky"
    assert len(openai_server.requests) == 3


def test_dropped_connection_is_retried_then_reported(llm, openai_server):
    openai_server.reply(drop=True)
    openai_server.reply("after the drop")

    assert llm.chat(HELLO, on_token=lambda t: None).content == "after the drop"

    openai_server.set_default(drop=True)
    with pytest.raises(LLMUnavailable, match=r"connection to .* failed: RemoteProtocolError.*\(after 3 attempts\)"):
        llm.chat(HELLO)


def test_persistent_500_fails_with_llm_unavailable_after_bounded_attempts(llm, openai_server):
    openai_server.set_default(status=500)

    with pytest.raises(LLMUnavailable, match=r"answered 500 \(after 3 attempts\)$"):
        llm.chat(HELLO)
    assert len(openai_server.requests) == 3


def test_garbage_body_fails_with_llm_bad_response(llm, openai_server):
    openai_server.set_default(body=b"<html>definitely not json</html>")

    with pytest.raises(LLMBadResponse, match="not JSON"):
        llm.chat(HELLO)
    with pytest.raises(LLMBadResponse, match="not JSON"):
        llm.chat(HELLO, on_token=lambda t: None)


def test_json_without_choices_is_a_bad_response(llm, openai_server):
    openai_server.set_default(body=b'{"unexpected": true}')

    with pytest.raises(LLMBadResponse, match="without choices"):
        llm.chat(HELLO)


def test_4xx_is_rejected_at_once_without_retries(llm, openai_server):
    openai_server.reply(status=404, body=b'{"error": {"message": "model \\"nope\\" not found"}}')

    # The status, never the server's words (a per-job host may answer anything).
    with pytest.raises(LLMRejected, match=r"answered 404$"):
        llm.chat(HELLO, model="nope")
    assert len(openai_server.requests) == 1


def test_a_server_that_never_answers_times_out_in_bounded_time(llm, openai_server):
    openai_server.set_default(hang=True)
    started = time.monotonic()

    with pytest.raises(LLMUnavailable, match="did not answer in time"):
        llm.chat(HELLO, on_token=lambda t: None)

    # 3 attempts of a 1 s read timeout plus tiny backoffs; generous bound for a loaded machine.
    assert time.monotonic() - started < 30
    assert len(openai_server.requests) == 3


def test_stream_stalling_after_a_token_fails_without_retry(llm, openai_server):
    openai_server.reply(tokens=["first ", "never"], stall_after=1)
    seen = []

    with pytest.raises(LLMUnavailable, match="did not answer in time"):
        llm.chat(HELLO, on_token=seen.append)

    # Retrying after a token was delivered would repeat it to the caller.
    assert seen == ["first "]
    assert len(openai_server.requests) == 1


def test_unreachable_server_fails_with_llm_unavailable():
    port = free_port()  # nothing listens here
    llm = LLMClient(f"http://127.0.0.1:{port}/v1", max_retries=1, retry_backoff=0.01, connect_timeout=1)

    with pytest.raises(LLMUnavailable, match=rf"cannot reach http://127.0.0.1:{port}/v1.*\(after 2 attempts\)"):
        llm.chat(HELLO)


def test_unset_base_url_fails_saying_what_to_set():
    with pytest.raises(LLMNotConfigured, match="LLM_BASE_URL"):
        LLMClient("").chat(HELLO)


def test_models_lists_the_servers_models(llm):
    assert llm.models() == ["fake-model"]


def test_from_settings_reads_the_llm_environment_variables():
    settings = from_env(
        {
            "LLM_BASE_URL": "http://10.0.0.5:11434",
            "LLM_MODEL": "qwen2.5:0.5b",
            "LLM_API_KEY": "sk-secret",
            "LONGRUN_LLM_MAX_RETRIES": "4",
        }
    )

    llm = LLMClient.from_settings(settings)

    assert (llm.base_url, llm.model, llm.api_key, llm.max_retries) == (
        "http://10.0.0.5:11434/v1",
        "qwen2.5:0.5b",
        "sk-secret",
        4,
    )
    assert "sk-secret" not in repr(settings) and "sk-secret" not in repr(llm)


@pytest.mark.parametrize(
    "given, used",
    [
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434/v1"),
        ("http://127.0.0.1:11434/v1/", "http://127.0.0.1:11434/v1"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("http://gpu:8000/openai/v1", "http://gpu:8000/openai/v1"),
    ],
)
def test_base_url_without_a_path_gets_v1(given, used):
    assert normalize_base_url(given) == used


def test_a_server_that_ignores_stream_still_delivers_the_answer():
    # Some proxies drop "stream": a whole JSON answer then arrives as one token.
    server = _OneShotJSONServer('{"model": "m", "choices": [{"message": {"content": "whole"}}]}')
    seen = []
    try:
        result = LLMClient(server.url, retry_backoff=0.01).chat(HELLO, on_token=seen.append)
    finally:
        server.close()
    assert (seen, result.content) == (["whole"], "whole")


class _OneShotJSONServer:
    """Answers one request with a fixed JSON body, whatever was asked."""

    def __init__(self, body: str):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.body = body.encode()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: " + str(len(self.body)).encode() + b"\r\n\r\n" + self.body
            )

    def close(self):
        self.thread.join(5)
        self.sock.close()
