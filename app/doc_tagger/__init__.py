"""doc-tagger: the stand-in for an external document parsing and tagging service.

It reads a document's bytes and answers what it is (passport, tax return, ...), which year a
fiscal form is for, and how sure it is. It refuses documents it cannot read (encrypted PDFs) with
422, the way real parsers do.
"""

__version__ = "0.1.0"
