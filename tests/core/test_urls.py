"""The URL rules: what a job may visit or call.

DNS is replaced by a table so that these tests need no network and say
exactly which address a name "resolves" to.
"""

import pytest

from longrun import urls
from longrun.errors import InvalidInput, UnsafeURL
from longrun.settings import SettingsError, from_env
from longrun.urls import Allowlist, check_redirect, check_url, is_safe_url

DNS = {
    "example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "intranet.example": ["10.0.0.7"],
    "rebind.example": ["93.184.215.14", "127.0.0.1"],  # one bad address among good ones
    "v6-mapped.example": ["::ffff:169.254.169.254"],
    "metadata-alias.example": ["169.254.169.254"],
}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    def resolve(host, port):
        if host not in DNS:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return [urls.ipaddress.ip_address(a) for a in DNS[host]]

    monkeypatch.setattr(urls, "resolve_host", resolve)


def refused(url, **kwargs) -> UnsafeURL:
    with pytest.raises(UnsafeURL) as caught:
        check_url(url, allowlist=kwargs.pop("allowlist", ""), **kwargs)
    return caught.value


def test_unsafe_url_is_a_400_invalid_input_with_its_own_code():
    error = refused("ftp://example.com/")
    assert isinstance(error, InvalidInput)
    assert (error.status, error.code) == (400, "unsafe_url")
    assert error.details["url"] == "ftp://example.com/"


def test_public_http_and_https_urls_pass_and_are_returned_unchanged():
    for url in ("http://example.com/", "https://example.com:8443/a?b=c#d", "HTTPS://EXAMPLE.COM."):
        assert check_url(url, allowlist="") == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "gopher://example.com/",
        "chrome://settings",
        "ws://example.com/",
        "example.com/path",
        "",
    ],
)
def test_schemes_other_than_http_and_https_are_refused(url):
    assert "scheme" in refused(url).message or "empty" in refused(url).message


@pytest.mark.parametrize(
    "url,what",
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.255.1.2:8080/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "non-public"),
    ],
)
def test_private_loopback_link_local_multicast_reserved_and_unspecified_addresses_are_refused(url, what):
    assert what in refused(url).message


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata.google.internal./",
        "http://METADATA.GOOGLE.INTERNAL/",
    ],
)
def test_cloud_metadata_endpoints_are_refused(url):
    assert "metadata" in refused(url).message


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://localhost.:8000/",
        "http://LocalHost/",
        "http://app.localhost/",
        "http://localhost../",
        "http://ⓛocalhost/",
    ],
)
def test_localhost_names_are_refused_even_without_resolving(url):
    assert "this machine" in refused(url, resolve=False).message


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",  # decimal 127.0.0.1
        "http://0x7f.1/",  # hex + short
        "http://0x7f000001/",  # hex
        "http://017700000001/",  # octal
        "http://0177.0.0.1/",  # octal first octet
        "http://127.1/",  # short form
        "http://010.0.0.1/",  # leading zero: octal to a browser
        "http://134744072/",  # decimal 8.8.8.8: a disguise even when public
        "http://1.2.3.4.5/",
        "http://0/",
        "http://127..0.1/",
    ],
)
def test_decimal_octal_hex_and_short_ip_forms_are_refused(url):
    assert "non-standard form" in refused(url).message


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::a00:1]/",
        "http://[2002:7f00:1::]/",
    ],
)
def test_ipv4_addresses_wrapped_in_ipv6_are_refused(url):
    refused(url)


def test_every_address_a_name_resolves_to_is_checked():
    error = refused("http://rebind.example/")
    # It says why, never which internal address the name resolves to.
    assert "resolves to a loopback address" in error.message
    assert "127.0.0.1" not in error.message and "address" not in error.details
    assert "private" in refused("https://intranet.example/").message
    assert "metadata" in refused("http://metadata-alias.example/").message
    assert "metadata" in refused("http://v6-mapped.example/").message


def test_a_name_that_does_not_resolve_is_refused():
    assert "does not resolve" in refused("http://no-such-host.example/").message


def test_resolve_false_checks_the_text_only():
    assert check_url("http://intranet.example/", allowlist="", resolve=False)
    refused("http://10.0.0.7/", resolve=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com\\@127.0.0.1/",  # browsers read "\" as "/": host differs per parser
        "http://127.0.0.1\\@example.com/",
        "http://exa mple.com/",
        "http://example.com/\n@127.0.0.1",
        "http://%31%32%37.0.0.1/",  # percent-encoded host
        "http://１２７。０。０。１/",  # full-width digits and dots
    ],
)
def test_hosts_that_parsers_read_differently_are_refused(url):
    refused(url)


def test_userinfo_query_and_fragment_do_not_hide_the_real_host():
    assert "loopback" in refused("http://example.com@127.0.0.1/").message
    assert check_url("http://127.0.0.1@example.com/", allowlist="")
    assert check_url("http://example.com#@127.0.0.1/", allowlist="")  # the host is example.com
    assert check_url("http://example.com?@127.0.0.1/", allowlist="")
    refused("http:///127.0.0.1/")  # browsers read the host after "///"; we refuse it


def test_allowlist_entries_hostname_host_port_ip_and_cidr():
    assert check_url("http://localhost:8000/", allowlist="localhost")
    assert check_url("http://intranet.example/", allowlist="intranet.example")
    assert check_url("http://a.b.corp.example/", allowlist="*.corp.example", resolve=False)
    assert check_url("http://127.0.0.1:9222/", allowlist="127.0.0.1:9222")
    refused("http://127.0.0.1:9223/", allowlist="127.0.0.1:9222")
    assert check_url("http://[::1]:9222/", allowlist="[::1]:9222")
    assert check_url("http://10.9.8.7/", allowlist="10.0.0.0/8")
    assert check_url("https://intranet.example/", allowlist="10.0.0.0/24")  # by its address
    refused("http://10.9.8.7/", allowlist="10.0.0.0/24")
    assert check_url("http://[::ffff:127.0.0.1]/", allowlist="127.0.0.1")
    # Ports default by scheme.
    assert check_url("http://intranet.example/", allowlist="intranet.example:80")
    refused("https://intranet.example/", allowlist="intranet.example:80")


def test_allowlist_does_not_lift_the_scheme_rule_or_other_addresses():
    refused("file:///etc/passwd", allowlist="localhost,127.0.0.0/8")
    refused("http://rebind.example/", allowlist="93.184.215.14")  # its other address is loopback
    assert check_url("http://rebind.example/", allowlist="93.184.215.14,127.0.0.1")


def test_allowlist_defaults_to_the_setting(monkeypatch):
    from longrun import settings

    monkeypatch.setenv("LONGRUN_URL_ALLOWLIST", "10.0.0.0/8, localhost:5000")
    settings.get_settings.cache_clear()
    try:
        assert check_url("http://10.1.1.1/")
        assert check_url("http://localhost:5000/")
        with pytest.raises(UnsafeURL):
            check_url("http://localhost:5001/")
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def test_a_bad_allowlist_setting_is_a_settings_error_naming_it():
    with pytest.raises(SettingsError, match="url_allowlist"):
        from_env({"LONGRUN_URL_ALLOWLIST": "example.com:http"})
    assert Allowlist.parse(" a.example , ,10.0.0.0/8 ").names == {"a.example"}


def test_redirect_from_a_public_page_into_a_private_address_is_refused():
    with pytest.raises(UnsafeURL) as caught:
        check_redirect("http://example.com/start", "http://169.254.169.254/latest/", allowlist="")
    assert "redirect from http://example.com/start refused" in caught.value.message
    assert caught.value.details["redirected_from"] == "http://example.com/start"
    with pytest.raises(UnsafeURL):
        check_redirect("http://example.com/", "//2130706433/", allowlist="")
    with pytest.raises(UnsafeURL):
        check_redirect("http://example.com/", "file:///etc/passwd", allowlist="")


def test_relative_and_public_redirects_are_followed_as_absolute_urls():
    assert check_redirect("http://example.com/a/b", "../c?d=1", allowlist="") == "http://example.com/c?d=1"
    assert check_redirect("http://intranet.example/", "https://example.com/x", allowlist="") == "https://example.com/x"


def test_is_safe_url_is_the_predicate_form():
    assert is_safe_url("https://example.com/", allowlist="")
    assert not is_safe_url("http://127.0.0.1/", allowlist="")
