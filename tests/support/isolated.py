"""A service of its own: a redis-server, one worker and an in-process API app on that Redis.

Jobs submitted here reach only this worker, so it can have its own settings
(an LLM on a dead port, the real local model) while the session worker keeps
talking to the fake server.
"""

import os
import uuid

from tests.support.processes import WorkerProcess, subprocess_env
from tests.support.redis_server import RedisServer
from tests.support.session import SESSION_DIR, TEST_API_KEY
from tests.support.waiting import wait_until


class IsolatedService:
    def __init__(self, name: str, **worker_env: str):
        self.name = name
        self.worker_env = worker_env
        self.redis: RedisServer | None = None
        self.worker: WorkerProcess | None = None
        self.app = None

    def start(self) -> "IsolatedService":
        # Imported here, not at the top: Longrun reads its environment at first
        # import, and this module is loaded (by a plugin) before pytest_configure sets it.
        from api import create_app
        from longrun.settings import from_env

        self.redis = RedisServer(SESSION_DIR / f"redis-{self.name}-{uuid.uuid4().hex[:6]}").start()
        env = subprocess_env(REDIS_URL=self.redis.url, **self.worker_env)
        self.worker = WorkerProcess(self.name, env, concurrency=1, log_dir=SESSION_DIR).start(self.redis.url)
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
