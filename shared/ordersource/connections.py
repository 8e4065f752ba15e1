"""Connection options for Kafka and Redis clients, from the one Settings object.

Every client in the project takes its security options from here, so TLS, SASL and
Redis ACL users are configured once (``ORDERS_KAFKA_*``, ``ORDERS_REDIS_*``).
"""

from __future__ import annotations

from typing import Any

from ordersource.settings import Settings


def kafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python clients (producer, consumer, admin)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
        # kafka-python backs off reconnects exponentially up to 30 s; after a broker
        # restart that left the write path waiting long after the broker was back. The
        # Java client's ceiling (1 s) costs nothing on loopback or in a data centre.
        "reconnect_backoff_max_ms": 1000,
    }
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(settings, f"kafka_{name}")
        if value:
            options[name] = value
    return options


def redis_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url`` (sync or asyncio) besides the URL."""
    options: dict[str, Any] = {}
    if settings.redis_username:
        options["username"] = settings.redis_username
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_ssl_ca_certs:
        options["ssl_ca_certs"] = settings.redis_ssl_ca_certs
    return options
