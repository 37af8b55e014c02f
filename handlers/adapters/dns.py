"""The URL rules' resolver (handlers.domain.webhooks.Resolver) over the system's DNS."""

from __future__ import annotations

import socket


def resolve(host: str) -> list[str]:
    """Every address `host` resolves to, IPv4 and IPv6 (an address literal resolves to itself); an
    OSError (no such name, no DNS) leaves check_url to refuse the URL."""
    try:
        answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (UnicodeError, ValueError) as e:  # a label over 63 characters, a NUL: no name at all
        raise OSError(f"not a host name: {e}") from None
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))
