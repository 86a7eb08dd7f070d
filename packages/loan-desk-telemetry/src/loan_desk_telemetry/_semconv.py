"""The one process setting the package needs: stable HTTP semantic conventions.

The contrib instrumentations name their HTTP attributes after ``OTEL_SEMCONV_STABILITY_OPT_IN``:
unset, the old names (``http.method``, ``http.status_code``, ``http.target``); ``http``, the
stable ones (``http.request.method``, ``http.response.status_code``, ``url.path``) that this
package's span hook and documentation use. Each setup function calls :func:`apply_semconv_opt_in`
first, so importing the package changes nothing and a value the user set wins.

When the variable is read (opentelemetry-python-contrib v0.66b2,
opentelemetry-instrumentation/src/opentelemetry/instrumentation/_semconv.py): once per process,
by ``_OpenTelemetrySemanticConventionStability._initialize``, which caches the mode in the class
and returns early on every later call. Nothing reads it at import: the first caller is whichever
instrumentation is set up first (``BaseInstrumentor.instrument``, ``FastAPIInstrumentor.
instrument_app``, ``OpenTelemetryMiddleware.__init__``, the httpx transports and
``instrument_client``, the SQLAlchemy ``EngineTracer``). So the variable must be in the
environment before the first of those runs: the setup functions set it before they call any of
them, and an instrumentation set up before the first of this package's setup functions fixes the
mode for the process (``tests/unit/package/test_upstream_pins.py`` pins this).
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["SEMCONV_OPT_IN", "SEMCONV_OPT_IN_DEFAULT", "apply_semconv_opt_in"]

SEMCONV_OPT_IN: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
SEMCONV_OPT_IN_DEFAULT: Final = "http"


def apply_semconv_opt_in() -> None:
    """Set ``OTEL_SEMCONV_STABILITY_OPT_IN=http`` unless the user gave it a value.

    An empty value counts as unset, as the OpenTelemetry specification reads every ``OTEL_*``
    variable (and as the contrib reader does: ``if not opt_in``).
    """
    if not os.environ.get(SEMCONV_OPT_IN, "").strip():
        os.environ[SEMCONV_OPT_IN] = SEMCONV_OPT_IN_DEFAULT
