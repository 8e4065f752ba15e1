"""The one connection factory: every Kafka and Redis client of every process and of the
``orders`` CLI is built from here, so TLS, SASL, Redis ACL users, timeouts and reconnect
caps are configured once (``ORDERS_KAFKA_*``, ``ORDERS_REDIS_*``).

kafka-python clients take ``kafka_options``; aiokafka clients (Faust's consumer and the
replay reader) take ``aiokafka_options``; Redis clients come from ``redis_client`` /
``async_redis_client`` (or take ``redis_options`` for a pool of their own). The client
libraries are imported where a client is built, so importing this module costs nothing.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from ordersource.settings import Settings

if TYPE_CHECKING:
    import redis
    import redis.asyncio


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


class NetworkClients:
    """A ``kafka_client=`` factory for kafka-python clients that remembers the network
    clients it made, so that ``close()`` can end them when a client's constructor fails:
    kafka-python starts a network client's IO thread before it bootstraps, and a failed
    start would leave that thread and its sockets behind, once per retry
    (docs/internals.md)."""

    def __init__(self) -> None:
        self.made: list[Any] = []

    def __call__(self, **config: Any) -> Any:
        from kafka.net.compat import KafkaNetClient

        self.made.append(KafkaNetClient(**config))
        return self.made[-1]

    def close(self) -> None:
        for client in self.made:
            client.close()


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


def redis_client(settings: Settings, *, timeout_s: float = 5.0) -> redis.Redis:
    """A blocking Redis client (the decider, the CLI); replies are bytes."""
    import redis

    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        **redis_options(settings),
    )


def async_redis_client(settings: Settings, *, timeout_s: float = 5.0) -> redis.asyncio.Redis:
    """An asyncio Redis client (the projector, replays); replies are bytes."""
    import redis.asyncio

    return redis.asyncio.Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        **redis_options(settings),
    )


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for Kafka clients that take one (aiokafka, Faust), or None."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    return context


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka clients: the same security as ``kafka_options``."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
        # aiokafka reconnects after retry_backoff_ms (100 ms by default) without growing.
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for the Faust app (it hands them to aiokafka), or None."""
    import faust

    context = ssl_context(settings)
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password is not None else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None
