"""Applications: create an application, submit personal details and the current address.

Public surface for other modules: ``service`` (functions), ``dependencies``
(``AuthorizedApplication``) and ``schemas``.
"""
