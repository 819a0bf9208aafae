"""Helpers the tests (and ``bench/``) import; fixtures stay in conftest.py and tests/plugins/.

One module per concern:

- ``paths``: the repository root.
- ``session``: the test session's own directory, API key and environment.
- ``waiting``: ``wait_until``, the one polling loop.
- ``ports``: ``free_port``.
- ``redis_server``: ``RedisServer``, a private redis-server process.
- ``processes``: ``subprocess_env``, ``ChildProcess`` and the two we start most,
  ``WorkerProcess`` (a real Celery worker) and ``LiveServer`` (gunicorn).
- ``http``: ``LocalHTTPServer``, the one threaded HTTP test server, and the
  servers built on it: ``fake_llm`` (an OpenAI-compatible model), ``pages``
  (a small site for browser jobs), ``webhooks`` (a recording receiver).
- ``isolated``: ``IsolatedService``, a Redis, a worker and an app of their own.
- ``jobs``: reading a job's events, lease and broker copies; unit-test jobs on a store.
- ``tenants``: the API keys of the tenants the security tests use.
- ``pdfs``: real PDFs with pages and tables. ``sse``: parsing an event stream.

Nothing here imports pytest: ``bench/`` runs without it.
"""
