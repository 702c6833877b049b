"""Fixtures the sync tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.agent import AgentDevice


@pytest.fixture
def devices() -> Iterator[list[AgentDevice]]:
    """Provisioned devices a test makes; their agents and processes stop at teardown."""
    made: list[AgentDevice] = []
    yield made
    for d in made:
        d.close()
