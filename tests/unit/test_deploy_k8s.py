"""deploy/k8s, checked offline: every kustomization renders (with the small renderer
below, not kubectl), every resource validates against the Kubernetes schemas of
``KUBERNETES_VERSION`` (kubernetes-validate) or the vendored Strimzi CRDs of
``STRIMZI_VERSION`` (jsonschema), and the manifests say what the code says: the settings
each process gets build a valid ``Settings``, the topics are the ones the services would
create, the ports and probes are the ones the processes serve, the console reads the real
query API and every decider."""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import kubernetes_validate
import pytest
import yaml
from ruamel.yaml import YAML

from command_service.decider import snapshots
from ordersource.settings import Settings
from projector.console.clients import audit_topic_spec
from projector.runtime.topics import topic_specs

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"
"""The Kubernetes API the manifests are validated against (schemas in kubernetes-validate)."""
STRIMZI_VERSION = "0.50.1"
STRIMZI_CRDS = K8S / "vendor" / f"strimzi-{STRIMZI_VERSION}"
KUSTOMIZATIONS = ["base", "overlays/production"]
SECRET_EXAMPLE = K8S / "examples" / "secret.example.yaml"
STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic"}

Resource = dict[str, Any]


# -- a renderer for the subset of kustomize deploy/k8s uses ------------------------------
class Unsupported(Exception):
    """The kustomization uses something this renderer does not implement."""


SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "PersistentVolume", "StorageClass"}
NAMESPACE_REFERENCES = {"RoleBinding", "ClusterRoleBinding", "ServiceAccount"}
"""Kinds whose namespace fields kustomize's namespace transformer rewrites too (not here)."""


def load_yaml(path: Path) -> list[Any]:
    """The documents of a file, read as YAML 1.2 (like kustomize's kyaml)."""
    return [doc for doc in YAML(typ="safe", pure=True).load_all(path) if doc is not None]


def render(directory: Path) -> list[Resource]:
    """``kubectl kustomize <directory>`` for: ``resources`` (files and directories),
    ``patches`` (inline JSON 6902, targeted by kind and name), ``namespace`` and
    ``images``. Anything else raises ``Unsupported`` instead of being ignored."""
    kustomization = load_yaml(directory / "kustomization.yaml")[0]
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise Unsupported(f"{directory}: kustomization fields {sorted(unknown)}")
    if (kustomization.get("apiVersion"), kustomization.get("kind")) != (
        "kustomize.config.k8s.io/v1beta1",
        "Kustomization",
    ):
        raise Unsupported(f"{directory}: not a kustomize.config.k8s.io/v1beta1 Kustomization")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        resources += render(path) if path.is_dir() else load_yaml(path)
    ids = [resource_id(r) for r in resources]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"{directory}: resources defined twice: {sorted(duplicates)}")
    for patch in kustomization.get("patches", []):
        apply_patch(resources, patch)
    if "namespace" in kustomization:
        set_namespace(resources, kustomization["namespace"])
    for image in kustomization.get("images", []):
        set_image(resources, image)
    return resources


def resource_id(resource: Resource) -> tuple[str, str, str, str]:
    meta = resource["metadata"]
    return (resource["apiVersion"], resource["kind"], meta.get("namespace", ""), meta["name"])


def apply_patch(resources: list[Resource], patch: Mapping[str, Any]) -> None:
    if set(patch) != {"target", "patch"} or set(patch["target"]) - {"kind", "name"}:
        raise Unsupported(f"patch {patch}: only inline patches with a kind/name target")
    operations = YAML(typ="safe", pure=True).load(patch["patch"])
    if not isinstance(operations, list):
        raise Unsupported("strategic-merge patches (only JSON 6902 operation lists)")
    target = patch["target"]
    matched = [
        r
        for r in resources
        if r["kind"] == target.get("kind", r["kind"])
        and r["metadata"]["name"] == target.get("name", r["metadata"]["name"])
    ]
    if not matched:  # a patch that matches nothing is a mistake here
        raise ValueError(f"patch target {target} matches nothing")
    for resource in matched:
        for operation in operations:
            json_patch(resource, operation)


def json_patch(document: Resource, operation: Mapping[str, Any]) -> None:
    """One RFC 6902 operation (add, remove, replace, test), in place."""
    op, path = operation["op"], operation["path"]
    if op not in {"add", "remove", "replace", "test"} or not path.startswith("/"):
        raise Unsupported(f"JSON patch operation {operation}")
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    parent: Any = document
    for token in parents:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    if isinstance(parent, list):
        if op == "add":
            parent.insert(len(parent) if last == "-" else int(last), operation["value"])
            return
        index = int(last)
        if not 0 <= index < len(parent):
            raise IndexError(f"{path}: no such element")
        key: Any = index
    else:
        key = last
        if op != "add" and key not in parent:
            raise KeyError(f"{path}: no such member")
    if op == "remove":
        del parent[key]
    elif op == "test":
        if parent[key] != operation["value"]:
            raise ValueError(f"test {path}: {parent[key]!r} != {operation['value']!r}")
    else:
        parent[key] = operation["value"]


def set_namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        if resource["kind"] in NAMESPACE_REFERENCES:
            raise Unsupported(f"namespace transformer on a {resource['kind']}")
        if resource["kind"] == "Namespace" and resource["metadata"]["name"] != namespace:
            # kustomize renames such a Namespace (depending on its version): avoid it
            raise Unsupported(f"a Namespace other than {namespace}")
        if resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` -> (name, tag, digest)."""
    rest, _, digest = image.partition("@")
    name, tag = rest, None
    if ":" in rest.rsplit("/", 1)[-1]:
        name, tag = rest.rsplit(":", 1)
    return name, tag, digest or None


def set_image(resources: list[Resource], spec: Mapping[str, str]) -> None:
    """kustomize's ``images``: every container whose image has this name gets the new
    name, tag or digest."""
    if set(spec) - {"name", "newName", "newTag", "digest"}:
        raise Unsupported(f"images entry {spec}")
    for container in containers_anywhere(resources):
        name, tag, digest = split_image(container["image"])
        if name != spec["name"]:
            continue
        name = spec.get("newName", name)
        if "digest" in spec:
            tag, digest = None, spec["digest"]
        elif "newTag" in spec:
            tag, digest = spec["newTag"], None
        container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def containers_anywhere(node: Any) -> Iterator[dict[str, Any]]:
    """Every element of a ``containers`` or ``initContainers`` list, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict) and "image" in c)
            else:
                yield from containers_anywhere(value)
    elif isinstance(node, list):
        for item in node:
            yield from containers_anywhere(item)


# -- what the processes are ----------------------------------------------------------------
@dataclass(frozen=True)
class Process:
    kind: str
    module: str
    host: str
    """Settings field of the address it listens on."""
    ports: tuple[str, ...]
    """Settings fields of every port it listens on."""
    liveness: str
    """Settings field of the port /healthz is probed on (an API's ops port)."""
    readiness: str
    """Settings field of the port /readyz is probed on."""


PROCESSES = {
    "orders-decider": Process(
        "StatefulSet",
        "command_service.decider",
        "decider_host",
        ("decider_port",),
        "decider_port",
        "decider_port",
    ),
    "orders-command-api": Process(
        "Deployment",
        "command_service",
        "command_api_host",
        ("command_api_port", "command_api_ops_port"),
        "command_api_ops_port",
        "command_api_port",
    ),
    "orders-projector": Process(
        "Deployment",
        "projector",
        "projector_host",
        ("projector_port",),
        "projector_port",
        "projector_port",
    ),
    "orders-query-api": Process(
        "Deployment",
        "query_service",
        "query_api_host",
        ("query_api_port", "query_api_ops_port"),
        "query_api_ops_port",
        "query_api_port",
    ),
    "orders-console": Process(
        "Deployment",
        "projector.console",
        "console_host",
        ("console_port",),
        "console_port",
        "console_port",
    ),
}
APIS = {"orders-command-api", "orders-query-api"}
TOKEN_CHECKERS = {*APIS, "orders-console"}
"""The processes that serve bearer-token routes: open to anyone without tokens."""
STRIMZI_BROKER_LABELS = {
    "strimzi.io/cluster": "orders",
    "strimzi.io/kind": "Kafka",
    "strimzi.io/name": "orders-kafka",
    "strimzi.io/pool-name": "dual-role",
    "strimzi.io/broker-role": "true",
    "strimzi.io/controller-role": "true",
}
"""The labels Strimzi puts on a Kafka pod of the pool (its documentation; not rendered)."""


# -- helpers ---------------------------------------------------------------------------
@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def rendered(request: pytest.FixtureRequest) -> list[Resource]:
    return render(K8S / request.param)


def of_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def one(resources: list[Resource], kind: str, name: str) -> Resource:
    found = of_kind(resources, kind)
    assert name in found, f"no {kind} {name}"
    return found[name]


def workloads(resources: list[Resource]) -> dict[str, Resource]:
    return {**of_kind(resources, "Deployment"), **of_kind(resources, "StatefulSet")}


def pod_labels(workload: Resource) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def all_containers(resources: list[Resource]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, workload in workloads(resources).items():
        spec = workload["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield f"{name}/{container['name']}", container


def example_secret() -> dict[str, str]:
    (secret,) = load_yaml(SECRET_EXAMPLE)
    data: dict[str, str] = secret["stringData"]
    return data


def container_env(
    resources: list[Resource], container: Mapping[str, Any], pod_name: str
) -> dict[str, str]:
    """The environment a container gets (the Secret's values from the example)."""
    env: dict[str, str] = {}
    secret = example_secret()
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, source
        env.update(one(resources, "ConfigMap", source["configMapRef"]["name"])["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = var["valueFrom"]
        if "fieldRef" in ref:
            assert ref["fieldRef"]["fieldPath"] == "metadata.name", var
            env[var["name"]] = pod_name
        elif "secretKeyRef" in ref:
            assert ref["secretKeyRef"]["name"] == "orders-secrets", var
            assert not ref["secretKeyRef"].get("optional", False), f"{var['name']} optional"
            env[var["name"]] = secret[ref["secretKeyRef"]["key"]]
        else:
            raise AssertionError(f"unexpected valueFrom in {var}")
    return env


def settings_from(env: Mapping[str, str]) -> Settings:
    """Settings as the process would build them from this environment, and only it."""
    outside = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    with mock.patch.dict(os.environ, {**outside, **env}, clear=True):
        return Settings()


def process_settings(resources: list[Resource], name: str) -> Settings:
    workload = workloads(resources)[name]
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return settings_from(container_env(resources, container, f"{name}-0"))


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) against labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, op, values = expression["key"], expression["operator"], expression.get("values")
        holds = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not holds:
            return False
    return True


def port_number(container: Mapping[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container.get("ports", []) if p["name"] == port]
    assert numbers, f"container {container['name']} has no port named {port}"
    return int(numbers[0])


# -- schemas ---------------------------------------------------------------------------
def strict(schema: Any) -> Any:
    """An OpenAPI schema that refuses unknown fields, as ``kubectl apply`` does (field
    validation Strict, the default since Kubernetes 1.27), unless the schema keeps them."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def strimzi_schemas() -> dict[tuple[str, str], Any]:
    """(apiVersion, kind) -> the served version's schema, for each vendored CRD."""
    schemas = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the Kafka CRD is 600 kB
    for path in sorted(STRIMZI_CRDS.glob("*-Crd-*.yaml")):
        crd = yaml.load(path.read_text(), Loader=loader)  # a safe loader
        spec = crd["spec"]
        for version in spec["versions"]:
            if version["served"]:
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schemas[key] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


@pytest.fixture(scope="module", autouse=True)
def _read_each_kubernetes_schema_once() -> Iterator[None]:
    """kubernetes-validate reads its schema files (megabytes of JSON) again for every
    resource; the validation itself is left as it is."""
    cached = functools.cache(kubernetes_validate.utils.schema_contents)
    with mock.patch.object(kubernetes_validate.utils, "schema_contents", cached):
        yield


# -- the renderer is what it says ------------------------------------------------------
def test_renderer_applies_namespace_images_and_patches(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [app.yaml]\n"
    )
    (base / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n"
        "spec: {replicas: 1, template: {spec: {containers: [{name: c, image: 'app:1'},"
        " {name: d, image: 'reg:5000/other:2'}]}}}\n"
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n"
    )
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "namespace: ns\nresources: [../base]\n"
        "images: [{name: app, newName: r.example/app, newTag: '3'},"
        " {name: reg:5000/other, digest: 'sha256:ab'}]\n"
        "patches:\n- target: {kind: Deployment, name: a}\n  patch: |-\n"
        "    - {op: replace, path: /spec/replicas, value: 4}\n"
        "    - {op: add, path: /metadata/labels, value: {x: y}}\n"
        "    - {op: test, path: /spec/template/spec/containers/0/name, value: c}\n"
    )
    deployment, namespace = render(overlay)
    assert deployment["metadata"] == {"name": "a", "namespace": "ns", "labels": {"x": "y"}}
    assert deployment["spec"]["replicas"] == 4
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == ["r.example/app:3", "reg:5000/other@sha256:ab"]
    assert namespace["metadata"] == {"name": "ns"}


@pytest.mark.parametrize(
    "extra",
    [
        "namePrefix: x-\n",
        "commonLabels: {a: b}\n",
        "configMapGenerator: [{name: c, literals: [a=b]}]\n",
        "patches: [{path: p.yaml}]\n",
        "patches: [{target: {kind: Deployment}, patch: 'spec: {replicas: 2}'}]\n",
        "patches: [{target: {kind: Nothing}, patch: '[]'}]\n",
    ],
)
def test_renderer_refuses_what_it_does_not_implement(tmp_path: Path, extra: str) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + extra
    )
    with pytest.raises((Unsupported, ValueError)):
        render(tmp_path)


# -- schemas -----------------------------------------------------------------------------
def test_every_resource_validates(rendered: list[Resource]) -> None:
    strimzi = strimzi_schemas()
    for resource in rendered:
        name = f"{resource['kind']}/{resource['metadata']['name']}"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", resource["metadata"]["name"])
        if resource["kind"] in STRIMZI_KINDS:
            key = (resource["apiVersion"], resource["kind"])
            assert key in strimzi, f"{name}: {key} is not served by Strimzi {STRIMZI_VERSION}"
            error = jsonschema.exceptions.best_match(
                jsonschema.Draft4Validator(strimzi[key]).iter_errors(resource)
            )
            if error is not None:  # the message only: the schema is hundreds of kB
                pytest.fail(f"{name}: {'.'.join(map(str, error.path))}: {error.message}")
        else:
            try:
                kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")


def test_the_schema_check_catches_a_typo() -> None:
    """The validators above do refuse an unknown field (so a pass means something)."""
    resources = render(K8S / "base")
    broken = copy.deepcopy(one(resources, "KafkaTopic", "orders.events"))
    broken["spec"]["partitons"] = 6
    schema = strimzi_schemas()[("kafka.strimzi.io/v1", "KafkaTopic")]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(broken)
    deployment = copy.deepcopy(one(resources, "Deployment", "orders-projector"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_yaml_means_the_same_in_yaml_1_1_and_1_2() -> None:
    """Kubernetes reads YAML 1.1 in places (``yes``, ``on`` are booleans there): no
    manifest may depend on which one reads it."""
    for path in sorted(K8S.rglob("*.yaml")):
        if "vendor" in path.parts:
            continue
        loaded = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        assert loaded == load_yaml(path), path


def test_vendored_crds_are_the_ones_the_readme_names() -> None:
    readme = (STRIMZI_CRDS / "README.md").read_text()
    assert f"tag `{STRIMZI_VERSION}`" in readme
    listed = dict(re.findall(r"\| `(\d{3}-Crd-\w+\.yaml)` \| \w+ \| `([0-9a-f]{64})` \|", readme))
    found = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in STRIMZI_CRDS.glob("*.yaml")
    }
    assert found == listed
    assert {key[1] for key in strimzi_schemas()} == STRIMZI_KINDS
    assert "Apache License" in (STRIMZI_CRDS / "LICENSE").read_text()


# -- the processes -----------------------------------------------------------------------
def test_the_five_processes_run_from_one_pinned_image(rendered: list[Resource]) -> None:
    found = workloads(rendered)
    assert set(found) == {*PROCESSES, "orders-redis"}
    images = set()
    for name, process in PROCESSES.items():
        assert found[name]["kind"] == process.kind, name
        (container,) = found[name]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", process.module]
        images.add(container["image"])
    assert len(images) == 1, images
    for where, container in all_containers(rendered):
        _, tag, digest = split_image(container["image"])
        assert digest or (tag and tag != "latest"), f"{where}: image {container['image']}"


def test_every_orders_variable_is_a_setting(rendered: list[Resource]) -> None:
    names = {f"ORDERS_{field.upper()}" for field in Settings.model_fields}
    used: set[str] = set()
    for config_map in of_kind(rendered, "ConfigMap").values():
        used |= {k for k in config_map.get("data", {}) if k.startswith("ORDERS_")}
    for _, container in all_containers(rendered):
        used |= {v["name"] for v in container.get("env", []) if v["name"].startswith("ORDERS_")}
        for var in container.get("env", []):
            key = var.get("valueFrom", {}).get("secretKeyRef", {}).get("key", "")
            used |= {key} if key.startswith("ORDERS_") else set()
    used |= set(example_secret())
    assert used - names == set()


def test_each_process_gets_valid_settings_and_listens_where_probed(
    rendered: list[Resource],
) -> None:
    for name, process in PROCESSES.items():
        settings = process_settings(rendered, name)
        assert getattr(settings, process.host) == "0.0.0.0", name
        (container,) = workloads(rendered)[name]["spec"]["template"]["spec"]["containers"]
        declared = {p["containerPort"] for p in container["ports"]}
        assert declared == {getattr(settings, port) for port in process.ports}, name
        live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
        assert live["path"] == "/healthz", name
        assert ready["path"] == "/readyz", name
        assert port_number(container, live["port"]) == getattr(settings, process.liveness)
        assert port_number(container, ready["port"]) == getattr(settings, process.readiness)
        if "startupProbe" in container:
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert settings.state_dir in mounts, f"{name}: ORDERS_STATE_DIR is not a volume"
        assert settings.replication_factor == 3
        assert settings.auth_tokens or name not in TOKEN_CHECKERS, f"{name} would be open"


def test_every_container_has_probes_and_limits(rendered: list[Resource]) -> None:
    for where, container in all_containers(rendered):
        assert "livenessProbe" in container, where
        assert "readinessProbe" in container, where
        resources = container["resources"]
        for bound in ("requests", "limits"):
            assert set(resources[bound]) >= {"cpu", "memory"}, f"{where}: {bound}"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, where


def test_the_decider_is_named_by_its_pod_and_keeps_its_state(rendered: list[Resource]) -> None:
    decider = one(rendered, "StatefulSet", "orders-decider")
    (container,) = decider["spec"]["template"]["spec"]["containers"]
    for ordinal in (0, 4):
        pod = f"orders-decider-{ordinal}"
        settings = settings_from(container_env(rendered, container, pod))
        assert settings.decider_instance_id == pod  # transactional.id, group.instance.id
    claims = {c["metadata"]["name"] for c in decider["spec"]["volumeClaimTemplates"]}
    settings = process_settings(rendered, "orders-decider")
    state = [m for m in container["volumeMounts"] if m["mountPath"] == settings.state_dir]
    assert [m["name"] for m in state] == ["state"]
    assert "state" in claims
    service = one(rendered, "Service", decider["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"


# -- Kafka -----------------------------------------------------------------------------
def test_kafka_is_kraft_with_three_durable_nodes(rendered: list[Resource]) -> None:
    kafka = one(rendered, "Kafka", "orders")
    assert kafka["metadata"]["annotations"] == {
        "strimzi.io/kraft": "enabled",
        "strimzi.io/node-pools": "enabled",
    }
    pools = [
        p
        for p in of_kind(rendered, "KafkaNodePool").values()
        if p["metadata"]["labels"]["strimzi.io/cluster"] == "orders"
    ]
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers == 3
    assert controllers == 3
    for pool in pools:
        assert all(not v.get("deleteClaim") for v in pool["spec"]["storage"]["volumes"])
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["unclean.leader.election.enable"] is False
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2


def test_the_processes_point_at_the_strimzi_bootstrap_and_redis(rendered: list[Resource]) -> None:
    kafka = one(rendered, "Kafka", "orders")
    (plain,) = [x for x in kafka["spec"]["kafka"]["listeners"] if x["name"] == "plain"]
    assert plain["tls"] is False
    assert plain["type"] == "internal"
    redis = one(rendered, "Service", "orders-redis")
    for name in PROCESSES:
        settings = process_settings(rendered, name)
        assert settings.kafka_bootstrap == f"orders-kafka-bootstrap:{plain['port']}"
        assert settings.kafka_security_protocol == "PLAINTEXT"
        host_port = settings.redis_url.removeprefix("redis://").split("/")[0]
        assert host_port == f"orders-redis:{redis['spec']['ports'][0]['port']}"
        assert settings.redis_password is not None


def test_topics_are_the_ones_the_services_create(rendered: list[Resource]) -> None:
    layout = {
        name: (
            s.commands_topic,
            s.events_topic,
            s.dlq_topic,
            s.snapshots_topic,
            s.audit_topic,
            s.partitions,
        )
        for name, s in ((n, process_settings(rendered, n)) for n in PROCESSES)
    }
    assert len(set(layout.values())) == 1, layout  # every process sees the same topics
    settings = process_settings(rendered, "orders-decider")
    assert settings.partitions == Settings.model_fields["partitions"].default
    topics = {t["spec"]["topicName"]: t for t in of_kind(rendered, "KafkaTopic").values()}
    audit = audit_topic_spec(settings)
    expected = {
        settings.commands_topic: {},
        **{name: spec["configs"] for name, spec in topic_specs(settings).items()},
        settings.snapshots_topic: snapshots.TOPIC_CONFIGS,
        **{name: spec["configs"] for name, spec in audit.items()},
    }
    # The audit trail is read in order from one partition (the console refuses another
    # count); every other topic has ORDERS_PARTITIONS.
    partitions = {name: spec["num_partitions"] for name, spec in audit.items()}
    assert partitions == {settings.audit_topic: 1}
    assert set(topics) == set(expected)
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "orders"
        assert topic["spec"]["replicas"] == 3 == settings.replication_factor
        assert topic["spec"]["partitions"] == partitions.get(name, settings.partitions), name
        config = {k: str(v) for k, v in topic["spec"]["config"].items()}
        assert config == {k: str(v) for k, v in expected[name].items()}, name
    assert topics[settings.events_topic]["spec"]["config"]["retention.ms"] == -1
    assert topics[settings.audit_topic]["spec"]["config"]["retention.ms"] == -1


# -- Redis -----------------------------------------------------------------------------
def test_redis_persists_its_append_only_file(rendered: list[Resource]) -> None:
    redis = one(rendered, "StatefulSet", "orders-redis")
    conf = one(rendered, "ConfigMap", "orders-redis")["data"]["redis.conf"]
    directives = dict(
        line.split(None, 1)
        for line in conf.splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert directives["appendonly"] == "yes"
    assert directives["maxmemory-policy"] == "noeviction"
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    claims = {c["metadata"]["name"] for c in redis["spec"]["volumeClaimTemplates"]}
    data = [m["name"] for m in container["volumeMounts"] if m["mountPath"] == directives["dir"]]
    assert data
    assert data[0] in claims
    assert redis["spec"]["replicas"] == 1


# -- scaling and disruption ----------------------------------------------------------
def test_the_apis_autoscale_and_the_consumers_fit_the_partitions(
    rendered: list[Resource],
) -> None:
    hpas = of_kind(rendered, "HorizontalPodAutoscaler")
    targets = {h["spec"]["scaleTargetRef"]["name"]: h for h in hpas.values()}
    assert set(targets) == APIS
    for name, hpa in targets.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], name
    partitions = process_settings(rendered, "orders-decider").partitions
    for name in ("orders-decider", "orders-projector"):
        assert 2 <= workloads(rendered)[name]["spec"]["replicas"] <= partitions, name


def test_there_is_one_console_and_never_two(rendered: list[Resource]) -> None:
    """Its jobs run one at a time by a lock in its memory: two consoles could run two
    rebuilds at once. One replica, no surge pod during an update, no autoscaler."""
    console = one(rendered, "Deployment", "orders-console")
    assert console["spec"]["replicas"] == 1
    assert console["spec"]["strategy"] == {"type": "Recreate"}
    hpas = of_kind(rendered, "HorizontalPodAutoscaler").values()
    assert "orders-console" not in {h["spec"]["scaleTargetRef"]["name"] for h in hpas}


def test_every_process_has_a_disruption_budget(rendered: list[Resource]) -> None:
    found = workloads(rendered)
    for name in PROCESSES:
        budgets = [
            b
            for b in of_kind(rendered, "PodDisruptionBudget").values()
            if selects(b["spec"]["selector"], pod_labels(found[name]))
        ]
        assert len(budgets) == 1, name
        selected = [
            w for w in found.values() if selects(budgets[0]["spec"]["selector"], pod_labels(w))
        ]
        assert selected == [found[name]]


def test_services_select_pods_on_declared_ports(rendered: list[Resource]) -> None:
    found = workloads(rendered)
    for name, service in of_kind(rendered, "Service").items():
        pods = [
            w
            for w in found.values()
            if selects({"matchLabels": service["spec"]["selector"]}, pod_labels(w))
        ]
        assert len(pods) == 1, name
        (container,) = pods[0]["spec"]["template"]["spec"]["containers"]
        for port in service["spec"]["ports"]:
            port_number(container, port["targetPort"])
        assert found[name] is pods[0]


# -- the console's peers -------------------------------------------------------------
def test_the_console_reads_the_query_api_service(rendered: list[Resource]) -> None:
    settings = process_settings(rendered, "orders-console")
    url = urllib.parse.urlsplit(settings.console_query_api_url)
    assert (url.scheme, url.path, url.query) == ("http", "", "")
    service = one(rendered, "Service", str(url.hostname))
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == url.port]
    # The Service is the query API's, and its port leads to the port the API listens on.
    query_api = workloads(rendered)["orders-query-api"]
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(query_api))
    (container,) = query_api["spec"]["template"]["spec"]["containers"]
    listens = process_settings(rendered, "orders-query-api").query_api_port
    assert port_number(container, port["targetPort"]) == listens


def test_the_console_sees_every_decider_by_its_pod_name(rendered: list[Resource]) -> None:
    """One base URL (the console adds /readyz) per pod of the StatefulSet, by the pod's
    name under its headless Service, on the port the decider serves /readyz on: a list
    that agrees with ``replicas`` in every kustomization."""
    decider = one(rendered, "StatefulSet", "orders-decider")
    service = one(rendered, "Service", decider["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    # A catching-up decider is not ready: its name must resolve all the same.
    assert service["spec"]["publishNotReadyAddresses"] is True
    port = process_settings(rendered, "orders-decider").decider_port
    (container,) = decider["spec"]["template"]["spec"]["containers"]
    assert port_number(container, container["readinessProbe"]["httpGet"]["port"]) == port
    name, governing = decider["metadata"]["name"], service["metadata"]["name"]
    expected = [
        f"http://{name}-{ordinal}.{governing}:{port}"
        for ordinal in range(decider["spec"]["replicas"])
    ]
    assert process_settings(rendered, "orders-console").console_decider_urls == expected


# -- secrets -----------------------------------------------------------------------------
def test_no_secret_is_in_the_manifests(rendered: list[Resource]) -> None:
    assert of_kind(rendered, "Secret") == {}
    secretish = re.compile(r"TOKEN|PASSWORD|SECRET|AUTH")
    for where, container in all_containers(rendered):
        for var in container.get("env", []):
            if secretish.search(var["name"]):
                assert "secretKeyRef" in var.get("valueFrom", {}), f"{where}: {var['name']}"
    for config_map in of_kind(rendered, "ConfigMap").values():
        assert not any(secretish.search(k) for k in config_map.get("data", {}))


def test_the_secret_example_holds_only_placeholders() -> None:
    (secret,) = load_yaml(SECRET_EXAMPLE)
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    assert "data" not in secret
    settings = settings_from(secret["stringData"])
    tokens = [t.get_secret_value() for ts in settings.auth_tokens.values() for t in ts]
    assert set(settings.auth_tokens) == {"writer", "reader", "admin"}
    assert settings.redis_password is not None
    for value in [*tokens, settings.redis_password.get_secret_value()]:
        assert value.startswith("CHANGE-ME-"), value


# -- network policies ------------------------------------------------------------------
@dataclass(frozen=True)
class Peer:
    """Who opens a connection: a pod (its namespace's and its own labels) or, with no pod
    labels, an address outside the cluster."""

    namespace: Mapping[str, str]
    pod: Mapping[str, str] | None


def admits(
    policies: list[Resource], namespace: str, target: Mapping[str, str], source: Peer, port: int
) -> bool:
    """Whether the NetworkPolicies of ``namespace`` let ``source`` reach ``port`` of a pod
    labelled ``target`` (isolated by any policy selecting it; allowed by any rule)."""
    selecting = [
        p
        for p in policies
        if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], target)
    ]
    if not selecting:
        return True
    same_namespace = source.namespace.get("kubernetes.io/metadata.name") == namespace
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            if "ports" in rule and port not in {p["port"] for p in rule["ports"]}:
                continue
            if "from" not in rule:
                return True
            for peer in rule["from"]:
                if "ipBlock" in peer:
                    if source.pod is None:
                        return True
                    continue
                if source.pod is None:
                    continue
                namespaces = peer.get("namespaceSelector")
                if namespaces is None and not same_namespace:
                    continue
                if namespaces is not None and not selects(namespaces, source.namespace):
                    continue
                if selects(peer.get("podSelector", {}), source.pod):
                    return True
    return False


def test_only_the_apis_are_reachable_from_outside(rendered: list[Resource]) -> None:
    """Not the console either: it is reached with ``kubectl port-forward``."""
    config = one(rendered, "ConfigMap", "orders-config")
    namespace = config["metadata"].get("namespace", "default")
    policies = list(of_kind(rendered, "NetworkPolicy").values())
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies)
    inside = {"kubernetes.io/metadata.name": namespace}
    elsewhere = {"kubernetes.io/metadata.name": "elsewhere"}
    operator = Peer(
        {"kubernetes.io/metadata.name": "strimzi"}, {"strimzi.io/kind": "cluster-operator"}
    )
    found = workloads(rendered)
    app = {name: pod_labels(found[name]) for name in PROCESSES}
    redis = pod_labels(found["orders-redis"])
    outsiders = [Peer(elsewhere, {}), Peer({}, None), Peer(inside, {"some": "pod"})]
    ports = {8001, 8002, 8003, 8004, 8005, 8011, 8012, 6379, 9090, 9091, 9092, 8443}
    for name, labels in [*app.items(), ("orders-redis", redis), ("kafka", STRIMZI_BROKER_LABELS)]:
        for source in outsiders:
            open_ports = {p for p in ports if admits(policies, namespace, labels, source, p)}
            expected = {"orders-command-api": {8001}, "orders-query-api": {8002}}.get(name, set())
            assert open_ports == expected, f"{name} from {source}: {open_ports}"
    for name, labels in app.items():
        me = Peer(inside, labels)
        assert admits(policies, namespace, redis, me, 6379), name
        assert admits(policies, namespace, STRIMZI_BROKER_LABELS, me, 9092), name
        # The deciders' health port: for the console's Operations page, for no one else.
        reaches_deciders = admits(policies, namespace, app["orders-decider"], me, 8004)
        assert reaches_deciders == (name == "orders-console"), name
    console = Peer(inside, app["orders-console"])
    assert admits(policies, namespace, app["orders-query-api"], console, 8002)
    for port in (9090, 9091, 8443):
        assert admits(policies, namespace, STRIMZI_BROKER_LABELS, operator, port)
        assert admits(
            policies, namespace, STRIMZI_BROKER_LABELS, Peer(inside, STRIMZI_BROKER_LABELS), port
        )
