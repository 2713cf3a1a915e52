"""Every operation of ``GET /v2/openapi.json``, exercised by schemathesis against a running
Layer over a demo emulator: valid and invalid input (wrong types, out-of-range numbers,
strings outside the patterns), checked for no 5xx, documented status codes and responses
that match their schemas.

The emulator is this test's own demo instance, not the session one: the fuzzer writes
through ``POST /v2/namespaces/{ns}`` and must not change the data other tests count.
The seed is fixed so a CI run is reproducible; ``LAYER_SCHEMATHESIS_SEED`` picks another.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from emulator.server import EmulatorServer

KEY = "schemathesis-admin-key"
MAX_EXAMPLES = int(os.environ.get("LAYER_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def layer_schema(
    emulator_factory: Callable[..., EmulatorServer], backend_factory: Callable[..., Any]
) -> Any:
    upstream = emulator_factory(demo=True, index_lag_ms=300)
    layer = backend_factory(upstream.url, api_keys=(KEY,), list_cache_ttl_ms=0)
    config = schemathesis.Config.from_dict(
        {
            "seed": int(os.environ.get("LAYER_SCHEMATHESIS_SEED", "20261123")),
            "base-url": layer.url,
            "headers": {"Authorization": f"Bearer {KEY}"},
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "request-timeout": 20,
        }
    )
    return schemathesis.openapi.from_url(
        f"{layer.url}/v2/openapi.json",
        config=config,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
    )


schema = schemathesis.pytest.from_fixture("layer_schema")


@pytest.mark.timeout(240)
@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    max_examples=MAX_EXAMPLES,
)
def test_every_operation_conforms(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
