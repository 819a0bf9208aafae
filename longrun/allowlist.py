"""The operator's exceptions to the URL rules (``LONGRUN_URL_ALLOWLIST``), parsed.

Entries, comma-separated: a hostname (``api.internal``, or ``*.corp.example``
for its subdomains), ``host:port``, an IP address, or a CIDR network
(``10.1.0.0/16``). Apart from longrun/urls.py so that the settings can check
the setting when they load without importing the rules (which read the
settings).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes that carry an IPv4 address in their last 32 bits.
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


@dataclass(frozen=True)
class Allowlist:
    """The operator's exceptions, parsed once."""

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    name_ports: frozenset[tuple[str, int]] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    address_ports: frozenset[tuple[IPAddress, int]] = frozenset()

    @classmethod
    def parse(cls, spec: Allowlist | str | list[str] | tuple[str, ...] | None) -> Allowlist:
        if isinstance(spec, Allowlist):
            return spec
        entries = spec.split(",") if isinstance(spec, str) else list(spec or ())
        names, suffixes, name_ports, networks, address_ports = set(), [], set(), [], set()
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            host, port = _split_host_port(entry)
            if port is not None:
                address = ip_or_none(host)
                if address is not None:
                    address_ports.add((unwrap(address), port))
                else:
                    name_ports.add((host, port))
            elif entry.startswith("*."):
                suffixes.append(entry[1:])
            else:
                names.add(entry)
        return cls(frozenset(names), tuple(suffixes), frozenset(name_ports), tuple(networks), frozenset(address_ports))

    def allows_name(self, host: str, port: int) -> bool:
        return (
            host in self.names
            or (host, port) in self.name_ports
            or any(host.endswith(suffix) for suffix in self.suffixes)
        )

    def allows_address(self, address: IPAddress, port: int) -> bool:
        candidates = {address, unwrap(address)}
        return any((a, port) in self.address_ports or any(a in net for net in self.networks) for a in candidates)


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [v6]:port
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        return entry, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"url allowlist entry {entry!r}: bad port")
    return host, int(port)


def ip_or_none(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if address.version == 4:
        return address
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in IPV4_COMPATIBLE and int(address) > 1:  # ::1 and :: are IPv6's own
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in net for net in NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address
