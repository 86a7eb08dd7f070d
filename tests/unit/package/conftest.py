"""Every observability unit test starts and ends with clean logging and structlog state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loan_desk_telemetry._semconv import SEMCONV_OPT_IN
from loan_desk_telemetry.testing import reset_global_state


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    reset_global_state()
    yield
    reset_global_state()


@pytest.fixture
def contrib_semconv_read_as_the_services_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contrib reads the semconv opt-in once per process (test_upstream_pins.py): let it read
    the services' value before a test sets up an instrumentation under another one, so no later
    test in this process sees another mode."""
    from opentelemetry.instrumentation._semconv import (
        _OpenTelemetrySemanticConventionStability as Stability,
    )

    with monkeypatch.context() as patch:
        patch.setenv(SEMCONV_OPT_IN, "http")
        Stability._initialize()
