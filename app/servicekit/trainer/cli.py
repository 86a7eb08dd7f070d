"""``loan-api trainer`` / ``doc-tagger trainer``: switch trainer scenarios from a terminal.

    loan-api trainer list
    loan-api trainer on latency --route '/api/v1/applications/{application_id}' --delay-ms 800
    loan-api trainer on errors --route /api/v1/applications --rate 0.3 --status 503
    loan-api trainer on exceptions [--route R] [--rate 1]
    loan-api trainer on slow-db --delay-ms 400 --for 300
    loan-api trainer on tagger --mode unreachable      # or --mode slow --delay-ms 8000
    loan-api trainer off latency
    loan-api trainer reset                              # every scenario off, traffic default
    loan-api trainer traffic busy|calm|spike|default [--canary-share 0.3] [--for 120]

The service is ``--url`` (``TRAINER_URL``; default the service on this machine), the token comes
from ``--token-file``, else ``ADMIN_TOKEN_FILE``, else ``ADMIN_TOKEN`` (inside a compose container
both are already set: ``docker compose exec api loan-api trainer list``). Each command is one
HTTP call (docs/tour.md lists the curl equivalents); the answer is printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx


def _token(token_file: str | None) -> str:
    path = token_file or os.environ.get("ADMIN_TOKEN_FILE")
    if path:
        return Path(path).read_text().strip()
    token = os.environ.get("ADMIN_TOKEN", "").strip()
    if not token:
        raise SystemExit("no admin token: pass --token-file, or set ADMIN_TOKEN_FILE/ADMIN_TOKEN")
    return token


def build_parser(prog: str, default_url: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("TRAINER_URL", default_url))
    parser.add_argument("--token-file", default=None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="active scenarios, the available ones, traffic")
    on = commands.add_parser("on", help="switch a scenario on")
    on.add_argument("name")
    on.add_argument("--route", help="route template, e.g. '/api/v1/applications/{application_id}'")
    on.add_argument("--delay-ms", type=int, dest="delay_ms")
    on.add_argument("--jitter-ms", type=int, dest="jitter_ms")
    on.add_argument("--rate", type=float, help="share of requests, 0 < rate <= 1")
    on.add_argument("--status", type=int, help="5xx status for the errors scenario")
    on.add_argument("--mode", choices=("slow", "unreachable"), help="tagger scenario")
    on.add_argument("--for", type=float, dest="duration_seconds", help="switch off after N s")
    off = commands.add_parser("off", help="switch a scenario off")
    off.add_argument("name")
    commands.add_parser("reset", help="every scenario off, traffic back to default")
    traffic = commands.add_parser("traffic", help="the load generator's profile")
    traffic.add_argument("profile", nargs="?", choices=("calm", "busy", "spike", "default"))
    traffic.add_argument("--canary-share", type=float, dest="canary_share")
    traffic.add_argument("--for", type=float, dest="duration_seconds")
    return parser


def request_for(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """(method, path, JSON body) of the command: one HTTP call each."""
    if args.command == "list":
        return "GET", "/admin/scenarios", None
    if args.command == "on":
        fields = ("route", "delay_ms", "jitter_ms", "rate", "status", "mode", "duration_seconds")
        body = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
        return "PUT", f"/admin/scenarios/{args.name}", body
    if args.command == "off":
        return "DELETE", f"/admin/scenarios/{args.name}", None
    if args.command == "reset":
        return "DELETE", "/admin/scenarios", None
    if args.profile is None and args.canary_share is None:
        return "GET", "/admin/traffic", None
    if args.profile == "default" and args.canary_share is None:
        return "DELETE", "/admin/traffic", None
    body = {
        "profile": None if args.profile == "default" else args.profile,
        "canary_share": args.canary_share,
        "duration_seconds": args.duration_seconds,
    }
    return "PUT", "/admin/traffic", {k: v for k, v in body.items() if v is not None}


def main(argv: list[str], *, prog: str, default_url: str) -> int:
    args = build_parser(prog, default_url).parse_args(argv)
    method, path, body = request_for(args)
    headers = {"Authorization": f"Bearer {_token(args.token_file)}"}
    try:
        response = httpx.request(
            method, args.url.rstrip("/") + path, json=body, headers=headers, timeout=10.0
        )
    except httpx.HTTPError as exc:
        print(f"{method} {args.url}{path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(response.json(), indent=2))
    except ValueError:
        print(response.text)
    if (
        response.status_code == 404
        and path.startswith("/admin")
        and "scenario" not in (response.text)
    ):
        print("(is trainer mode on? ADMIN_ENABLED=true)", file=sys.stderr)
    return 0 if response.is_success else 1
