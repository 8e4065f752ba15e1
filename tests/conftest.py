"""Fixtures for every test layer.

Session-wide: one Kafka broker (``kafka``) and one Redis server (``redis_server``), started
only if a test asks for them. Per test: ``settings_env`` isolates the test with its own
topics, consumer groups, ports and state dir (and an empty Redis); ``services`` starts
project processes with that environment and shows their logs when the test fails.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.kafka_infra import KafkaBroker, new_kafka
from tests.support.redis_infra import RedisBroker, new_redis
from tests.support.services import Services, isolated_settings

_phase_reports = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Remember each phase's report so fixtures can tell in teardown whether the test failed.
    report: pytest.TestReport = yield
    item.stash.setdefault(_phase_reports, {})[report.when] = report
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_phase_reports, {})
    return any(r.failed for r in reports.values())


def _start_kafka(workdir: Path) -> Iterator[KafkaBroker]:
    broker = new_kafka(workdir)
    try:
        broker.start()
        broker.wait_ready()
        yield broker
    finally:
        broker.close()


def _start_redis(workdir: Path) -> Iterator[RedisBroker]:
    server = new_redis(workdir)
    try:
        server.start()
        server.wait_ready()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """The session's Kafka broker. Do not kill it: use ``own_kafka`` for fault tests."""
    yield from _start_kafka(tmp_path_factory.mktemp("kafka"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisBroker]:
    """The session's Redis server. Do not kill it: use ``own_redis`` for fault tests."""
    yield from _start_redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A broker for this test alone, free to kill -9 and restart (costs a few seconds)."""
    yield from _start_kafka(tmp_path / "own-kafka")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisBroker]:
    """A Redis server for this test alone, free to kill and restart."""
    yield from _start_redis(tmp_path / "own-redis")


@pytest.fixture
def settings_env(kafka: KafkaBroker, redis_server: RedisBroker, tmp_path: Path) -> dict[str, str]:
    """Per-test ORDERS_* environment on the session Kafka/Redis (Redis flushed first)."""
    return isolated_settings(kafka, redis_server, tmp_path)


@pytest.fixture
def services(
    settings_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Services]:
    """``services("projector")`` starts a project process with ``settings_env``.

    All are stopped (SIGTERM, then SIGKILL after 15 s) at teardown; if the test failed,
    the last 50 lines of each one's log are printed.
    """
    started = Services(settings_env, tmp_path / "logs")
    try:
        yield started
    finally:
        started.stop_all()
        if started.started and _test_failed(request):
            print(started.log_report(50))
