"""`make run-cluster`: three Kafka nodes (RF 3) and two instances of each process.

The test runs the make target itself (its own state directory and ports, auth on), then
checks that the work is spread — each decider and each projector owns partitions of the
one group, every topic partition has three in-sync replicas and the leaders sit on all
three nodes — and puts a load on both command APIs (a client-side balancer: a retry goes
to the other one) and reads through both query APIs. The fault: kill -9 of one of each,
all at once: the Kafka node leading the most command partitions, decider-2,
command-api-2, projector-2 and query-api-2. The survivors take over (the deciders' and
projectors' groups give them every partition) and the usual row is checked: G1 no
acknowledged command lost, G2 versions contiguous, no command decided twice, every 202
decided, each order's history linearizable, and G5 the views equal to the log's fold.
"""

from __future__ import annotations

import functools
import json
import os
import random
import secrets
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from ordersource.auth import Principal, Role, principal_name
from ordersource.settings import Settings
from tests.conftest import _test_failed
from tests.support.faults import MakeRun, Targets
from tests.support.net import port_open
from tests.support.processes import REPO_ROOT
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.timeout(900)]

KILLED = ("decider-2", "command-api-2", "projector-2", "query-api-2")
# Ports: <base> + offset + instance (deploy/local/lib.sh); kept under the ephemeral range.
BASES = {"kafka": 19090, "controller": 19190, "redis": 16379, "command-api": 18000,
         "command-ops": 18010, "query-api": 18020, "query-ops": 18030, "projector": 18040,
         "decider": 18050}  # fmt: skip


def _ports(offset: int) -> list[int]:
    return [base + offset + i for base in BASES.values() for i in (0, 1, 2, 3)]


def _free_offset() -> int:
    for _ in range(50):
        offset = random.randrange(1_000, 13_000)
        if not any(port_open(port) for port in _ports(offset)):
            return offset
    raise AssertionError("no free range of ports for the cluster")


class LocalCluster:
    """The processes `make run-cluster` started, found by their pid files."""

    def __init__(self, state: Path, offset: int, tokens: Mapping[str, str]) -> None:
        self.state, self.offset, self.tokens = state, offset, tokens
        base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
        auth = {role: [token] for role, token in tokens.items()}
        self.env = {
            **base,
            "ORDERS_LOCAL_STATE": str(state),
            "ORDERS_CLUSTER_PORT_OFFSET": str(offset),
            "ORDERS_AUTH_TOKENS": json.dumps(auth),
        }

    def make(self, target: str, timeout: float) -> tuple[int, str]:
        """``make <target>`` in a session of its own: on a timeout the whole process group
        goes (the run script and what it launched so far), not only make."""
        with subprocess.Popen(
            ["make", "-s", target], cwd=REPO_ROOT, env=self.env, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ) as proc:  # fmt: skip
            try:
                output, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                output, _ = proc.communicate()
                return -1, f"make {target}: no end after {timeout:g} s\n{output}"
            return proc.returncode, output

    def url(self, kind: str, instance: int) -> str:
        return f"http://127.0.0.1:{BASES[kind] + self.offset + instance}"

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{BASES['kafka'] + self.offset + n}" for n in (1, 2, 3))

    def checks_env(self) -> dict[str, str]:
        """What the validation needs: where the log, Redis and the first APIs are (the
        tokens go in the ``Targets``' headers)."""
        defaults = Settings()
        return {
            "ORDERS_KAFKA_BOOTSTRAP": self.bootstrap,
            "ORDERS_REDIS_URL": f"redis://127.0.0.1:{BASES['redis'] + self.offset}/0",
            "ORDERS_COMMANDS_TOPIC": defaults.commands_topic,
            "ORDERS_EVENTS_TOPIC": defaults.events_topic,
            "ORDERS_DLQ_TOPIC": defaults.dlq_topic,
            "ORDERS_COMMAND_API_PORT": str(BASES["command-api"] + self.offset + 1),
            "ORDERS_QUERY_API_PORT": str(BASES["query-api"] + self.offset + 1),
        }

    def pid(self, name: str) -> int:
        return int((self.state / "pids" / f"{name}.pid").read_text())

    def kill(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGKILL)

    def logs(self, lines: int = 40) -> str:
        parts = []
        for log in sorted((self.state / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"===== {log.name} =====\n" + "\n".join(tail))
        return "\n".join(parts)


def _owners(admin: Any, group: str, topic: str) -> dict[str, set[int]]:
    """Member -> the partitions of ``topic`` it is assigned, as the coordinator says."""
    owners: dict[str, set[int]] = {}
    for member in admin.describe_groups([group])[group]["members"]:
        assignment = member["member_assignment"]  # empty (not decoded) while rebalancing
        assigned = assignment["assigned_partitions"] if isinstance(assignment, dict) else []
        partitions = {p for a in assigned if a["topic"] == topic for p in a["partitions"]}
        owners[member["group_instance_id"] or member["member_id"]] = partitions
    return owners


def _two_members_own_partitions(admin: Any, group: str, topic: str) -> bool:
    try:  # a coordinator still loading the group answers with an error: not yet
        owners = _owners(admin, group, topic)
    except KafkaError:
        return False
    return len(owners) == 2 and all(owners.values())


def _one_member(admin: Any, group: str, topic: str) -> bool:
    try:  # the killed node may have been the group's coordinator: asked again until moved
        return len(_owners(admin, group, topic)) == 1
    except KafkaError:
        return False


def _leaders(admin: Any, topics: list[str]) -> tuple[Counter[int], list[str]]:
    """How many partitions each node leads, and any partition without 3 in-sync replicas."""
    leaders: Counter[int] = Counter()
    short = []
    for topic in admin.describe_topics(topics):
        for partition in topic["partitions"]:
            leaders[partition["leader_id"]] += 1
            if len(partition["isr_nodes"]) < 3 or len(partition["replica_nodes"]) < 3:
                short.append(f"{topic['name']}/{partition['partition_index']}: {partition}")
    return leaders, short


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    tokens = {role: secrets.token_urlsafe(18) for role in ("writer", "reader", "admin")}
    local = LocalCluster(tmp_path / "cluster", _free_offset(), tokens)
    try:
        code, output = local.make("run-cluster", timeout=420)
        assert code == 0, f"{output}\n{local.logs()}"
        yield local
    finally:
        code, output = local.make("stop-cluster", timeout=240)
        if code or _test_failed(request):
            print(output, local.logs(), sep="\n")


def test_run_cluster_spreads_the_work_and_loses_nothing_when_one_of_each_is_killed(
    cluster: LocalCluster, fault_run: MakeRun
) -> None:
    settings = Settings()
    topics = [settings.commands_topic, settings.events_topic, settings.snapshots_topic]
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, client_id="tests")
    try:
        # Replicas catch up and leaders settle in the first seconds after start-up.
        def replicated() -> bool:
            leaders, short = _leaders(admin, topics)
            return not short and set(leaders) == {1, 2, 3}

        wait_until(replicated, 60, 0.5, "not every partition has 3 in-sync replicas")
        leaders, short = _leaders(admin, topics)
        assert not short, short
        assert set(leaders) == {1, 2, 3}, f"leaders not on all three nodes: {leaders}"
        groups = {
            settings.decider_group: settings.commands_topic,
            settings.projector_group: settings.events_topic,
        }
        every = set(range(settings.partitions))
        for group, topic in groups.items():
            # make run-cluster waits for /healthz; the group may still be forming.
            spread = functools.partial(_two_members_own_partitions, admin, group, topic)
            wait_until(spread, 90, 0.5, f"{group}: not two members that each own partitions")
            owners = _owners(admin, group, topic)
            assert set().union(*owners.values()) == every, (group, owners)

        writer = {"Authorization": f"Bearer {cluster.tokens['writer']}"}
        reader = {"Authorization": f"Bearer {cluster.tokens['reader']}"}
        targets = Targets(
            [cluster.url("command-api", 1), cluster.url("command-api", 2)],
            [cluster.url("query-api", 1), cluster.url("query-api", 2)],
            writer,
            reader,
            Principal(Role.WRITER, principal_name(cluster.tokens["writer"].encode())),
        )
        run = fault_run(
            "make run-cluster: kill -9 one broker, decider, command API, projector, query API",
            cluster.checks_env(),
            load={"rate": 30.0, "max_commands": 6_000, "max_seconds": 400.0},
            targets=targets,
        ).begin()
        # The node leading the most command partitions: the most leaders to move.
        commands_leaders, _ = _leaders(admin, [settings.commands_topic])
        node = commands_leaders.most_common(1)[0][0]
        with run.fault():
            for name in (f"kafka-{node}", *KILLED):
                cluster.kill(name)
        run.finish(clean_timeout=180)

        # The survivors own every partition (the dead members' sessions ran out). A new
        # admin client: the first one may still ask the killed node.
        admin.close()
        live = [f"127.0.0.1:{BASES['kafka'] + cluster.offset + n}" for n in (1, 2, 3) if n != node]
        admin = KafkaAdminClient(bootstrap_servers=live, client_id="tests")
        for group, topic in groups.items():
            alone = functools.partial(_one_member, admin, group, topic)
            wait_until(alone, 60, message=f"{group}: the dead member is still in the group")
            (partitions,) = _owners(admin, group, topic).values()
            assert partitions == every, (group, partitions)
    finally:
        admin.close()
