"""The one Settings class: every knob comes from ``ORDERS_*`` environment variables.

Built once at process start-up (``Settings()``) and passed down; nothing reads the
environment at import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ordersource.auth import RoleName


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", frozen=True)

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    commands_topic: str = "orders.commands"
    events_topic: str = "orders.events"
    dlq_topic: str = "orders.events.dlq"
    partitions: int = Field(default=6, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1)
    decider_group: str = "orders-decider"
    decider_transaction_timeout_ms: int = Field(default=10000, ge=1000)
    decider_session_timeout_ms: int = Field(default=10000, ge=6000)
    """How soon a silent (crashed) decider's partitions are given to another one."""
    decider_dedup_window: int = Field(default=100_000, ge=1000)
    """Per partition, how many of the most recent commands the decider remembers to answer
    a retry with the original result (beyond that, the Idempotency-Key's Redis record)."""
    decider_max_poll_interval_ms: int = Field(default=60000, ge=1000)
    """How long a decider may be stuck (GC pause, slow disk) before it loses its partitions."""
    projector_group: str = "orders-projector"

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None

    # Redis (``rediss://`` for TLS); a password or ACL user may also be given separately
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_ssl_ca_certs: str | None = None

    # HTTP services
    command_api_host: str = "127.0.0.1"
    command_api_port: int = 8001
    query_api_host: str = "127.0.0.1"
    query_api_port: int = 8002
    projector_host: str = "127.0.0.1"
    projector_port: int = 8003
    decider_host: str = "127.0.0.1"
    decider_port: int = 8004

    # Behaviour
    command_wait_ms: int = Field(default=5000, ge=0, le=60000)
    """How long the command API waits for the decider's verdict before answering 202."""
    command_send_timeout_ms: int = Field(default=5000, ge=100)
    """How long the command API tries to append a command before answering 503."""
    command_result_ttl_s: int = Field(default=86400, ge=60)
    idempotency_ttl_s: int = Field(default=86400, ge=60)
    max_body_bytes: int = 64 * 1024
    projector_batch_size: int = Field(default=500, ge=1)
    projector_batch_window_s: float = Field(default=0.02, gt=0)
    state_dir: str = ".state/run"
    """Where processes keep local scratch data (Faust's table store, pid files)."""
    log_level: str = "INFO"

    # Access control: bearer tokens per role. Empty = the APIs are open (local use only).
    auth_tokens: dict[RoleName, list[SecretStr]] = Field(default_factory=dict)
    """JSON, e.g. ``{"writer": ["t1"], "reader": ["t2"], "admin": ["t3"]}``."""
