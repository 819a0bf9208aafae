"""Finding 5: slow clients must not starve the API. The deployment the docs
recommend (deploy/nginx/longrun.conf in front of gunicorn, as docker-compose.yml
runs it) keeps answering normal requests within 1 s while 200 slow or half-open
connections are held. The real nginx binary of the distribution, on loopback,
unprivileged (its own prefix, temp dirs and pid file; ended by pid).
"""

import json
import re
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.paths import ROOT
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

SHIPPED_CONFIG = ROOT / "deploy" / "nginx" / "longrun.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW_CONNECTIONS = 200


@pytest.fixture
def nginx(tmp_path, redis_factory, start_worker, start_api):
    """The shipped config, with only its listen and upstream addresses changed, in front of gunicorn + a worker."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    redis = redis_factory()
    start_worker("slow-clients", concurrency=1, redis=redis.url)
    api = start_api(env={"REDIS_URL": redis.url})
    port = free_port()
    site = SHIPPED_CONFIG.read_text()
    site, listens = re.subn(r"(?m)^(\s*)listen 8080;", rf"\1listen 127.0.0.1:{port};", site)
    site, upstreams = re.subn(r"(?m)^(\s*)server api:8000;", rf"\1server 127.0.0.1:{api.port};", site)
    assert listens == upstreams == 1
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
worker_processes 1;
worker_rlimit_nofile 4096;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    process = subprocess.Popen(
        [
            NGINX,
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            str(tmp_path / "error.log"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, (tmp_path / "error.log").read_text()
            try:
                if requests.get(url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "nginx did not come up"
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: the master ends its workers
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def hold_slow_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections of three kinds: half a request head, silence, and a body that stops."""
    held = []
    for n in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if n % 4 == 0:
            pass  # connected, and silent
        elif n % 4 == 1:
            sock.sendall(
                b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"kind": '
            )
        else:
            sock.sendall(b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append(sock)
    return held


def still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_finding5_slow_clients_do_not_starve_the_api_behind_nginx(nginx, api_headers):
    port = int(nginx.rsplit(":", 1)[1])
    held = hold_slow_connections(port, SLOW_CONNECTIONS)
    try:
        time.sleep(1)  # let them reach wherever they would block

        def timed(path: str) -> tuple[int, float]:
            started = time.monotonic()
            response = requests.get(nginx + path, headers=api_headers, timeout=5)
            return response.status_code, time.monotonic() - started

        paths = ["/api/v1/health", "/api/v1/jobs", "/api/v1/kinds", "/openapi.json"] * 4
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(timed, paths))
        assert [status for status, _ in answers] == [200] * len(paths)
        slowest = max(seconds for _, seconds in answers)
        print(f"slowest of {len(paths)} normal requests with {SLOW_CONNECTIONS} slow connections held: {slowest:.3f}s")
        assert slowest < 1.0, f"slowest normal request took {slowest:.2f}s"
        # The attack was real: the slow connections are still being held open.
        assert sum(still_open(sock) for sock in held) >= SLOW_CONNECTIONS * 0.9
    finally:
        for sock in held:
            sock.close()


def test_finding5_nginx_answers_its_own_errors_with_the_json_error_body(nginx):
    port = int(nginx.rsplit(":", 1)[1])

    def raw(request: bytes) -> tuple[int, str, dict]:
        # Read the answer by its Content-Length: after a 413 nginx keeps the socket a
        # while for the body it refused (lingering close), so EOF may come late.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                assert chunk, f"nginx closed the connection without an answer: {data[:200]!r}"
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            while len(body) < int(headers["Content-Length"]):
                chunk = sock.recv(65536)
                assert chunk, "nginx closed the connection mid-answer"
                body += chunk
        return int(lines[0].split()[1]), body.decode(), headers

    status, body, headers = raw(
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 62914560\r\n\r\n"
    )
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "too_large"
    status, body, headers = raw(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status in (400, 414) and headers["Content-Type"] == "application/json"
    assert set(json.loads(body)["error"]) == {"code", "message", "details"}
    status, body, headers = raw(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"b" * 40000 + b"\r\n\r\n"
    )
    assert status in (400, 431) and headers["Content-Type"] == "application/json"
    assert set(json.loads(body)["error"]) == {"code", "message", "details"}
