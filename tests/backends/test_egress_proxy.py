"""The browser's egress proxy: every connection Chromium makes is checked by
the URL rules and made to the very address that was checked."""

import socket

import pytest
import requests

from backends.egress_proxy import EgressProxy
from longrun import urls


@pytest.fixture
def proxy():
    with EgressProxy(allowlist="127.0.0.1") as running:
        yield running


def get(proxy, url):
    with requests.Session() as session:
        session.trust_env = False
        with session.get(url, proxies={"http": proxy.url, "https": proxy.url}, timeout=10) as response:
            return response.status_code, response.text


def test_an_allowed_request_is_forwarded_in_origin_form(proxy, test_pages):
    status, body = get(proxy, test_pages.url("/about?x=1"))
    assert status == 200 and "Longrun test site" in body
    assert test_pages.hits[-1] == "/about"
    assert proxy.refusals == []


def test_a_refused_host_gets_a_403_naming_the_rule_and_is_never_contacted(proxy, test_pages):
    hits = len(test_pages.hits)
    status, body = get(proxy, f"http://localhost:{test_pages.port}/about")
    assert status == 403 and "names this machine" in body
    assert len(test_pages.hits) == hits
    assert proxy.refusals == [(f"http://localhost:{test_pages.port}/about", body.split(": ", 1)[1].strip())]


def test_a_refused_connect_tunnel_is_a_403(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"CONNECT 169.254.169.254:443 HTTP/1.1\r\nHost: 169.254.169.254:443\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403") and b"metadata" in answer
    assert proxy.refusals[0][0] == "https://169.254.169.254:443/"


def test_it_connects_to_the_address_it_checked_not_a_second_lookup(proxy, test_pages, monkeypatch):
    # "pinned.test" exists only in this fake resolver: reaching the page proves the
    # proxy connected to the checked address instead of resolving the name again.
    monkeypatch.setattr(urls, "resolve_host", lambda host, port: [urls.ipaddress.ip_address("127.0.0.1")])
    status, body = get(proxy, f"http://pinned.test:{test_pages.port}/about")
    assert status == 200 and "Longrun test site" in body


def test_a_name_that_resolves_to_a_private_address_is_refused(proxy, monkeypatch):
    monkeypatch.setattr(urls, "resolve_host", lambda host, port: [urls.ipaddress.ip_address("10.0.0.5")])
    status, body = get(proxy, "http://intranet.test/")
    assert status == 403 and "resolves to a private address" in body and "10.0.0.5" not in body
