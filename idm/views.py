from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from workshops.models import Registration, Workshop
from workshops.selectors import proposal_rounds_open

from . import outputs
from .models import AgendaVersion, CouncilSession, Meeting
from .selectors import dialogues_with_events, event_from_key, event_key, event_title


def home(request):
    """The public front page: each year's dialogue, its sessions and workshops, open rounds."""
    return render(
        request,
        "idm/home.html",
        {
            "title": _("International Dialogue on Migration"),
            "dialogues": dialogues_with_events(),
            "open_rounds": proposal_rounds_open(),
        },
    )


# -- Published agendas: page, PDF, calendars, exports -------------------------------------------

# The Agenda field that points at each kind of event.
AGENDA_EVENT_FIELD = {
    "councilsession": "council_session",
    "meeting": "meeting",
    "workshop": "workshop",
}
AGENDA_EXPORT_FORMATS = {"csv", "xlsx", "json"}
PARTICIPANT_EXPORT_FORMATS = {"csv", "xlsx"}

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "ics": "text/calendar; charset=utf-8",
    "pdf": "application/pdf",
}


def _event_or_404(key: str):
    _prefix, _dash, pk = key.rpartition("-")
    if not (pk.isascii() and pk.isdigit() and len(pk) <= 9):  # no overflowing database ids
        raise Http404(_("No such event."))
    event = event_from_key(key)
    if event is None:
        raise Http404(_("No such event."))
    return event


def _versions_of(event):
    field = AGENDA_EVENT_FIELD[event._meta.model_name]
    return AgendaVersion.objects.filter(**{f"agenda__{field}": event}).order_by("-number")


def _version_or_404(request, event) -> AgendaVersion:
    """The version asked for with ?version=N, else the latest published one."""
    versions = _versions_of(event)
    wanted = request.GET.get("version")
    if wanted is not None:
        if not (wanted.isascii() and wanted.isdigit() and len(wanted) <= 9):
            raise Http404(_("No such version."))
        versions = versions.filter(number=int(wanted))
    version = versions.first()
    if version is None:
        raise Http404(_("This agenda has no published version."))
    return version


def _version_line(version: AgendaVersion) -> str:
    text = _("Version %(number)s of the %(title)s, %(event)s") % {
        "number": version.number,
        "title": version.snapshot.get("title", ""),
        "event": version.snapshot.get("event", {}).get("title", ""),
    }
    if version.published_at:
        published = dateformat.format(timezone.localtime(version.published_at), "j F Y")
        text += ", " + _("published %(date)s") % {"date": published}
    return text


def _download(body, *, fmt: str, filename: str, inline: bool = False) -> HttpResponse:
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


def agenda_print(request, event_key: str):
    """The printable agenda of an event's latest published version (or ?version=N)."""
    event = _event_or_404(event_key)
    version = _version_or_404(request, event)
    query = f"?version={version.number}" if "version" in request.GET else ""
    links = {
        "pdf": reverse("idm:agenda-pdf", args=[event_key]) + query,
        "ics": reverse("idm:event-ical", args=[event_key]),
        **{
            fmt: reverse("idm:agenda-export", args=[event_key, fmt]) + query
            for fmt in ("csv", "xlsx", "json")
        },
    }
    layout = outputs.agenda_layout(version.snapshot)
    return render(
        request,
        "idm/agenda_print.html",
        {
            "title": f"{layout['title']}: {layout['event_title']}",
            "layout": layout,
            "version": version,
            "versions": list(_versions_of(event).only("number", "published_at", "state")),
            "links": links,
            "page_url": reverse("idm:agenda-print", args=[event_key]),
        },
    )


def agenda_pdf(request, event_key: str):
    event = _event_or_404(event_key)
    version = _version_or_404(request, event)
    pdf = outputs.agenda_pdf(version.snapshot, footer=_version_line(version))
    return _download(
        pdf, fmt="pdf", filename=f"{event_key}-agenda-v{version.number}.pdf", inline=True
    )


def agenda_export(request, event_key: str, fmt: str):
    if fmt not in AGENDA_EXPORT_FORMATS:
        raise Http404(_("Unknown format."))
    event = _event_or_404(event_key)
    version = _version_or_404(request, event)
    filename = f"{event_key}-agenda-v{version.number}.{fmt}"
    if fmt == "json":
        return _download(
            outputs.agenda_json(version.snapshot, version=version.number),
            fmt=fmt,
            filename=filename,
            inline=True,
        )
    rows = outputs.agenda_rows(version.snapshot)
    if fmt == "csv":
        body = outputs.rows_csv(rows, outputs.AGENDA_COLUMNS)
    else:
        body = outputs.rows_xlsx(rows, outputs.AGENDA_COLUMNS, sheet=_("Agenda"))
    return _download(body, fmt=fmt, filename=filename)


def _stamp(version: AgendaVersion | None):
    return (version.published_at if version and version.published_at else None) or timezone.now()


def event_ical(request, event_key: str):
    """An event's calendar: its published agenda slot by slot, else one all-day entry."""
    event = _event_or_404(event_key)
    version = _versions_of(event).first()
    title = event_title(event)
    calendar = outputs.new_calendar(title)
    if version is not None:
        outputs.add_agenda_events(calendar, version.snapshot, stamp=_stamp(version))
    else:
        entry = outputs.event_day_entry(event, key=event_key, title=title)
        outputs.add_all_day_event(calendar, entry, stamp=timezone.now())
    return _download(
        outputs.calendar_bytes(calendar), fmt="ics", filename=f"{event_key}.ics", inline=True
    )


def calendar_ical(request):
    """Every public event: published agendas slot by slot, other dated events as all-day entries."""
    latest = AgendaVersion.objects.filter(agenda=OuterRef("agenda")).order_by("-number")
    versions = AgendaVersion.objects.filter(number=Subquery(latest.values("number")[:1]))
    calendar = outputs.new_calendar(_("International Dialogue on Migration"))
    with_agenda = set()
    for version in versions:
        outputs.add_agenda_events(calendar, version.snapshot, stamp=_stamp(version))
        with_agenda.add(version.snapshot.get("event", {}).get("key"))
    now = timezone.now()
    events = [
        *CouncilSession.objects.filter(start_date__isnull=False).select_related("venue"),
        *Meeting.objects.filter(start_date__isnull=False).select_related("venue"),
        *Workshop.objects.filter(start_date__isnull=False).select_related("venue", "dialogue"),
    ]
    for event in events:
        key = event_key(event)
        if key not in with_agenda:
            entry = outputs.event_day_entry(event, key=key, title=event_title(event))
            outputs.add_all_day_event(calendar, entry, stamp=now)
    return _download(outputs.calendar_bytes(calendar), fmt="ics", filename="idm.ics", inline=True)


@never_cache
@staff_member_required
def participants_export(request, pk: int, fmt: str):
    """A workshop's registrations as CSV or XLSX: people's names, so for the secretariat only."""
    if fmt not in PARTICIPANT_EXPORT_FORMATS:
        raise Http404(_("Unknown format."))
    workshop = get_object_or_404(Workshop, pk=pk)
    registrations = (
        Registration.objects.filter(workshop=workshop)
        .select_related("person", "organisation", "funded_by")
        .order_by("person__name")
    )
    rows = outputs.participant_rows(registrations)
    if fmt == "csv":
        body = outputs.rows_csv(rows, outputs.PARTICIPANT_COLUMNS)
    else:
        body = outputs.rows_xlsx(rows, outputs.PARTICIPANT_COLUMNS, sheet=_("Participants"))
    return _download(body, fmt=fmt, filename=f"workshop-{workshop.pk}-participants.{fmt}")
