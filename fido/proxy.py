"""Who the client is behind the proxy: `FORWARDED_ALLOW_IPS` names the peers allowed to speak for it.

gunicorn reads the same variable (deploy/gunicorn.conf.py) and takes `X-Forwarded-Proto` (whether the
request came in over HTTPS) only from those peers; this module does the same for `X-Forwarded-For` (the
client's address), which the admin login's rate limit counts by. The proxy in front (deploy/nginx/)
overwrites both headers with its own values, so whatever a client sends in them is never believed.
"""

import ipaddress
from functools import cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowed(value: str) -> tuple[bool, tuple[Network, ...]]:
    """(every peer trusted, the trusted networks) of a FORWARDED_ALLOW_IPS value; ValueError names a bad entry."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    networks = []
    for entry in entries:
        if entry == "*":
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return "*" in entries, tuple(networks)


@cache
def _allowed(value: str) -> tuple[bool, tuple[Network, ...]]:
    return parse_allowed(value)


def is_trusted_proxy(address: str | None) -> bool:
    """Whether a peer at `address` may set X-Forwarded-* headers."""
    if not address:
        return False
    everyone, networks = _allowed(settings.FORWARDED_ALLOW_IPS)
    if everyone:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request) -> str | None:
    """The client's address: the peer's own, or, when the peer is a trusted proxy, the last address of
    X-Forwarded-For (the one that proxy added: entries before it came from the client and prove nothing)."""
    peer = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not is_trusted_proxy(peer):
        return peer
    last = forwarded.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer
