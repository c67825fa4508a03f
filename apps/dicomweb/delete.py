"""DELETE on a study, series or instance resource.

Not part of PS3.18; the resource paths are the WADO-RS ones, as other
archives do. 204 when deleted; 404 when absent or outside the caller's
collections (the two are not told apart). The permission check and the
audit event are the URL-level guard's (apps/accounts/access.py).
"""

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse

from apps.archive.deletion import NothingToDelete, delete
from apps.archive.ingest import is_valid_uid
from apps.dicomweb.errors import BadRequest, NotFound, handle_errors


@handle_errors
def resource(
    request: HttpRequest,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> HttpResponse:
    for name, uid in (("study", study), ("series", series), ("instance", instance)):
        if uid is not None and not is_valid_uid(uid):
            raise BadRequest(f"the {name} UID in the path is not a valid UID")
    try:
        deleted = delete(
            study,
            series,
            instance,
            collections=getattr(request, "allowed_collections", None),
            study_uids=getattr(request, "allowed_study_uids", None),
        )
    except NothingToDelete:
        raise NotFound("no such resource") from None

    request.audit_study_uids = [deleted.study_uid]  # type: ignore[attr-defined]
    request.audit_patient_id = deleted.patient_id  # type: ignore[attr-defined]
    detail = f"{deleted.instances} instance(s), {deleted.series} series removed"
    if deleted.study_removed:
        detail += "; study removed"
    request.audit_detail = detail  # type: ignore[attr-defined]
    return HttpResponse(status=HTTPStatus.NO_CONTENT)
