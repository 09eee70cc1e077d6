"""Project-wide pytest policy: a skipped test is a failure.

CI runs on a clean clone; a test that needs something missing must fail loudly, never skip
silently. Set KETASIM_ALLOW_SKIP=1 locally if you really want skips.
"""

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and not hasattr(rep, "wasxfail") and os.environ.get("KETASIM_ALLOW_SKIP") != "1":
        rep.outcome = "failed"
        rep.longrepr = f"skipped tests are not allowed (see conftest.py): {rep.longrepr}"
