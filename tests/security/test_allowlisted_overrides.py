"""check_allowlisted: what a job hands its work to (cdp_url, its websocket, the LLM
host) must pass the URL rules and be in the operator's allow-list."""

import ipaddress

import pytest

from longrun import urls
from longrun.errors import UnsafeURL


@pytest.mark.parametrize(
    "url, allowlist",
    [
        ("http://browser.internal:9222", "browser.internal:9222"),
        ("ws://browser.internal:9222/devtools/browser/x", "browser.internal"),
        ("wss://10.1.2.3/devtools/browser/x", "10.0.0.0/8"),
        ("https://llm.corp.example/v1", "*.corp.example"),
        ("http://127.0.0.1:9222", "127.0.0.1"),
    ],
)
def test_allow_listed_overrides_pass(url, allowlist):
    assert urls.check_allowlisted(url, allowlist=allowlist, resolve=False) == url


@pytest.mark.parametrize(
    "url, allowlist",
    [
        ("http://93.184.216.34:9222", "127.0.0.1"),  # public, but not allow-listed
        ("https://llm.example.com/v1", ""),
        ("http://browser.internal:9223", "browser.internal:9222"),  # another port
        ("ws://127.0.0.1:9/devtools", "127.0.0.1:9222"),
        ("ftp://browser.internal/", "browser.internal"),  # the URL rules still hold
    ],
)
def test_other_overrides_are_refused(url, allowlist):
    with pytest.raises(UnsafeURL):
        urls.check_allowlisted(url, allowlist=allowlist, resolve=False)


def test_a_name_is_allowed_when_it_resolves_into_allow_listed_addresses_only(monkeypatch):
    monkeypatch.setattr(urls, "resolve_host", lambda host, port: [ipaddress.ip_address("10.0.0.7")])
    assert urls.check_allowlisted("http://browser.lan:9222", allowlist="10.0.0.0/8")
    monkeypatch.setattr(
        urls, "resolve_host", lambda host, port: [ipaddress.ip_address("10.0.0.7"), ipaddress.ip_address("1.1.1.1")]
    )
    with pytest.raises(UnsafeURL, match="not in LONGRUN_URL_ALLOWLIST"):
        urls.check_allowlisted("http://browser.lan:9222", allowlist="10.0.0.0/8")
