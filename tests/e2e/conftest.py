"""Shared end-to-end fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.mock_api import MockAlertsApi
from tests.e2e.harness import APP_KEY, TOKEN


@pytest.fixture
def api() -> Iterator[MockAlertsApi]:
    """The Alerts API double on 127.0.0.1 accepting the harness's token and app key."""
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY]) as server:
        yield server
