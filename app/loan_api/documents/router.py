"""HTTP routes of the documents module."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status
from fastapi.routing import APIRoute

from loan_api.applications.dependencies import AuthorizedApplication
from loan_api.dependencies import ClockDep, ConnectionDep, MetricsDep, SettingsDep, TaggerDep
from loan_api.documents import service
from loan_api.documents.exceptions import DocumentTooLarge
from loan_api.documents.schemas import DocumentKind, DocumentList, DocumentRead
from servicekit.openapi import problem_responses

router = APIRouter(prefix="/applications/{application_id}/documents", tags=["documents"])

_CHUNK = 64 * 1024
_TAGGER_FAILED = {
    502: "The tagger failed or answered nonsense. The document is stored (`document_id`, "
    "`document_status` `tagging_failed`); POST to `retry` tags it again.",
    504: "The tagger did not answer in time. The document is stored (`document_id`, "
    "`document_status` `tagging_failed`); POST to `retry` tags it again.",
}
_UNREADABLE = (
    "Invalid request (`errors`), an empty file, or a document the tagger cannot read (an "
    "encrypted PDF): that one is stored as `rejected`, and no retry can help."
)


def _documents_path(request: Request, application_id: UUID) -> str:
    """This application's documents collection under the prefix the request came in on.

    Taken from the path the request matched, not written down here: wherever these routes are
    mounted (each API version under its own prefix), the ``retry`` link a problem names is
    served by the caller's version. The matched route's template from the documents prefix on
    (``/applications/{application_id}/documents/...``; FastAPI >= 0.137 keeps the included
    route's own template, older versions the full one) has no ``:path`` parameter, so it spans
    as many segments of the request path as it has; what comes before is the mount, root path
    included (Starlette puts it in ``path``)."""
    route: APIRoute = request.scope["route"]
    own = route.path_format[route.path_format.index(router.prefix) :]
    mount = "/".join(request.scope["path"].split("/")[: -own.count("/")])
    return mount + router.prefix.format(application_id=application_id)


DocumentsPath = Annotated[str, Depends(_documents_path)]


async def _read_limited(upload: UploadFile, max_bytes: int) -> bytes:
    """Read the upload, refusing it as soon as it passes the limit."""
    chunks = []
    size = 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise DocumentTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a document",
    # The file part's own Content-Type decides (415 otherwise); FastAPI's schema cannot say so.
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "encoding": {"file": {"contentType": ", ".join(service.ALLOWED_MEDIA_TYPES)}}
                }
            }
        }
    },
    responses=problem_responses(
        401,
        403,
        413,
        415,
        422,
        502,
        504,
        descriptions={
            413: "The document is larger than `MAX_UPLOAD_BYTES` (`max_bytes`).",
            415: "Not a PDF, PNG or JPEG, or the content does not match the declared type.",
            422: _UNREADABLE,
            **_TAGGER_FAILED,
        },
    ),
)
async def upload_document(
    application: AuthorizedApplication,
    file: Annotated[UploadFile, File(description="PDF, PNG or JPEG.")],
    kind: Annotated[DocumentKind, Form()],
    connection: ConnectionDep,
    tagger: TaggerDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    clock: ClockDep,
    documents_path: DocumentsPath,
) -> DocumentRead:
    """Stored first, then sent to the tagger; the answer holds the tags, or the document is
    kept as `tagging_failed` (502, 504) and tagging can be retried."""
    content = await _read_limited(file, settings.max_upload_bytes)
    return await service.upload_document(
        connection,
        application_id=application.id,
        kind=kind,
        filename=file.filename,
        content_type=file.content_type,
        content=content,
        tagger=tagger,
        metrics=metrics,
        now=clock(),
        documents_path=documents_path,
    )


@router.get("", summary="List the documents", responses=problem_responses(401, 403))
async def list_documents(
    application: AuthorizedApplication, connection: ConnectionDep
) -> DocumentList:
    """Every document of the application with its status and tags, oldest first."""
    return DocumentList(
        items=await service.list_documents(connection, application_id=application.id)
    )


@router.post(
    "/{document_id}/tagging",
    summary="Retry tagging a document",
    responses=problem_responses(
        401,
        403,
        404,
        409,
        422,
        502,
        504,
        descriptions={
            404: "No document with this id in this application.",
            409: "The document is tagged or rejected already: retrying cannot change it.",
            422: _UNREADABLE,
            **_TAGGER_FAILED,
        },
    ),
)
async def retry_tagging(
    document_id: UUID,
    application: AuthorizedApplication,
    connection: ConnectionDep,
    tagger: TaggerDep,
    metrics: MetricsDep,
    clock: ClockDep,
    documents_path: DocumentsPath,
) -> DocumentRead:
    """Send a document whose tagging failed to the tagger again."""
    return await service.retry_tagging(
        connection,
        application_id=application.id,
        document_id=document_id,
        tagger=tagger,
        metrics=metrics,
        now=clock(),
        documents_path=documents_path,
    )
