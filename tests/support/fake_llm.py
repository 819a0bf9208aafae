"""A fake OpenAI-compatible model server on 127.0.0.1.

It speaks the two endpoints our LLM client uses: ``POST /v1/chat/completions``
(a JSON answer, or with ``"stream": true`` SSE chunks ending with
``data: [DONE]``) and ``GET /v1/models``. A test queues replies with
``server.reply(...)`` (text, per-token delay, an HTTP status, a garbage body, a
hang, a stall mid-stream, a dropped connection); when the queue is empty the
server answers with ``server.default`` (an echo of the last user message unless
changed with ``server.set_default``). Every chat request's JSON body is kept in
``server.requests``.
"""

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

from tests.support.http import LocalHTTPServer, QuietHandler

FAKE_MODEL = "fake-model"

# Short LLM timings for every process of the session (workers read them at start).
LLM_TEST_ENV = {
    "LLM_MODEL": FAKE_MODEL,
    "LLM_API_KEY": "sk-test-llm",
    "LONGRUN_LLM_CONNECT_TIMEOUT_SECONDS": "1",
    "LONGRUN_LLM_READ_TIMEOUT_SECONDS": "2",
    "LONGRUN_LLM_MAX_RETRIES": "1",
    "LONGRUN_LLM_RETRY_BACKOFF_SECONDS": "0.1",
}


@dataclass
class Reply:
    """One scripted answer. ``content`` is streamed in ``tokens`` (words by default)."""

    content: str | None = None  # None: echo the last user message
    tokens: list[str] | None = None
    token_delay: float = 0.0  # seconds before each streamed token
    status: int = 200
    body: bytes | None = None  # raw body instead of a completion (garbage)
    hang: bool = False  # accept, then never answer
    drop: bool = False  # close the connection without an answer
    stall_after: int | None = None  # stream this many tokens, then never send more
    model: str | None = None
    usage: dict | None = None
    headers: dict | None = None  # extra response headers (e.g. Retry-After on a 429)

    def text_for(self, request: dict) -> str:
        if self.content is not None:
            return self.content
        users = [m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"]
        return f"echo: {users[-1] if users else ''}"


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]


class _OpenAIHandler(QuietHandler):
    """/v1/models, and /v1/chat/completions as the server's script says."""

    def _send_json(self, status: int, payload, headers: dict | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_body(status, data, "application/json", headers)

    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [{"id": FAKE_MODEL, "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        server: FakeOpenAIServer = self.owner
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._send_json(404, {"error": {"message": f"no route {self.path}"}})
        length = int(self.headers.get("Content-Length", 0))
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            return self._send_json(400, {"error": {"message": "body is not JSON"}})
        with server._lock:
            server.requests.append(request)
            server.headers.append(dict(self.headers))
            server.arrivals.append(time.time())
        reply = server.next_reply()
        if reply.hang:
            server.release.wait(60)
            return
        if reply.drop:
            self.close_connection = True
            return
        if reply.status != 200:
            return self._send_json(
                reply.status, reply.body or {"error": {"message": f"scripted {reply.status}"}}, reply.headers
            )
        model = reply.model or request.get("model") or FAKE_MODEL
        text = reply.text_for(request)
        tokens = reply.tokens if reply.tokens is not None else _words(text)
        # A final assistant message is a prefix to continue (llama.cpp's server and Ollama do so).
        messages = request.get("messages") or [{}]
        prefix = messages[-1].get("content") or "" if messages[-1].get("role") == "assistant" else ""
        if prefix and "".join(tokens).startswith(prefix):
            with server._lock:
                server.continued.append(prefix)
            while prefix and tokens and prefix.startswith(tokens[0]):
                prefix = prefix[len(tokens[0]) :]
                tokens = tokens[1:]
        usage = reply.usage or {
            "prompt_tokens": sum(len(_words(str(m.get("content", "")))) for m in request.get("messages", [])),
            "completion_tokens": len(tokens),
        }
        usage.setdefault("total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
        if request.get("stream"):
            return self._stream(reply, tokens, model, usage, request)
        if reply.body is not None:
            return self._send_json(200, reply.body)
        self._send_json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "".join(tokens)}, "finish_reason": "stop"}
                ],
                "usage": usage,
            },
        )

    def _stream(self, reply: Reply, tokens, model, usage, request) -> None:
        server: FakeOpenAIServer = self.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

        def event(payload) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.wfile.write(b"data: " + data + b"\n\n")
            self.wfile.flush()

        def chunk(delta: dict, finish=None) -> dict:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        try:
            if reply.body is not None:
                event(reply.body)
                return
            event(chunk({"role": "assistant"}))
            for index, token in enumerate(tokens):
                if index == reply.stall_after:
                    server.release.wait(60)
                    return
                if reply.token_delay and server.release.wait(reply.token_delay):
                    return
                event(chunk({"content": token}))
            event(chunk({}, "stop"))
            if (request.get("stream_options") or {}).get("include_usage"):
                event(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            with server._lock:
                server.disconnects += 1


class FakeOpenAIServer(LocalHTTPServer):
    """The fake model: scripted replies, and every chat request it got (body and headers)."""

    Handler = _OpenAIHandler

    def __init__(self, host: str = "127.0.0.1"):
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.arrivals: list[float] = []  # time.time() of each chat request
        self.disconnects = 0  # streams the client closed before their end
        self.continued: list[str] = []  # assistant prefixes the server continued
        self._queue: deque[Reply] = deque()
        self.default = Reply()
        self._lock = threading.Lock()
        super().__init__(host)

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1"

    # -- scripting -------------------------------------------------------

    def reply(self, content: str | None = None, *, times: int = 1, **kwargs) -> Reply:
        """Queue the answer to the next chat request(s)."""
        scripted = Reply(content=content, **kwargs)
        with self._lock:
            self._queue.extend([scripted] * times)
        return scripted

    def set_default(self, content: str | None = None, **kwargs) -> None:
        """The answer once the queue is empty (e.g. ``status=500`` for every retry)."""
        self.default = Reply(content=content, **kwargs)

    def reset(self) -> None:
        self.release.set()
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.headers.clear()
            self.arrivals.clear()
            self.default = Reply()
            self.disconnects = 0
            self.continued.clear()
        self.release = threading.Event()  # ends hanging requests

    def next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the fake LLM got {len(self.requests)} requests, expected {count}")
            time.sleep(0.05)
        return self.requests
