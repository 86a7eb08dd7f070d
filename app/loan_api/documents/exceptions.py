"""Errors of the documents module, as problem details."""

from __future__ import annotations

from uuid import UUID

from servicekit.problems import Problem


class DocumentNotFound(Problem):
    def __init__(self) -> None:
        super().__init__(
            404, "No document with this id in this application.", slug="document-not-found"
        )


class UnsupportedDocumentType(Problem):
    def __init__(self, detail: str, allowed: list[str]) -> None:
        super().__init__(415, detail, slug="unsupported-media-type", allowed=allowed)


class DocumentTooLarge(Problem):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            413,
            f"The document is larger than the limit of {max_bytes} bytes.",
            slug="document-too-large",
            max_bytes=max_bytes,
        )


class EmptyDocument(Problem):
    def __init__(self) -> None:
        super().__init__(422, "The uploaded file is empty.", slug="empty-document")


class AlreadyTagged(Problem):
    def __init__(self) -> None:
        super().__init__(
            409,
            "This document is tagged or rejected already; tagging it again cannot change that.",
            slug="already-tagged",
        )


_TAGGING_STATUS = {"timeout": 504}
_TAGGING_DETAIL = {
    "timeout": "The tagging service did not answer in time.",
    "unavailable": "The tagging service is not reachable.",
    "bad_response": "The tagging service gave an answer that could not be used.",
}


class TaggingFailed(Problem):
    """The tagger failed (502/504); the document is stored with status ``tagging_failed`` and
    tagging it again may succeed, so the problem names the ``retry`` link.

    ``documents_path`` is the documents collection as the caller addressed it (its API version
    included), so the link is one that caller's version serves."""

    def __init__(self, *, reason: str, documents_path: str, document_id: UUID) -> None:
        super().__init__(
            _TAGGING_STATUS.get(reason, 502),
            _TAGGING_DETAIL[reason] + " The document is stored; retry tagging later.",
            slug=f"tagging-failed-{reason.replace('_', '-')}",
            title="Tagging failed",
            document_id=str(document_id),
            document_status="tagging_failed",
            retry=f"{documents_path}/{document_id}/tagging",
        )


class DocumentUnreadable(Problem):
    """The tagger cannot read the document (an encrypted PDF): it is stored as ``rejected``, and
    no retry can change that, so there is no ``retry`` link; a readable copy is a new upload."""

    def __init__(self, *, document_id: UUID) -> None:
        super().__init__(
            422,
            "The tagging service cannot read this document (for example an encrypted PDF). "
            "It is stored as rejected; upload a readable copy.",
            # The type clients already know for this case.
            slug="tagging-failed-rejected",
            title="Document unreadable",
            document_id=str(document_id),
            document_status="rejected",
        )
