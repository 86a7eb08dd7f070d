"""Business metrics of the api, defined once, registered on the registry the app serves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class BusinessMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.applications_created = Counter(
            "loan_applications_created",
            "Loan applications created, by API version and product.",
            ["api_version", "product"],
            registry=registry,
        )
        self.documents_tagged = Counter(
            "loan_documents_tagged",
            "Documents the tagger tagged, by document kind and the type it found.",
            ["kind", "document_type"],
            registry=registry,
        )
        self.tagger_failures = Counter(
            "loan_tagger_failures",
            "Tagger calls that gave no tags: timeout, unavailable, rejected, bad_response.",
            ["reason"],
            registry=registry,
        )
