"""Every observability unit test starts and ends with clean logging and structlog state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loan_desk_telemetry.testing import reset_global_state


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    reset_global_state()
    yield
    reset_global_state()
