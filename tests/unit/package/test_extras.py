"""A call that needs a missing extra says which extra to install."""

from __future__ import annotations

import logging

import pytest

import loan_desk_telemetry
from loan_desk_telemetry import _extras, _telemetry


def test_a_missing_module_names_the_extra_and_the_distribution() -> None:
    with pytest.raises(ModuleNotFoundError) as caught:
        _extras.require("no_such_module_here", extra="sqlalchemy", needed_by="instrument_x")
    assert str(caught.value) == (
        "instrument_x needs the 'sqlalchemy' extra (no_such_module_here is not installed): "
        "pip install 'loan-desk-telemetry[sqlalchemy]'"
    )
    assert caught.value.name == "no_such_module_here"


def test_an_installed_module_is_returned() -> None:
    assert _extras.require("logging", extra="x", needed_by="y") is logging


def test_instrument_sqlalchemy_without_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = _extras.importlib.import_module

    def without_sqlalchemy_instrumentation(name: str) -> object:
        if name.startswith("opentelemetry.instrumentation.sqlalchemy"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name)

    monkeypatch.setattr(_extras.importlib, "import_module", without_sqlalchemy_instrumentation)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"loan-desk-telemetry\[sqlalchemy\]"):
        loan_desk_telemetry.instrument_sqlalchemy(object())


def test_httpx_without_its_instrumentation_is_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        _telemetry, "available", lambda module: module == "httpx"
    )  # httpx installed, its instrumentation not
    telemetry = _telemetry.Telemetry(
        service_name="svc",
        service_version="1",
        enabled=True,
        tracer_provider=None,
        logger_provider=None,
        log_handler=None,
        owns_globals=False,
    )
    with caplog.at_level(logging.WARNING, logger="loan_desk_telemetry.telemetry"):
        _telemetry._instrument_httpx_globally(telemetry, tracer_provider=None)
    assert [r.getMessage() for r in caplog.records] == [
        "httpx is installed but not traced: install the 'httpx' extra "
        "(pip install 'loan-desk-telemetry[httpx]') for client spans and trace propagation"
    ]
    assert telemetry._instrumented_httpx is False


def test_without_httpx_nothing_is_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_telemetry, "available", lambda module: False)
    telemetry = _telemetry.Telemetry(
        service_name="svc",
        service_version="1",
        enabled=True,
        tracer_provider=None,
        logger_provider=None,
        log_handler=None,
        owns_globals=False,
    )
    with caplog.at_level(logging.DEBUG, logger="loan_desk_telemetry.telemetry"):
        _telemetry._instrument_httpx_globally(telemetry, tracer_provider=None)
    assert caplog.records == []
    assert telemetry._instrumented_httpx is False
