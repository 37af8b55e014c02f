"""Webhooks: events, endpoints, signatures (the Standard Webhooks specification) and the URL rules. Plain Python.

An event is written in the same write (a transaction) as the state change it reports, by the region
that writes that item (handlers.domain.settlement, handlers.domain.operation_settlement): so there is
no change without its event and no event without its change. That region's sender delivers it
(handlers.domain.delivery).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from urllib.parse import urlsplit

import attrs
from ulid import ULID

from handlers.domain.models import Operation, OperationKind, OperationStatus, Payment, PaymentStatus

EVENT_PREFIX = "evt_"
ENDPOINT_PREFIX = "we_"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the specification's prefix, not a secret
SECRET_BYTES = 24


class EventType(enum.StrEnum):
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_DECLINED = "payment.declined"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_VOIDED = "payment.voided"
    PAYMENT_EXPIRED = "payment.expired"
    PAYMENT_REVERSED = "payment.reversed"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"


_PAYMENT_EVENTS = {
    PaymentStatus.AUTHORIZED: EventType.PAYMENT_AUTHORIZED,
    PaymentStatus.CAPTURED: EventType.PAYMENT_CAPTURED,
    PaymentStatus.DECLINED: EventType.PAYMENT_DECLINED,
    PaymentStatus.FAILED: EventType.PAYMENT_FAILED,
    PaymentStatus.VOIDED: EventType.PAYMENT_VOIDED,
    PaymentStatus.EXPIRED: EventType.PAYMENT_EXPIRED,
    PaymentStatus.REVERSED: EventType.PAYMENT_REVERSED,
}


def payment_event_type(status: PaymentStatus) -> EventType | None:
    """A payment reaching a new status other than `pending` is an event."""
    return _PAYMENT_EVENTS.get(status)


def operation_event_type(operation: Operation) -> EventType | None:
    """A capture or void that succeeded moves the payment; a refund's every final status is its own event.
    A capture or void the bank refused moved nothing: no event."""
    if operation.status is OperationStatus.PENDING:
        return None
    if operation.kind is OperationKind.REFUND:
        succeeded = operation.status is OperationStatus.SUCCEEDED
        return EventType.REFUND_SUCCEEDED if succeeded else EventType.REFUND_FAILED
    if operation.status is not OperationStatus.SUCCEEDED:
        return None
    return EventType.PAYMENT_CAPTURED if operation.kind is OperationKind.CAPTURE else EventType.PAYMENT_VOIDED


@attrs.frozen
class NewEvent:
    """An event as the write that makes the change carries it: its body is built from `subject`, the
    payment or refund exactly as that write commits it (never from a value a later write may change)."""

    id: str
    merchant_id: str
    type: EventType
    created_at: datetime
    subject: Payment | Operation
    region: str  # the writer of the change, and the sender of the event


def new_event(event_type: EventType, subject: Payment | Operation, region: str, now: datetime) -> NewEvent:
    return NewEvent(
        id=EVENT_PREFIX + str(ULID.from_timestamp(now.timestamp())),
        merchant_id=subject.merchant_id,
        type=event_type,
        created_at=now,
        subject=subject,
        region=region,
    )


@attrs.frozen
class Attempt:
    """One delivery attempt of an event to an endpoint (GET /v1/events/{id} lists them)."""

    endpoint_id: str
    at: datetime
    status: int | None  # the endpoint's HTTP status; None when no answer came
    error: str | None  # why there was no usable answer: "timeout", "connection refused", "refused URL ..."
    duration_ms: int


@attrs.frozen
class Delivery:
    """An event's delivery to one endpoint: due again at `next_at`, or finished (None)."""

    endpoint_id: str
    attempts: int = 0
    next_at: float | None = None
    delivered: bool = False


@attrs.frozen
class StoredEvent:
    """An event as the table holds it: its body fixed at the change, and its deliveries so far. Written
    only by `region` (the writer of the change it reports), or by a region taking over a silent one."""

    id: str
    merchant_id: str
    type: EventType
    created_at: datetime
    region: str
    body: str  # the JSON delivered, exactly as signed
    due_at: float | None  # epoch seconds of the next delivery due; None once every delivery is finished
    deliveries: tuple[Delivery, ...] = ()  # resolved from the merchant's endpoints at the first attempt
    attempts: tuple[Attempt, ...] = ()
    version: int = 0  # every write of the event checks and moves it (one writer, no lost update)


# --- signatures: the Standard Webhooks specification ------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under the endpoint's secret."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Sequence[str], message_id: str, timestamp: int, body: str) -> str:
    """Every current secret's signature, space-separated (during a rotation: the new and the old)."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_)


def headers(secrets_: Sequence[str], message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, message_id, timestamp, body),
    }


# --- endpoints ---------------------------------------------------------------------------------------


class EndpointStatus(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


@attrs.frozen
class Endpoint:
    id: str
    merchant_id: str
    url: str
    events: tuple[EventType, ...]  # empty: every type
    status: EndpointStatus
    secret: str = attrs.field(repr=False)
    created_at: datetime
    # The secret replaced by the last rotation, signed with too until `previous_secret_until`.
    previous_secret: str | None = attrs.field(default=None, repr=False)
    previous_secret_until: datetime | None = None
    disabled_reason: str | None = None
    failing_since: datetime | None = None  # the first failure of the current series of failures
    last_failure_at: datetime | None = None  # the series' latest failure, noted hourly

    def subscribed(self, event_type: EventType) -> bool:
        return not self.events or event_type in self.events

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        rotating = self.previous_secret is not None and self.previous_secret_until is not None
        if rotating and now < self.previous_secret_until:  # type: ignore[operator]
            return (self.secret, self.previous_secret)  # type: ignore[return-value]
        return (self.secret,)


def new_endpoint_id(now: datetime) -> str:
    return ENDPOINT_PREFIX + str(ULID.from_timestamp(now.timestamp()))


# --- URL rules (SSRF) --------------------------------------------------------------------------------

Resolver = Callable[[str], Iterable[str]]  # host -> the addresses it resolves to (DNS)


@attrs.frozen
class UrlPolicy:
    """Deployed: https to public addresses only. Locally (`allow_loopback`): loopback http too; link-local
    and the instance-metadata address never."""

    allow_loopback: bool = False


_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
_IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")  # Python calls only parts of it private
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated, still routed inside some networks
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a network's own translator
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT (RFC 2765): ::ffff:0:a.b.c.d
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # the only IPv6 block the internet routes today
_DOCUMENTATION6 = ipaddress.ip_network("3fff::/20")  # RFC 9637, newer than Python 3.11's tables
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# In order: the first that matches names the refusal.
_REFUSED: tuple[tuple[Callable[[Address], bool], str], ...] = (
    (lambda ip: ip.is_link_local, "a link-local address (the instance metadata service is one)"),
    (lambda ip: ip in _CARRIER_GRADE_NAT, "a carrier-grade NAT address"),
    (lambda ip: ip.is_multicast, "a multicast address"),
    (lambda ip: ip in _SITE_LOCAL or ip in _NAT64_LOCAL, "a site-local address"),
    (lambda ip: ip.is_private or ip in _IETF_PROTOCOL, "a private address"),
    (lambda ip: not ip.is_global or _outside_global_unicast(ip), "an address that is not public"),
)


def _outside_global_unicast(ip: Address) -> bool:
    return ip.version == 6 and (ip not in _GLOBAL_UNICAST or ip in _DOCUMENTATION6)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, translated, 6to4, NAT64, IPv4-compatible): it is what a
    translator or tunnel would reach, so the IPv4 rules judge it."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_TRANSLATED or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # not :: nor ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refused_address(address: str, policy: UrlPolicy) -> str | None:
    """Why a delivery may not go to this address (None: it may)."""
    ip: Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _embedded_ipv4(ip) or ip
    if ip.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    return next((reason for refused, reason in _REFUSED if refused(ip)), None)


def check_url(url: str, policy: UrlPolicy, resolve: Resolver) -> str | None:
    """Why this URL may not receive webhooks (None: it may). Checked at registration and again at each
    delivery: DNS can change between the two."""
    if not url.isascii() or any(char.isspace() or ord(char) < 32 for char in url):
        return "must be ASCII without spaces (percent-encode the rest, and use the host's punycode form)"
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https URL"
    if parts.username or parts.password:
        return "must not hold credentials"
    try:
        addresses = list(resolve(host))
    except (OSError, UnicodeError, ValueError):  # a name DNS cannot even be asked about
        addresses = []
    return _addresses_problem(addresses, policy, https=parts.scheme == "https")


def _addresses_problem(addresses: Sequence[str], policy: UrlPolicy, *, https: bool) -> str | None:
    if not addresses:
        return "has a host that does not resolve"
    reasons = [reason for reason in (refused_address(a, policy) for a in addresses) if reason is not None]
    if reasons:
        return f"resolves to {reasons[0]}"
    loopback_only = all(ipaddress.ip_address(a).is_loopback for a in addresses)
    if not https and not (policy.allow_loopback and loopback_only):
        return "must be an https URL"
    return None
