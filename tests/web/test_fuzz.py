"""Schemathesis against the app's own OpenAPI spec: no input makes the server answer 5xx.

Bounded: at most ``MAX_EXAMPLES`` generated requests per operation, with low cost caps so
that any valid scenario it finds is simulated in a fraction of a second and background runs
are refused or tiny.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from ketasim.web import Settings, create_app

MAX_EXAMPLES = int(os.environ.get("KETASIM_FUZZ_EXAMPLES", "25"))

_app = create_app(Settings(data_dir=tempfile.mkdtemp(prefix="ketasim-fuzz-"), rate_limit=0, max_sim_cost=3_000,
                           max_run_cost=200, run_workers=1))
schema = schemathesis.openapi.from_asgi("/api/openapi.json", _app)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error])
