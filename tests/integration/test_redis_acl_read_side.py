"""The read side and the ``orders`` CLI reach Redis as the configured ACL user: with the
default user switched off, the projector projects, and ``orders verify``, ``status`` and
``replay`` work with the credentials and are refused without them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import redis

from tests.support.events import orders
from tests.support.read_side import append
from tests.support.replays import orders_cli, until_ok

pytestmark = pytest.mark.integration


@pytest.fixture
def acl_only(settings_env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """An ACL user with a password, and the default (passwordless) user off meanwhile."""
    url = settings_env["ORDERS_REDIS_URL"]
    user, password = f"orders-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with redis.Redis.from_url(url) as admin:
        admin.acl_setuser(
            user, enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"],
            commands=["+@all"],
        )  # fmt: skip
    as_user = redis.Redis.from_url(url, username=user, password=password)
    as_user.acl_setuser("default", enabled=False)
    try:
        yield {"ORDERS_REDIS_USERNAME": user, "ORDERS_REDIS_PASSWORD": password}
    finally:
        as_user.acl_setuser("default", enabled=True)
        as_user.acl_deluser(user)
        as_user.close()


def test_projector_and_cli_use_the_acl_user(
    services: Any, settings_env: Mapping[str, str], acl_only: dict[str, str]
) -> None:
    env = {**settings_env, **acl_only}
    with pytest.raises(redis.AuthenticationError):  # the default user is really off
        redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"]).ping()
    services("projector", env=acl_only)
    append(env["ORDERS_KAFKA_BOOTSTRAP"], env["ORDERS_EVENTS_TOPIC"], orders(20, "acl"))

    verified = until_ok(lambda: orders_cli(env, "verify"), timeout=60)
    assert "views equal the fold of 80 events" in verified.stdout
    status = orders_cli(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    replayed = orders_cli(env, "replay", "--to-earliest", "--blue-green")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "is current" in replayed.stdout
    again = orders_cli(env, "verify")
    assert again.returncode == 0, again.stdout + again.stderr

    refused = orders_cli(dict(settings_env), "verify")  # the same, without the credentials
    assert refused.returncode != 0
    assert "views equal" not in refused.stdout
