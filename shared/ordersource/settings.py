"""The one Settings class: every knob comes from ``ORDERS_*`` environment variables.

Built once at process start-up (``Settings()``) and passed down; nothing reads the
environment at import time. Each field's docstring is its documentation:
docs/configuration.md is generated from this class (``make docs``) and a test fails when
the two differ.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ordersource.auth import RoleName


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDERS_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, comma-separated ``host:port``."""
    commands_topic: str = "orders.commands"
    """Topic the command API appends commands to (key = order id)."""
    events_topic: str = "orders.events"
    """The event log: the single source of truth (key = order id, kept forever)."""
    dlq_topic: str = "orders.events.dlq"
    """Dead letters: event records the projector could not read, with the reason."""
    audit_topic: str = "orders.audit"
    """The operators' audit trail: one record per console action (who, what, outcome),
    kept forever."""
    snapshots_topic: str = "orders.decider-snapshots"
    """Compacted topic of the deciders' state snapshots (a cache of the event log's fold,
    one per partition, in the partition of the same number)."""
    partitions: int = Field(default=6, ge=1, le=1024)
    """Partitions of the commands and the events topic (always the same number)."""
    replication_factor: int = Field(default=1, ge=1)
    """Replication factor of the topics the services create when they are missing."""
    decider_group: str = "orders-decider"
    """Consumer group of the deciders: one owner per command partition."""
    decider_transaction_timeout_ms: int = Field(default=10000, ge=1000)
    """Bound on how long a dead decider's open transaction holds read_committed readers
    back; a writer still in one transaction after it is replaced."""
    decider_instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    """Names this decider: its transactional producer (``<group>-<id>``), its static group
    membership (``group.instance.id``) and its state directory. Unique among the live
    deciders and the same across restarts of one, so a restarted decider fences its
    predecessor and takes its partitions back at once. Default:
    ``<hostname>-<ORDERS_DECIDER_PORT>``."""
    decider_session_timeout_ms: int = Field(default=10000, ge=6000)
    """How soon a silent (crashed, or stopped: static members do not leave the group)
    decider's partitions are given to another one, unless it comes back first."""
    decider_dedup_window: int = Field(default=100_000, ge=1000)
    """Per partition, how many of the most recent commands the decider remembers (on
    disk) to answer a retry with the original result (beyond that, the Idempotency-Key's
    Redis record)."""
    decider_snapshot_every_events: int = Field(default=100_000, ge=100)
    """A partition's state is snapshotted to Kafka after this many new events..."""
    decider_snapshot_every_s: float = Field(default=300.0, ge=1.0)
    """...or this long after the last snapshot if anything changed, whichever comes first."""
    decider_undelivered_verdicts_max: int = Field(default=100_000, ge=1000)
    """How many verdicts the decider keeps for delivery while Redis is away (about 400
    bytes each); beyond it the oldest are dropped. Each is kept at most its TTL
    (``ORDERS_COMMAND_RESULT_TTL_S``)."""
    decider_max_poll_interval_ms: int = Field(default=60000, ge=1000)
    """How long a decider may be stuck (GC pause, slow disk) before it loses its partitions."""
    projector_group: str = "orders-projector"
    """Consumer group of the projectors; ``<group>-dlq`` marks handled dead letters."""

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How every Kafka client connects."""
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """SASL mechanism, with ``SASL_PLAINTEXT`` or ``SASL_SSL``."""
    kafka_sasl_username: str | None = None
    """SASL user name."""
    kafka_sasl_password: SecretStr | None = None
    """SASL password (never logged)."""
    kafka_ssl_cafile: str | None = None
    """CA bundle (PEM file) to verify the brokers' certificates."""
    kafka_ssl_certfile: str | None = None
    """Client certificate (PEM file) for mutual TLS."""
    kafka_ssl_keyfile: str | None = None
    """Private key (PEM file) of the client certificate."""

    # Redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis holding the read views, verdicts and idempotency records (``rediss://`` for TLS)."""
    redis_username: str | None = None
    """Redis ACL user (instead of, or as well as, one in the URL)."""
    redis_password: SecretStr | None = None
    """Redis password (never logged)."""
    redis_ssl_ca_certs: str | None = None
    """CA bundle (PEM file) to verify Redis's certificate with ``rediss://``."""

    # HTTP services
    command_api_host: str = "127.0.0.1"
    """Address the command API listens on."""
    command_api_port: int = 8001
    """Port of the command API."""
    query_api_host: str = "127.0.0.1"
    """Address the query API listens on."""
    query_api_port: int = 8002
    """Port of the query API."""
    command_api_ops_port: int = Field(default=8011, ge=0, le=65535)
    """The command API's ops port: ``/healthz`` answered by a small process of its own,
    prompt however loaded the API is, and ``/metrics`` relayed from the API (``0``: none)."""
    query_api_ops_port: int = Field(default=8012, ge=0, le=65535)
    """The query API's ops port: ``/healthz`` answered by a small process of its own,
    prompt however loaded the API is, and ``/metrics`` relayed from the API (``0``: none)."""
    projector_host: str = "127.0.0.1"
    """Address of the projector's health and metrics endpoints."""
    projector_port: int = 8003
    """Port of the projector's health and metrics endpoints."""
    decider_host: str = "127.0.0.1"
    """Address of the decider's health and metrics endpoints."""
    decider_port: int = 8004
    """Port of the decider's health and metrics endpoints."""
    console_host: str = "127.0.0.1"
    """Address the operator's console listens on."""
    console_port: int = 8005
    """Port of the operator's console (``/console/``)."""
    console_query_api_url: str = "http://127.0.0.1:8002"
    """The query API the console reads orders and projection reports through (with the
    browser's own bearer token)."""
    console_decider_urls: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8004"], max_length=64
    )
    """The deciders' health endpoints the console shows, as a JSON list."""

    # Behaviour
    command_wait_ms: int = Field(default=5000, ge=0, le=60000)
    """How long the command API waits for the decider's verdict before answering 202."""
    command_send_timeout_ms: int = Field(default=5000, ge=100)
    """How long the command API tries to append a command before answering 503."""
    command_result_ttl_s: int = Field(default=86400, ge=60)
    """How long a verdict stays readable at ``GET /commands/{command_id}``."""
    idempotency_ttl_s: int = Field(default=86400, ge=60)
    """How long Redis remembers an Idempotency-Key's request fingerprint (same key, other
    body: 422)."""
    max_body_bytes: int = 64 * 1024
    """Largest request body the command API reads; a larger one is a 413."""
    command_api_max_in_flight: int = Field(default=256, ge=1)
    """Requests the command API works on at once, per process; one more is refused at once
    with 503 Overloaded and ``Retry-After`` (never sent to the log: safe to retry).
    ``/healthz``, ``/readyz`` and ``/metrics`` are not counted."""
    query_api_max_in_flight: int = Field(default=256, ge=1)
    """Requests the query API works on at once, per process; one more is refused at once
    with 503 Overloaded and ``Retry-After``. ``/healthz``, ``/readyz`` and ``/metrics`` are
    not counted."""
    overload_retry_after_s: int = Field(default=1, ge=1)
    """``Retry-After`` (seconds) of both APIs' 503 Overloaded answers."""
    overload_max_loop_lag_ms: int = Field(default=50, ge=1)
    """Both APIs also refuse new requests (503 Overloaded) while their event loop runs
    later than this: the CPU, not the in-flight bound, is the limit then."""
    projector_batch_size: int = Field(default=500, ge=1)
    """Most events the projector applies in one Redis commit."""
    projector_batch_window_s: float = Field(default=0.02, gt=0)
    """Longest the projector waits to fill a batch before it applies what it has."""
    replay_abandoned_after_s: float = Field(default=120.0, ge=1)
    """A generation a replay was building whose heartbeat is this old (its replay was
    killed) is dropped by the next replay. Far longer than a replay's beat (every 5 s, or
    a quarter of this if less) and than a broker restart."""
    state_dir: str = ".state/run"
    """Where processes keep local data: the decider's state (one SQLite file per partition,
    a cache of the log), Faust's table store, pid files."""
    log_level: str = "INFO"
    """Log level of every process (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``)."""
    log_format: Literal["text", "json"] = "text"
    """``text``: one human-readable line per record; ``json``: one JSON object per line,
    with ``order_id``, ``command_id`` and ``trace_id`` on the lines about a command."""

    # Tracing (OpenTelemetry)
    tracing: Literal["off", "console", "otlp", "file"] = "off"
    """Where spans go: ``off`` (no spans, no ``traceparent`` headers on the records),
    ``console`` (stdout), ``otlp`` (OTLP/HTTP to ``ORDERS_TRACING_OTLP_ENDPOINT``) or
    ``file`` (JSON lines appended to ``ORDERS_TRACING_FILE``)."""
    tracing_otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    """The OTLP/HTTP traces endpoint of the collector, with ``ORDERS_TRACING=otlp``."""
    tracing_file: str = ".state/run/spans-{service}.jsonl"
    """With ``ORDERS_TRACING=file``: the file each process appends its spans to, one JSON
    object per line; ``{service}`` is replaced by the process's name."""
    tracing_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of the traces that start in this process which are recorded; a trace begun
    upstream (a ``traceparent`` with the sampled flag) follows its parent's choice."""

    # Access control: bearer tokens per role. Empty = the APIs are open (local use only).
    auth_tokens: dict[RoleName, list[SecretStr]] = Field(default_factory=dict)
    """Bearer tokens per role as JSON, e.g. ``{"writer": ["t1"], "reader": ["t2"],
    "admin": ["t3"]}``; empty: the APIs are open (local experiments only)."""
