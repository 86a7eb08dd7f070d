"""Business: what the loan desk does, applications created, documents tagged, tagging failures."""

from __future__ import annotations

from dashboards.board import Json, dashboard
from dashboards.fields import GREEN_ONLY, red_from, thresholds
from dashboards.layout import Heading, Item, line
from dashboards.panels import stat, timeseries
from dashboards.queries import prom, rate_sum, zero_if_none
from dashboards.variables import prometheus_picker

CREATED = "loan_applications_created_total"
TAGGED = "loan_documents_tagged_total"
FAILED = "loan_tagger_failures_total"


def _in_range(metric: str) -> str:
    """The counter's increase over the dashboard's time range, 0 when it has no series."""
    return f"(sum(increase({metric}[$__range])) or vector(0))"


def _in_range_totals() -> list[Item]:
    return [
        Heading("In the selected time range"),
        *line(
            stat(
                "Applications created",
                "Loan applications created (v1 and v2 API) in the selected time range.",
                [prom(f"round({_in_range(CREATED)})", instant=True)],
                graph=False,
            ),
            stat(
                "Documents tagged",
                "Uploaded documents the tagger classified in the selected time range.",
                [prom(f"round({_in_range(TAGGED)})", instant=True)],
                graph=False,
            ),
            stat(
                "Tagging failures",
                "Documents the tagger could not classify (timeout, unavailable, rejected, bad "
                "response) in the selected time range. They can be re-tagged later.",
                [prom(f"round({_in_range(FAILED)})", instant=True)],
                graph=False,
                threshold_steps=thresholds(GREEN_ONLY, ("orange", 1)),
            ),
            stat(
                "Tagger failure ratio",
                "failures / (tagged + failures) over the selected time range.",
                [
                    prom(
                        f"{_in_range(FAILED)} / clamp_min({_in_range(TAGGED)} + {_in_range(FAILED)}"
                        ", 1)",
                        instant=True,
                    )
                ],
                unit="percentunit",
                decimals=1,
                graph=False,
                threshold_steps=red_from(0.1, orange_from=0.05),
            ),
            height=4,
        ),
    ]


def _over_time() -> list[Item]:
    return [
        Heading("Over time"),
        *line(
            timeseries(
                "Applications created per minute",
                "New loan applications per minute by product and API version.",
                [
                    prom(
                        f"{rate_sum(CREATED, 'product', 'api_version')} * 60",
                        "{{product}} ({{api_version}})",
                    )
                ],
                stack=True,
            ),
            timeseries(
                "Documents tagged per minute",
                "Documents classified per minute by kind (id, fiscal) and the document type the "
                "tagger assigned.",
                [
                    prom(
                        f"{rate_sum(TAGGED, 'kind', 'document_type')} * 60",
                        "{{kind}}: {{document_type}}",
                    )
                ],
                stack=True,
            ),
            height=8,
        ),
        *line(
            timeseries(
                "Tagging failures per minute by reason",
                "Why tagging failed: timeout (tagger too slow), unavailable (tagger down), "
                "rejected (tagger refused the document), bad_response (tagger answered "
                "nonsense).",
                [
                    prom(
                        zero_if_none(f"{rate_sum(FAILED, 'reason')} * 60", "reason"),
                        "{{reason}}",
                    )
                ],
                stack=True,
            ),
            timeseries(
                "Tagger failure ratio",
                "failures / (tagged + failures) over 5 minutes (recording rule "
                ":loan_tagger_failure:ratio_rate5m). Alert LoanTaggerHighFailureRatio fires "
                "above the dashed 10% line for 10 minutes.",
                [prom(":loan_tagger_failure:ratio_rate5m", "failure ratio")],
                unit="percentunit",
                maximum=1,
                threshold_steps=red_from(0.1),
            ),
            height=8,
        ),
    ]


def business_dashboard() -> Json:
    return dashboard(
        "business",
        "Business",
        "What the loan desk does: applications created, documents tagged, and how often "
        "tagging fails.",
        [prometheus_picker()],
        [*_in_range_totals(), *_over_time()],
        time_from="now-1h",
    )
