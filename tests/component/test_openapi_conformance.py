"""Schemathesis against both OpenAPI specs, on a budget: generated requests (valid and
invalid) never get a 5xx, and every response conforms to the documented schema.

The services run with bearer tokens, as `make run` runs them, and the requests carry one;
schemathesis also checks that a request without it is refused (the documents declare
bearer auth)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from query_service.orders import MAX_WAIT_MS

pytestmark = pytest.mark.component

BUDGET = int(os.environ.get("ORDERS_FUZZ_EXAMPLES", "25"))
TOKENS = {"writer": ["writer-token"], "reader": ["reader-token"]}
AUTH = {"ORDERS_AUTH_TOKENS": json.dumps(TOKENS)}
# A read-your-writes read may legally wait MAX_WAIT_MS; schemathesis's own default read
# timeout (10 s) equals it, which made a generated `wait_ms` near the cap time out.
TIMEOUT_S = MAX_WAIT_MS / 1000 + 10


def exercise(base_url: str, token: str) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    results: list[Any] = list(schema.get_all_operations())
    for result in results:
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=BUDGET,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # "Schema-valid data must be accepted" is left out: some rules cannot be said
            # in JSON Schema (a sku at most once per order; the lifecycle's own rules).
            case.call_and_validate(
                base_url=base_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=TIMEOUT_S,
                excluded_checks=[positive_data_acceptance],
            )

        try:
            check()
        except Exception as failure:  # collect all operations' failures, then report
            inner = getattr(failure, "exceptions", ())  # e.g. Hypothesis's FlakyFailure
            details = "".join(f"\n  - {type(e).__name__}: {e}" for e in inner)
            failures.append(f"{operation.label}: {failure}{details}")
    assert failures == [], "\n\n".join(failures)


def test_command_api_conforms_to_its_openapi(services: Any) -> None:
    services("decider", env=AUTH)
    exercise(services("command-api", env=AUTH).url(), "writer-token")


def test_query_api_conforms_to_its_openapi(services: Any) -> None:
    exercise(services("query-api", env=AUTH).url(), "reader-token")
