"""The rules every outbound URL obeys: browser navigation (and each redirect),
webhook targets, ``cdp_url``, LLM host overrides.

A job must not be a way into the network it runs in (SSRF). ``check_url``
refuses, unless the operator allow-listed the host (``LONGRUN_URL_ALLOWLIST``):

- schemes other than http and https;
- hosts that are, or resolve to, private, loopback, link-local (cloud metadata
  lives there), carrier-grade NAT, multicast, reserved or unspecified
  addresses, including IPv4 addresses wrapped in IPv6 (``::ffff:127.0.0.1``,
  NAT64, 6to4, Teredo);
- names that always mean "this machine" or "the cloud's metadata service"
  (``localhost``, ``metadata.google.internal``), even without resolving them;
- numeric host forms other than the canonical dotted quad (``2130706433``,
  ``0x7f.1``, ``017700000001``, ``127.1``): browsers read them as IPv4
  addresses, other parsers do not, so they only ever serve to disguise one;
- characters on which parsers disagree about where the host is (backslash,
  whitespace, control characters).

Every address a name resolves to is checked, since a client may connect to
any of them. The check cannot pin the address the connection then uses (a
DNS answer may change in between); callers that can connect to the checked
address should.

Allow-list entries, comma-separated: a hostname (``api.internal``, or
``*.corp.example`` for its subdomains), ``host:port``, an IP address, or a
CIDR network (``10.1.0.0/16``). A hostname entry trusts the name whatever it
resolves to; IP and CIDR entries trust the addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any, cast
from urllib.parse import unquote, urljoin, urlsplit

from longrun.allowlist import Allowlist, IPAddress, ip_or_none, unwrap
from longrun.errors import UnsafeURL
from longrun.settings import get_settings

__all__ = [
    "Allowlist",
    "address_problem",
    "check_allowlisted",
    "check_redirect",
    "check_url",
    "checked_addresses",
    "is_safe_url",
    "normalize_host",
    "resolve_host",
]

ALLOWED_SCHEMES = {"http": 80, "https": 443}
# What check_url's ``allowlist`` takes (see its docstring).
AllowlistSpec = Allowlist | str | list[str] | tuple[str, ...] | None

# Names that mean this machine or a cloud metadata service wherever they are resolved.
BLOCKED_NAMES = {
    "localhost",
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
}
BLOCKED_SUFFIXES = (".localhost",)

# Metadata endpoints, named so the error says what was hit (all are also non-global).
METADATA_ADDRESSES = {
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
}

# Characters on which URL parsers disagree (WHATWG strips tab/newline and reads "\" as "/").
_AMBIGUOUS = re.compile(r"[\\\x00-\x20\x7f]")
# WHATWG: a host whose last label is a number is an IPv4 address (in any base).
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_CANONICAL_IPV4 = re.compile(
    r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    r"(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
)


def address_problem(address: IPAddress) -> str | None:
    """Why a job must not connect to ``address``, or None when it may."""
    candidates = (unwrap(address), address)  # the IPv4 inside names the problem best
    if any(c in METADATA_ADDRESSES for c in candidates):
        return "a cloud metadata address"
    for attribute, what in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ):
        if any(getattr(c, attribute) for c in candidates):
            return what
    if not all(c.is_global for c in candidates):  # e.g. 100.64.0.0/10, shared with a carrier
        return "a non-public address"
    return None


def normalize_host(hostname: str) -> str:
    """The host as a browser would read it: percent-decoded, IDNA-mapped, lower case,
    without the trailing dot. Raises UnsafeURL when it cannot be read unambiguously."""
    host = unquote(hostname)
    if _AMBIGUOUS.search(host) or ("%" in host and ":" not in host):
        raise UnsafeURL("the URL's host has characters that parsers read differently", details={"host": hostname})
    if not host.isascii():
        try:  # nameprep maps full-width digits and dots ("１２７。０。０。１") as browsers do
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeURL("the URL's host is not a valid name", details={"host": hostname}) from None
    host = host.lower()
    return host.rstrip(".")


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (tests replace this to avoid real DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(cast(str, info[4][0]).split("%")[0]) for info in infos]


def _settings_allowlist() -> Allowlist:
    return Allowlist.parse(get_settings().url_allowlist)


def check_url(url: str, *, allowlist: AllowlistSpec = None, resolve: bool = True) -> str:
    """Return ``url`` if a job may visit or call it; else raise UnsafeURL saying why.

    ``allowlist``: an Allowlist, a comma-separated string or a list of entries;
    None reads ``LONGRUN_URL_ALLOWLIST``. ``resolve=False`` skips DNS (checks
    the URL's text only), for places that must not wait on a resolver.
    """
    checked_addresses(url, allowlist=allowlist, resolve=resolve)
    return url


def checked_addresses(url: str, *, allowlist: AllowlistSpec = None, resolve: bool = True) -> list[IPAddress]:
    """check_url, returning the addresses it checked (empty for a name that is
    allow-listed or not resolved with ``resolve=False``), so that a caller can connect to exactly
    those and no DNS answer that changes in between can redirect it."""
    allowed = _settings_allowlist() if allowlist is None else Allowlist.parse(allowlist)
    if not isinstance(url, str) or not url:
        raise UnsafeURL("the URL is empty", details={"url": url})
    details = {"url": url}
    if _AMBIGUOUS.search(url):
        raise UnsafeURL("the URL has backslashes, whitespace or control characters", details=details)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"the URL cannot be parsed: {exc}", details=details) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURL(f"the URL's scheme {scheme or '(none)'!r} is not http or https", details=details)
    if not parts.hostname:
        raise UnsafeURL("the URL has no host", details=details)
    port = port or ALLOWED_SCHEMES[scheme]
    host = normalize_host(parts.hostname)
    details["host"] = host
    address = ip_or_none(host.split("%")[0])
    if allowed.allows_name(host, port):
        # Trusted by name, whatever it resolves to: the caller may connect by name.
        return [address] if address is not None else []

    if address is None:
        last_label = host.rsplit(".", 1)[-1]
        if _NUMERIC_LABEL.match(last_label) and not _CANONICAL_IPV4.match(host):
            raise UnsafeURL(
                "the URL's host is an IP address in a non-standard form (decimal, octal, hex or shortened)",
                details=details,
            )
        if host in BLOCKED_NAMES or host.endswith(BLOCKED_SUFFIXES):
            raise UnsafeURL(f"the URL's host {host!r} names this machine or a metadata service", details=details)
        if not resolve:
            return []
        addresses = _resolve(host, port, details)
    else:
        addresses = [address]

    for addr in addresses:
        if allowed.allows_address(addr, port):
            continue
        problem = address_problem(addr)
        if problem:
            # Which internal address a name resolves to is the operator's business, not the tenant's.
            if address is not None:
                message, details = f"the URL's host {host!r} is {problem}", {**details, "address": str(addr)}
            else:
                message = f"the URL's host {host!r} resolves to {problem}"
            raise UnsafeURL(f"{message}; an operator can allow it with LONGRUN_URL_ALLOWLIST", details=details)
    return addresses


def _resolve(host: str, port: int, details: dict[str, Any]) -> list[IPAddress]:
    try:
        addresses = resolve_host(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"the URL's host {host!r} does not resolve ({exc})", details=details) from None
    if not addresses:
        raise UnsafeURL(f"the URL's host {host!r} does not resolve", details=details)
    return addresses


def check_redirect(url: str, location: str, **kwargs: Any) -> str:
    """The absolute target of a redirect from ``url`` to ``location`` (a Location
    header, maybe relative), if a job may follow it; else UnsafeURL. A redirect is
    checked like any URL: a public page must not bounce a job into a private one."""
    if not location:
        raise UnsafeURL("the redirect has no Location", details={"url": url})
    if _AMBIGUOUS.search(location.strip()):
        raise UnsafeURL(
            "the redirect's Location has backslashes, whitespace or control characters",
            details={"url": url, "location": location},
        )
    target = urljoin(url, location.strip())
    try:
        return check_url(target, **kwargs)
    except UnsafeURL as exc:
        raise UnsafeURL(
            f"redirect from {url} refused: {exc.message}", details={**exc.details, "redirected_from": url}
        ) from None


# A websocket URL is checked as the http(s) URL of its handshake.
_WS_SCHEMES = {"ws": "http", "wss": "https"}


def check_allowlisted(url: str, *, allowlist: AllowlistSpec = None, resolve: bool = True, field: str = "URL") -> str:
    """``url`` if it passes the URL rules AND the operator allow-listed its host (by
    name, ``host:port``, IP or CIDR); else UnsafeURL. For what a job may not just
    visit but hand its work to (``cdp_url``, its websocket, the LLM ``host``): a
    public server there could answer with a redirect, or name a websocket, inside
    the network. ``ws``/``wss`` URLs are checked as their http(s) handshake."""
    allowed = _settings_allowlist() if allowlist is None else Allowlist.parse(allowlist)
    scheme, sep, rest = url.partition("://") if isinstance(url, str) else ("", "", "")
    http_url = f"{_WS_SCHEMES[scheme.lower()]}://{rest}" if sep and scheme.lower() in _WS_SCHEMES else url
    addresses = checked_addresses(http_url, allowlist=allowed, resolve=resolve)
    parts = urlsplit(http_url)
    host = normalize_host(parts.hostname or "")
    port = parts.port or ALLOWED_SCHEMES[parts.scheme.lower()]
    if allowed.allows_name(host, port):
        return url
    literal = ip_or_none(host)
    if literal is not None and allowed.allows_address(literal, port):
        return url
    if literal is None and addresses and all(allowed.allows_address(a, port) for a in addresses):
        return url  # a name resolved (by the worker) into allow-listed addresses only
    raise UnsafeURL(
        f"the {field}'s host {host!r} (port {port}) is not in LONGRUN_URL_ALLOWLIST; a {field} "
        "is used only when the operator allow-listed it",
        details={"url": url, "host": host},
    )


def is_safe_url(url: str, **kwargs: Any) -> bool:
    """check_url as a predicate."""
    try:
        check_url(url, **kwargs)
        return True
    except UnsafeURL:
        return False
