"""loan-api: the loan-application back end, a modular monolith.

Business modules (``applications``, ``documents``, ``notifications``) each hold three tiers:
``router`` (HTTP) -> ``service`` (business rules, transactions) -> ``repository`` (SQL). A module
reaches another only through that module's ``service``, ``dependencies`` and ``schemas``, so it
could later move into a service of its own. ``lint-imports`` enforces this.
"""

__version__ = "0.1.0"
