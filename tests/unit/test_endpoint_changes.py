"""A merchant's change to an endpoint (rotation, enable) racing another writer's: the sender's 410
disable, or a second rotation. Each race is interleaved inside the first change, between its read and
its write, on the in-memory store that holds the DynamoDB adapter's conditions."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from handlers.domain.errors import RequestInProgress
from handlers.domain.webhook_api import WebhookApi
from handlers.domain.webhook_pages import CreateEndpoint
from handlers.domain.webhooks import Endpoint, EndpointStatus, UrlPolicy
from tests.fakes import MemoryRepository

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Interleaving(MemoryRepository):
    """Runs `meanwhile` once, right after the API's first read of an endpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: list[object] = []

    def get_endpoint(self, merchant_id: str, endpoint_id: str) -> Endpoint | None:
        read = super().get_endpoint(merchant_id, endpoint_id)
        now, self.meanwhile = self.meanwhile, []
        for change in now:
            change()  # type: ignore[operator]
        return read


def api(repo: MemoryRepository) -> WebhookApi:
    return WebhookApi(
        endpoints=repo,
        lister=repo,
        events=repo,
        policy=UrlPolicy(),
        resolve=lambda _: ["93.184.216.34"],
        clock=lambda: NOW,
    )


def sender_disables(repo: MemoryRepository, endpoint: Endpoint) -> None:
    held = repo.endpoint(endpoint.merchant_id, endpoint.id)
    repo.update_endpoint(attrs.evolve(held, status=EndpointStatus.DISABLED, disabled_reason="410 Gone"), held)


def test_a_rotation_racing_the_senders_disable_does_not_enable_it_again() -> None:
    repo = Interleaving()
    created = api(repo).create_endpoint(CreateEndpoint("m1", "https://hooks.example.com/h"))
    repo.meanwhile.append(lambda: sender_disables(repo, created))
    rotated = api(repo).rotate_secret("m1", created.id)
    stored = repo.endpoint("m1", created.id)
    assert stored.status is EndpointStatus.DISABLED and stored.disabled_reason == "410 Gone"
    assert stored.secret == rotated.secret != created.secret  # rotated all the same, from the fresh read


def test_two_interleaved_rotations_keep_the_chain_of_secrets() -> None:
    repo = Interleaving()
    created = api(repo).create_endpoint(CreateEndpoint("m1", "https://hooks.example.com/h"))
    inner: list[Endpoint] = []
    repo.meanwhile.append(lambda: inner.append(api(repo).rotate_secret("m1", created.id)))
    outer = api(repo).rotate_secret("m1", created.id)
    stored = repo.endpoint("m1", created.id)
    assert stored.secret == outer.secret
    assert stored.previous_secret == inner[0].secret  # not the first secret: the inner rotation's is kept


def test_an_enable_racing_a_change_reads_again_and_one_that_never_settles_is_a_409() -> None:
    repo = Interleaving()
    created = api(repo).create_endpoint(CreateEndpoint("m1", "https://hooks.example.com/h"))
    sender_disables(repo, created)

    def rotate_under_it() -> None:
        held = repo.endpoint("m1", created.id)
        repo.webhook_endpoints[("m1", created.id)] = attrs.evolve(held, secret=held.secret + "x")
        repo.meanwhile.append(rotate_under_it)  # and again at every read: it never settles

    repo.meanwhile.append(rotate_under_it)
    with pytest.raises(RequestInProgress):
        api(repo).enable_endpoint("m1", created.id)
    repo.meanwhile.clear()
    assert api(repo).enable_endpoint("m1", created.id).status is EndpointStatus.ENABLED


def test_a_rotation_keeps_the_health_the_sender_noted_meanwhile() -> None:
    repo = Interleaving()
    created = api(repo).create_endpoint(CreateEndpoint("m1", "https://hooks.example.com/h"))

    def sender_notes_a_failure() -> None:
        held = repo.endpoint("m1", created.id)
        repo.update_endpoint(attrs.evolve(held, failing_since=NOW, last_failure_at=NOW), held)

    repo.meanwhile.append(sender_notes_a_failure)
    api(repo).rotate_secret("m1", created.id)
    stored = repo.endpoint("m1", created.id)
    assert (stored.failing_since, stored.last_failure_at) == (NOW, NOW)  # the rotation wrote its fields only
    assert stored.previous_secret == created.secret
