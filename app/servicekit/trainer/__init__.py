"""Trainer mode: failure scenarios switched on and off at run time, for demos and classes.

A trainer makes something go wrong on cue, shows how the dashboards, traces and logs reveal it,
and puts it right again, without restarting anything. The mechanism is written once here and used
by every service:

``scenarios``
    What each scenario takes (its parameters, validated: :data:`SCENARIO_PARAMS`) and does
    (``describe``), and the load generator's traffic profiles.
``registry``
    :class:`ScenarioRegistry`: the scenarios switched on in this process (thread- and task-safe),
    optional auto-off, and the load generator's current traffic profile. :func:`annotate` puts
    ``scenario.name`` / ``scenario.effect`` and a ``scenario.injected`` event on the current
    span, and writes one log line.
``middleware``
    :class:`ScenarioMiddleware`: pure ASGI, inside the metrics middleware and the server span, so
    what it injects (added latency, 5xx answers, unhandled exceptions) is measured, traced and
    logged exactly like a real fault. It matches the route template the way the metrics do.
``admin``
    :func:`admin_router`: ``/admin/scenarios`` (list, switch on, switch off, reset) and
    ``/admin/traffic``, behind a Bearer token of its own, compared in constant time.
``settings``
    :class:`AdminSettings`, mixed into each service's ``Settings``: ``ADMIN_ENABLED`` (default
    false: the routes do not exist, 404 like any unknown path), ``ADMIN_TOKEN_FILE`` (a generated
    secret, like the database password) or ``ADMIN_TOKEN``; short or placeholder tokens are
    refused at start-up.

Scenarios (parameters in :data:`SCENARIO_PARAMS`):

=============== ===========================================================================
``latency``     added latency (``delay_ms`` fixed plus ``jitter_ms`` random) on one route or all
``errors``      a share (``rate``) of requests answered with a 5xx ``status``
``exceptions``  an exception storm: a share of requests raise, each an error log with traceback
``slow-db``     every SQL statement takes ``delay_ms`` (+ jitter) longer (api only)
``tagger``      the api's tagger calls are ``slow`` (``delay_ms``, cut at the api's timeout) or
                ``unreachable`` (api only)
=============== ===========================================================================

Scenarios are per process: run a service with trainer mode on with one worker.
"""

from servicekit.trainer.registry import ActiveScenario, ScenarioRegistry, annotate
from servicekit.trainer.scenarios import SCENARIO_PARAMS, TRAFFIC_PROFILES, TrafficProfile

__all__ = [
    "SCENARIO_PARAMS",
    "TRAFFIC_PROFILES",
    "ActiveScenario",
    "ScenarioRegistry",
    "TrafficProfile",
    "annotate",
]
