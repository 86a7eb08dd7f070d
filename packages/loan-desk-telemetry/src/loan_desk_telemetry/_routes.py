"""The route template of a request, found by matching the app's routes the way Starlette does.

Matching happens before the request is handled, so the template is known even when the handler
raises. Included routers (FastAPI >= 0.137 nests them) are flattened with FastAPI's public
``iter_route_contexts``; mounted sub-applications are walked and their prefix kept. A request
that matches nothing gets :data:`UNMATCHED`, one fixed label value instead of the raw path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

try:  # FastAPI >= 0.137.2
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - older FastAPI: routes are matchable as they are
    iter_route_contexts = None  # type: ignore[assignment]

UNMATCHED: Final = "unmatched"
SCOPE_KEY: Final = "loan_desk_telemetry.route"

# The candidates are FastAPI RouteContext objects (or the routes themselves on older FastAPI),
# read by duck typing: RouteContext forwards what it does not define to the route it wraps.
_cache: dict[int, tuple[int, list[Any]]] = {}


def _candidates(routes: Sequence[BaseRoute]) -> list[Any]:
    # Flattening allocates; cache per route list, rebuilt when routes are added at the top level.
    key = id(routes)
    cached = _cache.get(key)
    if cached is not None and cached[0] == len(routes):
        return cached[1]
    flat = list(iter_route_contexts(routes)) if iter_route_contexts is not None else list(routes)
    _cache[key] = (len(routes), flat)
    return flat


def _original(route: Any) -> Any:
    return getattr(route, "original_route", route)


def match_route(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """Template of the route that handles ``scope``, or None when no route matches."""
    partial: str | None = None
    for route in _candidates(routes):
        match, child_scope = route.matches(scope)
        if match is Match.NONE:
            continue
        original = _original(route)
        inner = original if isinstance(original, Mount) else getattr(route, "route", None)
        if isinstance(inner, Mount):
            sub_routes = getattr(inner, "routes", None) or []
            mount_path = route.path or ""
            sub = match_route(sub_routes, {**scope, **child_scope}) if sub_routes else None
            template = mount_path + (sub if sub is not None else "/{path}")
        else:
            template = getattr(route, "path", None)
            if template is None:
                continue
        if match is Match.FULL:
            return str(template)
        if partial is None:  # e.g. the path exists for another method: 405
            partial = str(template)
    return partial


def route_of(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The route template for an HTTP scope (cached in the scope), or ``"unmatched"``."""
    cached = scope.get(SCOPE_KEY)
    if cached is not None:
        return str(cached)
    template = match_route(routes, scope)
    result = template if template is not None else UNMATCHED
    scope[SCOPE_KEY] = result
    return result
