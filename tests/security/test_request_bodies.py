"""Findings 6 and 7: no 500 for any body, and every answer in the contract.

JSON nested too deep and integers too long are a 400 naming the field on
every JSON route and in the multipart ``input`` field; a chunked body over
LONGRUN_MAX_REQUEST_BYTES is a 413 (not truncated and parsed); seed routes'
429s carry Retry-After; gunicorn's own 400/414/431 are the one JSON error
body; ``/logs?format=text``'s content type is in /openapi.json.
"""

import json
import socket

import pytest

from tests.support.tenants import bearer

pytestmark = pytest.mark.integration

# Every route that takes a JSON body, the core API's and the seeds' (seed 002's
# /api/v1/generate takes only multipart forms).
JSON_ROUTES = [
    "/api/v1/jobs",
    "/run_task",
    "/api/v2/chat/qa/async",
    "/api/v2/chat/qa",
    "/tasks",
    "/api/v1/task/inference",
]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def alice(tenants_app):
    test_client = tenants_app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = bearer("alice")["Authorization"]
    return test_client


def names_the_field(response, field: str) -> bool:
    return field in response.get_data(as_text=True)


@pytest.mark.parametrize("depth", [200, 100_000])
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_finding6_deep_json_is_a_4xx_naming_the_field_on_every_json_route(alice, route, depth):
    body = '{"kind": "sleep", "task": "x", "question": "x", "input": {"deep": ' + nested(depth) + "}}"
    response = alice.post(route, data=body, content_type="application/json")
    assert response.status_code in (400, 422), (response.status_code, response.get_data(as_text=True)[:300])
    assert names_the_field(response, "deep"), response.get_data(as_text=True)[:300]


def test_finding6_deep_json_in_the_multipart_input_field_is_a_400(alice):
    response = alice.post(
        "/api/v1/jobs",
        data={"kind": "sleep", "input": '{"deep": ' + nested(5000) + "}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert "input.deep" in error["message"] and "nested" in error["message"]


def test_finding6_a_huge_integer_is_a_400_naming_the_field(alice):
    body = '{"kind": "sleep", "input": {"seconds": ' + "9" * 5000 + "}}"
    response = alice.post("/api/v1/jobs", data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "input.seconds" in response.get_json()["error"]["message"]
    # In a multipart form's input field as well.
    response = alice.post(
        "/api/v1/jobs",
        data={"kind": "sleep", "input": '{"seconds": ' + "9" * 5000 + "}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "input.seconds" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e400"])
def test_finding6_non_finite_numbers_are_a_400_naming_the_field(alice, number):
    body = '{"kind": "sleep", "input": {"seconds": 0}, "metadata": {"a": [' + number + "]}}"
    response = alice.post("/api/v1/jobs", data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "metadata.a[0]" in response.get_json()["error"]["message"]


def test_finding6_ordinary_bodies_still_parse(alice):
    response = alice.post(
        "/api/v1/jobs",
        json={
            "kind": "sleep",
            "input": {"seconds": 0, "steps": 1},
            "metadata": {"a": [[[1, 2.5e300, 12345678901234567890]]]},
        },
    )
    assert response.status_code == 202, response.get_json()
    alice.post(f"/api/v1/jobs/{response.get_json()['id']}/cancel")


@pytest.fixture
def own_api(redis_factory, start_api):
    """gunicorn on a Redis of its own (accepted jobs go nowhere), with a small body limit."""
    redis = redis_factory()
    return start_api(env={"REDIS_URL": redis.url, "LONGRUN_MAX_REQUEST_BYTES": "65536"})


def raw_request(port: int, request: bytes, body_chunks=()) -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (413) and closed before the body ended
        data = b""
        try:
            while True:
                part = sock.recv(65536)
                if not part:
                    break
                data += part
        except ConnectionResetError:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    return int(lines[0].split()[1]), headers, body


def test_finding7_a_chunked_body_over_the_limit_is_a_413_not_truncated_and_parsed(own_api, api_headers):
    job = json.dumps({"kind": "sleep", "input": {"seconds": 0}}).encode()
    padding = b" " * 4096
    chunks = [b"%x\r\n%s\r\n" % (len(job), job)] + [b"%x\r\n%s\r\n" % (len(padding), padding)] * 40 + [b"0\r\n\r\n"]
    head = (
        f"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: {api_headers['Authorization']}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    status, _, body = raw_request(own_api.port, head, chunks)
    assert status == 413, body[:300]
    assert json.loads(body)["error"]["code"] == "too_large"
    # Under the limit, chunked is fine.
    status, _, body = raw_request(own_api.port, head, [chunks[0], b"0\r\n\r\n"])
    assert status == 202, body[:300]


@pytest.mark.parametrize(
    "request_bytes, expected",
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(200)) + b"\r\n", 431),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400),
        (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
)
def test_finding7_gunicorns_own_errors_are_the_json_error_body(own_api, request_bytes, expected):
    status, headers, body = raw_request(own_api.port, request_bytes)
    assert status == expected
    assert headers["content-type"] == "application/json", body[:200]
    assert set(json.loads(body)["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "method, route",
    [
        ("GET", "/list_tasks"),
        ("POST", "/api/v2/chat/qa/async"),
        ("POST", "/api/v1/generate/async"),
        ("POST", "/tasks"),
        ("POST", "/api/v1/task/inference"),
        ("GET", "/api/v1/tasks"),
    ],
)
def test_finding7_seed_routes_429_carry_retry_after(make_app, redis_factory, method, route):
    app = make_app(redis_factory().url, rate_limit_requests=1, rate_limit_window_seconds=60)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer("bob")["Authorization"]
    answers = [client.open(route, method=method, json={}) for _ in range(3)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    assert all(int(a.headers["Retry-After"]) >= 1 for a in limited)


def test_finding7_every_content_type_the_logs_route_answers_is_documented(client):
    spec = client.get("/openapi.json").get_json()
    content = spec["paths"]["/api/v1/jobs/{job_id}/logs"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/plain"} <= set(content)
