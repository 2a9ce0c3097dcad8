"""Browser pages of the recommendations app: the download of evidence files (session login).

An evidence file is served only to a user allowed to read its report
(``recommendations.view_followup``), as an attachment with the content type found when it was
uploaded, never sniffed by the browser. Anyone else gets a 404, as if it did not exist; a visitor
who is not logged in is sent to the login page. ``evidence_response`` is shared with the API's
download endpoint.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe

from .models import EvidenceFile

VIEW_REPORT = "recommendations.view_followup"


def readable_evidence(user, pk) -> EvidenceFile:
    """The evidence file ``pk`` if ``user`` may read its report; ``Http404`` otherwise."""
    evidence = (
        EvidenceFile.objects.select_related(
            "report__assignment__recommendation", "report__assignment__organisation"
        )
        .filter(pk=pk)
        .first()
    )
    if evidence is None or not user.has_perm(VIEW_REPORT, evidence.report):
        raise Http404
    return evidence


def evidence_response(evidence: EvidenceFile) -> FileResponse:
    """The stored file, streamed as an attachment under its original name."""
    try:
        handle = evidence.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=evidence.original_name,
        content_type=evidence.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
@login_required
def evidence_download(request, pk: int):
    return evidence_response(readable_evidence(request.user, pk))
