"""Whether a peer's address is the host a RemoteAE names.

A RemoteAE's host may be an address or a name. Names are resolved at each
check (never cached across checks), so a changed DNS entry takes effect at
the next association. The loopback names of this machine are aliases of
one another: "localhost", 127.0.0.1 and ::1 all mean "this machine", as a
client may connect over either protocol. Other loopback addresses
(127.0.0.2, ...) are distinct hosts, which lets tests and co-located
services be told apart.
"""

import ipaddress
import logging
import socket

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_THIS_MACHINE = frozenset(
    {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
)


class UnresolvableHost(OSError):
    pass


def normalize(address: str) -> IPAddress:
    """An address as sent by the socket layer, IPv4-mapped IPv6 unwrapped."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def addresses_of(host: str) -> frozenset[IPAddress]:
    """Every address `host` stands for; one name lookup at most."""
    try:
        found = {normalize(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            raise UnresolvableHost(f"cannot resolve {host!r}: {exc}") from None
        found = {normalize(str(info[4][0])) for info in infos}
    if found & _THIS_MACHINE:
        found |= _THIS_MACHINE
    return frozenset(found)


def is_host(peer_address: str, host: str) -> bool:
    """Whether `peer_address` is one of `host`'s addresses."""
    try:
        peer = normalize(peer_address)
    except ValueError:
        return False
    return peer in addresses_of(host)
