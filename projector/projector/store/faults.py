"""Which Redis errors a record may cause, and which are Redis failing for now.

The projection's retry (``projector.core.retry``) gives an error that may be a record's
a bounded number of attempts before it looks for the record, and retries everything
else for ever. Only this module knows redis-py's exception classes and Redis's error
codes; the core asks it through ``StoreFaults``.
"""

from __future__ import annotations

from redis.exceptions import (
    BusyLoadingError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)

# Redis refusing for now, whatever the data: retried for ever, never blamed on a record.
_FOR_NOW = (OutOfMemoryError, ReadOnlyError, BusyLoadingError, NoScriptError)
_FOR_NOW_CODES = {
    "OOM", "READONLY", "LOADING", "BUSY", "MASTERDOWN", "NOREPLICAS", "MISCONF",
    "TRYAGAIN", "CLUSTERDOWN", "NOSCRIPT", "NOAUTH", "NOPERM", "WRONGPASS", "MOVED", "ASK",
}  # fmt: skip


class RedisFaults:
    def about_data(self, exc: BaseException) -> bool | None:
        if isinstance(exc, ResponseError):  # Redis answered, and refused
            if isinstance(exc, _FOR_NOW):
                return False
            return str(exc).split(" ", 1)[0].upper() not in _FOR_NOW_CODES
        if isinstance(exc, RedisError):  # not answering, timing out: for now
            return False
        return None

    def expected(self, exc: BaseException) -> bool:
        return isinstance(exc, RedisError)


REDIS_FAULTS = RedisFaults()
