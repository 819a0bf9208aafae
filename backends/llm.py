"""The one client for OpenAI-compatible chat completions.

Every job kind that needs a language model calls ``LLMClient.chat``. It speaks
the plain ``POST {base}/chat/completions`` protocol (JSON, or server-sent
events when streaming), which Ollama (``/v1``), vLLM, llama.cpp's server and
OpenAI all serve, so switching backend is a matter of ``LLM_BASE_URL``,
``LLM_MODEL`` and ``LLM_API_KEY``.

A backend that cannot be reached, stalls, answers 5xx/429 or sends garbage is
retried a bounded number of times with exponential backoff; then the call
raises an ``LLMError`` whose message says what happened, which fails the job.
Every network wait is bounded (connect and read timeouts), so a worker never
hangs on a model. Redirects are not followed: the URL rules (longrun/urls.py)
checked the host a job named, not where a redirect would send the prompt. An
error names what failed and the status, never what the server answered (a
per-job host may be anything; its body must not reach the tenant). A streamed
call is retried only before its first token:
after that the caller has seen part of an answer, and a silent restart would
duplicate it.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from backends import ratelimit
from longrun.errors import (
    LLMBadResponse,
    LLMError,
    LLMNotConfigured,
    LLMRejected,
    LLMUnavailable,
)
from longrun.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Statuses worth another try: the server is busy, restarting or overloaded.
RETRYABLE_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_BACKOFF_SECONDS = 10.0


@dataclass
class ChatResult:
    content: str
    model: str
    usage: dict = field(default_factory=dict)


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix; carries the LLMError to raise at the end."""

    def __init__(self, error: LLMError, retry_after: float | None = None):
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after
        self.status: int | None = None


@lru_cache(maxsize=1)
def _ssl_context():
    # Loading the CA bundle takes ~0.2 s; each call's short-lived httpx.Client shares one.
    return httpx.create_ssl_context()


_clients: dict[tuple, httpx.Client] = {}
_clients_lock = threading.Lock()


def _http_client(timeout: httpx.Timeout) -> httpx.Client:
    """This process's one connection pool (per timeout): every LLM call of every job
    thread reuses its keep-alive connections instead of a TCP (and TLS) setup per call.
    httpx.Client is thread-safe; a forked child builds its own."""
    key = (os.getpid(), timeout.connect, timeout.read)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                # No cap on connections: the pool's concurrency bounds them (a threads
                # pool of 200 streams 200 at once); keep-alive ones are kept for reuse.
                limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
                # No redirects, as the per-call clients before it (an LLM redirect is an SSRF hole).
                client = _clients[key] = httpx.Client(
                    timeout=timeout, follow_redirects=False, verify=_ssl_context(), limits=limits
                )
    return client


def normalize_base_url(url: str) -> str:
    """``http://host:11434`` -> ``http://host:11434/v1``; a URL with a path is kept as given."""
    url = url.strip().rstrip("/")
    if url and urlsplit(url).path in ("", "/"):
        url += "/v1"
    return url


class LLMClient:
    def __init__(
        self,
        base_url: str,
        model: str = "",
        api_key: str = "",
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        max_retries: int = 2,
        retry_backoff: float = 1.0,
    ):
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.api_key = api_key
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.max_retries = max(0, max_retries)
        self.retry_backoff = retry_backoff

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "LLMClient":
        s = settings or get_settings()
        return cls(
            s.llm_base_url,
            s.llm_model,
            s.llm_api_key,
            connect_timeout=s.llm_connect_timeout_seconds,
            read_timeout=s.llm_read_timeout_seconds,
            max_retries=s.llm_max_retries,
            retry_backoff=s.llm_retry_backoff_seconds,
        )

    def __repr__(self) -> str:  # never shows the key
        return f"LLMClient({self.base_url!r}, model={self.model!r})"

    # -- public API -------------------------------------------------------

    def chat(
        self,
        messages: list[dict],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        json_mode: bool = False,
        on_token: Callable[[str], None] | None = None,
        extra: dict | None = None,
    ) -> ChatResult:
        """One chat completion. With ``on_token`` the answer is streamed and
        ``on_token`` is called with each piece of text as it arrives; anything it
        raises (e.g. JobCancelled) aborts the call and closes the connection."""
        body: dict = {"messages": messages}
        if model or self.model:
            body["model"] = model or self.model
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        body.update(extra or {})  # a backend's own fields (e.g. vLLM's continue_final_message)
        if on_token is not None:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        streamed: list[str] = []

        def attempt(http: httpx.Client) -> ChatResult:
            if on_token is None:
                return self._complete(http, body)
            return self._stream(http, body, on_token, streamed)

        return self._with_retries(attempt, retry_if=lambda: not streamed, model=body.get("model", ""))

    def chat_raw(self, body: dict) -> tuple[int, dict]:
        """POST a chat completion request body as given (an OpenAI Batch API line): (status, JSON answer).

        Busy and 5xx answers are retried as ``chat`` retries them; a 4xx is returned,
        not raised, since it is that request's answer. The body's model is kept
        (LLM_MODEL fills it in when absent); it is never streamed.
        """
        body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        if not body.get("model") and self.model:
            body["model"] = self.model

        def attempt(http: httpx.Client) -> tuple[int, dict]:
            response = http.post(self._url("/chat/completions"), json=body, headers=self._headers())
            if response.status_code in RETRYABLE_STATUSES:
                self._check_status(response)
            return response.status_code, self._json(response)

        return self._with_retries(attempt)

    def models(self) -> list[str]:
        """Ids of the models the server offers (``GET {base}/models``)."""

        def attempt(http: httpx.Client) -> list[str]:
            response = http.get(self._url("/models"), headers=self._headers())
            self._check_status(response)
            data = self._json(response)
            try:
                return [m["id"] for m in data["data"]]
            except (KeyError, TypeError):
                raise _Retryable(LLMBadResponse(f"{self.base_url}/models answered without a model list")) from None

        return self._with_retries(attempt)

    # -- one attempt ------------------------------------------------------

    def _complete(self, http: httpx.Client, body: dict) -> ChatResult:
        response = http.post(self._url("/chat/completions"), json=body, headers=self._headers())
        self._check_status(response)
        return self._parse_completion(self._json(response), body)

    def _stream(self, http: httpx.Client, body: dict, on_token, streamed: list[str]) -> ChatResult:
        with http.stream("POST", self._url("/chat/completions"), json=body, headers=self._headers()) as response:
            if response.status_code >= 300:
                response.read()
                self._check_status(response)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                # A server that ignored "stream": one whole answer, given as one token.
                response.read()
                result = self._parse_completion(self._json(response), body)
                streamed.append(result.content)
                on_token(result.content)
                return result
            usage: dict[str, Any]
            model, usage, finished = body.get("model", ""), {}, False
            for chunk in self._events(response):
                if "error" in chunk:
                    raise self._error_from_body(chunk, response.status_code)
                model = chunk.get("model") or model
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        streamed.append(delta)
                        on_token(delta)
                    finished = finished or bool(choice.get("finish_reason"))
            content = "".join(streamed)
            if not finished and not content:
                raise _Retryable(LLMBadResponse(f"the stream from {self.base_url} ended without an answer"))
            return ChatResult(content=content, model=model, usage=usage)

    def _events(self, response: httpx.Response) -> Iterator[dict]:
        """The JSON payloads of an SSE stream's ``data:`` lines, up to ``[DONE]``."""
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, ": keep-alive" comments, "event:" names
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                chunk = orjson.loads(data)  # one per token: a fifth of the stdlib's time
            except ValueError:
                raise _Retryable(LLMBadResponse(f"{self.base_url} streamed a line that is not JSON")) from None
            if not isinstance(chunk, dict):
                raise _Retryable(LLMBadResponse(f"{self.base_url} streamed a line that is not a JSON object"))
            yield chunk

    def _parse_completion(self, data: dict, body: dict) -> ChatResult:
        try:
            message = data["choices"][0]["message"]
            content = message.get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            if isinstance(data, dict) and "error" in data:
                raise self._error_from_body(data, 200) from None
            raise _Retryable(LLMBadResponse(f"{self.base_url} answered without choices[0].message")) from None
        return ChatResult(
            content=content, model=data.get("model") or body.get("model", ""), usage=data.get("usage") or {}
        )

    # -- errors and retries -----------------------------------------------

    def _with_retries(self, attempt, retry_if=lambda: True, model: str = ""):
        if not self.base_url:
            raise LLMNotConfigured(
                "no language model is configured: set LLM_BASE_URL "
                "(e.g. http://127.0.0.1:11434/v1) or install the local model"
            )
        tries = self.max_retries + 1
        # Shared by every worker (backends/ratelimit.py): a 429's pause and the model's request rate.
        quota = ratelimit.quota(self.base_url, model or self.model)
        number = limited = 0
        while number < tries:
            number += 1
            quota.wait_turn()
            try:
                return attempt(_http_client(self.timeout))
            except _Retryable as exc:
                failure, retry_after = exc.error, exc.retry_after
                if (
                    exc.status == 429
                    and retry_if()
                    and quota.pause(retry_after if retry_after is not None else self.retry_backoff * 2**limited)
                ):
                    log.warning("LLM backend %s answered 429; every worker holds off its calls", self.base_url)
                    number, limited = number - 1, limited + 1  # waiting out a quota is not an attempt
                    continue
            except httpx.TimeoutException as exc:
                failure, retry_after = (
                    LLMUnavailable(f"{self.base_url} did not answer in time ({type(exc).__name__})"),
                    None,
                )
            except httpx.ConnectError as exc:
                failure, retry_after = (
                    LLMUnavailable(f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}"),
                    None,
                )
            except httpx.TransportError as exc:  # e.g. the server closed the connection mid-answer
                failure, retry_after = (
                    LLMUnavailable(f"the connection to {self.base_url} failed: {type(exc).__name__}: {exc}"),
                    None,
                )
            except httpx.RequestError as exc:  # undecodable body, redirect loop
                failure, retry_after = (
                    LLMBadResponse(f"{self.base_url} sent an unusable answer: {type(exc).__name__}: {exc}"),
                    None,
                )
            if number == tries or not retry_if():
                suffix = f" (after {number} attempts)" if number > 1 else ""
                raise type(failure)(failure.message + suffix, details={"attempts": number}) from None
            pause = min(
                MAX_BACKOFF_SECONDS, retry_after if retry_after is not None else self.retry_backoff * 2 ** (number - 1)
            )
            log.warning("LLM call failed (%s); attempt %d of %d in %.1fs", failure.message, number + 1, tries, pause)
            time.sleep(pause)

    def _check_status(self, response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        if response.status_code < 400:
            raise LLMRejected(
                f"{self.base_url} answered {response.status_code}, a redirect, which LLM calls "
                "do not follow (set the URL it redirects to)",
                details={"status": response.status_code},
            )
        error = self._error_from_body({}, response.status_code)
        if isinstance(error, _Retryable):
            error.retry_after = _retry_after(response)
            error.status = response.status_code
        raise error

    def _error_from_body(self, data: dict, status: int):
        # The server's own words stay out: they may be anything a per-job host chose to send.
        message = f"{self.base_url} answered {status}" + (" with an error" if status == 200 else "")
        if status in RETRYABLE_STATUSES or status == 200:
            cls = LLMUnavailable if status != 200 else LLMBadResponse
            return _Retryable(cls(message))
        return LLMRejected(message, details={"status": status})

    def _json(self, response: httpx.Response) -> dict:
        try:
            return response.json()
        except ValueError:
            raise _Retryable(
                LLMBadResponse(f"{self.base_url} answered {response.status_code} with something that is not JSON")
            ) from None

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110)."""
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None
