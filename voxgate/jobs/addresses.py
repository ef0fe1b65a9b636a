"""Where a webhook may be sent: public internet addresses only, unless the operator allows more.

A key that names the webhook URL could otherwise make the server POST to its own loopback services, the
cloud metadata endpoint or the private network it sits in (SSRF). The host is resolved when each attempt
is made (a name may point somewhere new by then), every address it resolves to must be public, and the
attempt connects to the address that was checked, so a second lookup cannot swap it (DNS rebinding).
Literal addresses in any spelling a resolver accepts (`2130706433`, `0x7f.1`, `::ffff:127.0.0.1`) are
caught too, since they are checked after parsing, not as text."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(Exception):
    """The webhook host is, or resolves to, an address this server does not send to."""


def is_public(ip: Address) -> bool:
    """Globally routable unicast: not loopback, private, link-local, CGNAT, multicast, reserved or unspecified,
    also when an IPv6 address carries an IPv4 one (mapped, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv6Address):
        teredo = ip.teredo[1] if ip.teredo else None
        for inner in (ip.ipv4_mapped, ip.sixtofour, teredo):
            if inner is not None and not is_public(inner):
                return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def literal(host: str) -> Address | None:
    """The address a host names literally, in any form `inet_aton` accepts (decimal, hex, short); else None."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False  # a private deployment (and the tests): every address is allowed
    allowed: tuple[Network, ...] = field(default=())  # networks allowed although not public

    def permits(self, ip: Address) -> bool:
        return self.allow_private or is_public(ip) or any(ip.version == n.version and ip in n for n in self.allowed)

    def check_literal(self, host: str) -> str | None:
        """Why a URL's literal address is refused (for a 400 when the URL is given), or None."""
        ip = literal(host)
        if ip is not None and not self.permits(ip):
            return f"webhook_url points at {ip}, which is not a public address"
        return None

    async def resolve(self, host: str, port: int) -> Address:
        """The address to connect to: the first the host resolves to, when every one of them is permitted."""
        ip = literal(host)
        if ip is not None:
            found = [ip]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise BlockedAddress(f"the webhook host could not be resolved: {exc.strerror or exc}") from None
            found = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not found:
            raise BlockedAddress("the webhook host resolves to no address")
        refused = [a for a in found if not self.permits(a)]
        if refused:
            raise BlockedAddress(f"the webhook host resolves to {refused[0]}, which is not a public address")
        return found[0]

