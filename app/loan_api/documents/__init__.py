"""Documents: uploads, their metadata, and tagging by the external tagger service.

Public surface: ``service`` (``count_documents``) and ``schemas``.
"""
