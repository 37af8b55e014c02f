"""The URL rules' resolver (handlers.domain.webhooks.Resolver) over the system's DNS."""

from __future__ import annotations

import socket


def resolve(host: str) -> list[str]:
    """Every address `host` resolves to, IPv4 and IPv6 (an address literal resolves to itself); an
    OSError (no such name, no DNS) leaves check_url to refuse the URL."""
    answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))
