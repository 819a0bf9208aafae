"""A scriptable OpenAI-compatible server on 127.0.0.1, for tests of LLM jobs.

One server runs for the whole session, started in ``pytest_configure`` so that
``LLM_BASE_URL`` (and short LLM timeouts) are in the environment before any
worker process starts: the session ``worker`` talks to it. The ``openai_server``
fixture hands it to a test with an empty script and no recorded requests.

It speaks ``POST /v1/chat/completions`` (a JSON answer, or with ``"stream":
true`` SSE chunks ending with ``data: [DONE]``) and ``GET /v1/models``. A test
queues replies with ``server.reply(...)`` (text, per-token delay, an HTTP
status, a garbage body, a hang, a stall mid-stream, a dropped connection); when
the queue is empty the server answers with ``server.default`` (an echo of the
last user message unless changed with ``server.set_default``). Every chat request's JSON body is kept in
``server.requests``.
"""

import json
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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

    content: str | None = None          # None: echo the last user message
    tokens: list[str] | None = None
    token_delay: float = 0.0            # seconds before each streamed token
    status: int = 200
    body: bytes | None = None           # raw body instead of a completion (garbage)
    hang: bool = False                  # accept, then never answer
    drop: bool = False                  # close the connection without an answer
    stall_after: int | None = None      # stream this many tokens, then never send more
    model: str | None = None
    usage: dict | None = None

    def text_for(self, request: dict) -> str:
        if self.content is not None:
            return self.content
        users = [m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"]
        return f"echo: {users[-1] if users else ''}"


@dataclass
class FakeOpenAIServer:
    host: str = "127.0.0.1"
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    disconnects: int = 0            # streams the client closed before their end

    def __post_init__(self):
        self._queue: deque[Reply] = deque()
        self.default = Reply()
        self._lock = threading.Lock()
        self._release = threading.Event()   # ends hanging requests
        self._httpd = ThreadingHTTPServer((self.host, 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

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
        self._release.set()
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.headers.clear()
            self.default = Reply()
            self.disconnects = 0
        self._release = threading.Event()

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


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]


def _handler_for(server: FakeOpenAIServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _send_json(self, status: int, payload) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                self._send_json(200, {"object": "list", "data": [{"id": FAKE_MODEL, "object": "model"}]})
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self):
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
            reply = server.next_reply()
            if reply.hang:
                server._release.wait(60)
                return
            if reply.drop:
                self.close_connection = True
                return
            if reply.status != 200:
                return self._send_json(reply.status, reply.body or {"error": {"message": f"scripted {reply.status}"}})
            model = reply.model or request.get("model") or FAKE_MODEL
            text = reply.text_for(request)
            tokens = reply.tokens if reply.tokens is not None else _words(text)
            usage = reply.usage or {"prompt_tokens": sum(len(_words(str(m.get("content", ""))))
                                                         for m in request.get("messages", [])),
                                    "completion_tokens": len(tokens)}
            usage.setdefault("total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
            if request.get("stream"):
                return self._stream(reply, tokens, model, usage, request)
            if reply.body is not None:
                return self._send_json(200, reply.body)
            self._send_json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(tokens)},
                             "finish_reason": "stop"}],
                "usage": usage,
            })

        def _stream(self, reply: Reply, tokens, model, usage, request) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()

            def event(payload) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.wfile.write(b"data: " + data + b"\n\n")
                self.wfile.flush()

            def chunk(delta: dict, finish=None) -> dict:
                return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            try:
                if reply.body is not None:
                    event(reply.body)
                    return
                event(chunk({"role": "assistant"}))
                for index, token in enumerate(tokens):
                    if index == reply.stall_after:
                        server._release.wait(60)
                        return
                    if reply.token_delay and server._release.wait(reply.token_delay):
                        return
                    event(chunk({"content": token}))
                event(chunk({}, "stop"))
                if (request.get("stream_options") or {}).get("include_usage"):
                    event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                           "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                with server._lock:
                    server.disconnects += 1

    return Handler


_SESSION_SERVER: FakeOpenAIServer | None = None


def pytest_configure(config):
    global _SESSION_SERVER
    _SESSION_SERVER = FakeOpenAIServer().start()
    os.environ["LLM_BASE_URL"] = _SESSION_SERVER.url
    os.environ.update(LLM_TEST_ENV)


def pytest_unconfigure(config):
    if _SESSION_SERVER is not None:
        _SESSION_SERVER.stop()


@pytest.fixture
def openai_server() -> FakeOpenAIServer:
    """The session's fake OpenAI-compatible server, with an empty script; reset after the test too."""
    _SESSION_SERVER.reset()
    yield _SESSION_SERVER
    _SESSION_SERVER.reset()


class IsolatedService:
    """Its own redis-server, one worker and an in-process API app on that Redis.

    Jobs submitted here reach only this worker, so it can have its own LLM
    settings (a dead port, the real local model) while the session worker
    keeps talking to the fake server.
    """

    def __init__(self, name: str, **worker_env):
        self.name = name
        self.worker_env = worker_env
        self.redis = self.worker = self.app = None

    def start(self) -> "IsolatedService":
        import uuid

        from api import create_app
        from conftest import SESSION_DIR, TEST_API_KEY, RedisServer, WorkerProcess, subprocess_env
        from longrun.settings import from_env
        self.redis = RedisServer(SESSION_DIR / f"redis-{self.name}-{uuid.uuid4().hex[:6]}").start()
        env = subprocess_env(REDIS_URL=self.redis.url, **self.worker_env)
        self.worker = WorkerProcess(self.name, env, concurrency=1).start(self.redis.url)
        settings = from_env({**os.environ, "REDIS_URL": self.redis.url})
        self.app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings})
        self.client = self.app.test_client()
        self.client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TEST_API_KEY}"
        return self

    def submit(self, kind: str, input: dict, **body) -> dict:
        response = self.client.post("/api/v1/jobs", json={"kind": kind, "input": input, **body})
        assert response.status_code == 202, response.get_json()
        return response.get_json()

    def wait(self, job_id: str, *statuses: str, timeout: float = 60.0) -> dict:
        from conftest import wait_until

        def check():
            doc = self.client.get(f"/api/v1/jobs/{job_id}").get_json()
            return doc if doc.get("status") in statuses else None
        return wait_until(check, timeout=timeout, interval=0.1, message=f"job {job_id} to be {statuses}")

    def stop(self) -> None:
        if self.worker:
            self.worker.stop(timeout=15)
        if self.app:
            self.app.extensions["longrun"].store.redis.close()
        if self.redis:
            self.redis.stop()


@pytest.fixture
def isolated_service():
    """Factory: ``isolated_service(name, **worker_env)``; everything stopped after the test."""
    started: list[IsolatedService] = []

    def start(name: str = "isolated", **worker_env) -> IsolatedService:
        service = IsolatedService(name, **worker_env)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def smollm2_server():
    """The real local model (SmolLM2-135M-Instruct on llama.cpp, one thread) on a free loopback port.

    Skipped when it is not installed, except where LONGRUN_REQUIRE_LOCAL_MODEL=1
    (scripts/test, and so CI): there a missing model fails the tests.
    """
    from conftest import SESSION_DIR, free_port
    from backends import local_model
    if not local_model.available():
        message = "the local model is not installed (scripts/install-local-model)"
        if os.environ.get("LONGRUN_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = local_model.LocalModelServer(free_port(), log_path=SESSION_DIR / "smollm2-server.log").start()
    yield server
    server.stop()
