from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from stakeholders.models import Organisation, Person

from .enums import (
    AgendaState,
    CouncilBody,
    DialogueStatus,
    DocumentKind,
    MeetingKind,
    MeetingStatus,
)
from .sources import SourcedModel, TimeStampedModel


class PolicyDomain(SourcedModel):
    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    related_acronyms = models.JSONField(_("related acronyms"), default=list, blank=True)

    class Meta:
        verbose_name = _("policy domain")
        verbose_name_plural = _("policy domains")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Venue(TimeStampedModel):
    name = models.CharField(_("name"), max_length=200)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=100, blank=True)
    opens_at = models.TimeField(_("opens at"), null=True, blank=True)
    closes_at = models.TimeField(_("closes at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("venue")
        verbose_name_plural = _("venues")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "city"], name="venue_unique_per_city"),
            models.CheckConstraint(
                condition=Q(opens_at__isnull=True)
                | Q(closes_at__isnull=True)
                | Q(closes_at__gt=F("opens_at")),
                name="venue_closes_after_it_opens",
                violation_error_message=_("A venue must close after it opens."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}, {self.city}" if self.city else self.name


class Room(TimeStampedModel):
    venue = models.ForeignKey(
        Venue, verbose_name=_("venue"), on_delete=models.PROTECT, related_name="rooms"
    )
    name = models.CharField(_("name"), max_length=100)
    capacity = models.PositiveIntegerField(_("capacity"), null=True, blank=True)

    class Meta:
        verbose_name = _("room")
        verbose_name_plural = _("rooms")
        ordering = ["venue__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["venue", "name"], name="room_unique_per_venue"),
        ]

    def __str__(self) -> str:
        return f"{self.name}, {self.venue.name}"


class Dialogue(SourcedModel):
    """One year's International Dialogue on Migration and its theme."""

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    theme = models.CharField(_("theme"), max_length=255)
    status = models.CharField(_("status"), max_length=16, choices=DialogueStatus.choices)
    status_note = models.CharField(_("status as stated"), max_length=255, blank=True)
    theme_rationale = models.TextField(_("theme rationale"), blank=True)
    planning_note = models.TextField(_("planning note"), blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("dialogue")
        verbose_name_plural = _("dialogues")
        ordering = ["-year"]
        constraints = [
            models.CheckConstraint(
                condition=Q(year__gte=2001) & Q(year__lte=2100),
                name="dialogue_year_plausible",
                violation_error_message=_("A dialogue's year must be between 2001 and 2100."),
            ),
        ]

    def __str__(self) -> str:
        return f"IDM {self.year}: {self.theme}"


class CouncilSession(SourcedModel):
    body = models.CharField(
        _("body"), max_length=32, choices=CouncilBody.choices, default=CouncilBody.COUNCIL
    )
    number = models.PositiveSmallIntegerField(_("number"))
    name = models.CharField(_("name"), max_length=200, help_text=_("e.g. Ninetieth Session"))
    is_special = models.BooleanField(_("special session"), default=False)
    start_date = models.DateField(_("first day"), null=True, blank=True)
    end_date = models.DateField(_("last day"), null=True, blank=True)
    venue = models.ForeignKey(
        Venue, verbose_name=_("venue"), null=True, blank=True, on_delete=models.PROTECT
    )
    room = models.ForeignKey(
        Room, verbose_name=_("room"), null=True, blank=True, on_delete=models.PROTECT
    )
    dialogue = models.ForeignKey(
        Dialogue,
        verbose_name=_("dialogue held at this session"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="council_sessions",
    )
    notes = models.TextField(_("notes"), blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("Council session")
        verbose_name_plural = _("Council sessions")
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["body", "number"],
                name="council_session_unique",
                violation_error_message=_(
                    "There is already a session of this body with this number."
                ),
            ),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=F("start_date")),
                name="council_session_ends_after_it_starts",
                violation_error_message=_("The last day cannot be before the first day."),
            ),
        ]

    def __str__(self) -> str:
        if self.body == CouncilBody.COUNCIL:
            return f"Council, {self.name}"
        return self.name


class Meeting(SourcedModel):
    """A sitting of the IDM at a Council session, or an informal consultation."""

    kind = models.CharField(_("kind"), max_length=32, choices=MeetingKind.choices)
    title = models.CharField(_("title"), max_length=255)
    dialogue = models.ForeignKey(
        Dialogue,
        verbose_name=_("dialogue"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="meetings",
    )
    council_session = models.ForeignKey(
        CouncilSession,
        verbose_name=_("Council session"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="meetings",
    )
    start_date = models.DateField(_("first day"), null=True, blank=True)
    end_date = models.DateField(_("last day"), null=True, blank=True)
    venue = models.ForeignKey(
        Venue, verbose_name=_("venue"), null=True, blank=True, on_delete=models.PROTECT
    )
    room = models.ForeignKey(
        Room, verbose_name=_("room"), null=True, blank=True, on_delete=models.PROTECT
    )
    status = models.CharField(
        _("status"), max_length=16, choices=MeetingStatus.choices, default=MeetingStatus.PLANNED
    )
    description = models.TextField(_("description"), blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["-start_date", "title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=F("start_date")),
                name="meeting_ends_after_it_starts",
                violation_error_message=_("The last day cannot be before the first day."),
            ),
            models.CheckConstraint(
                condition=~Q(kind=MeetingKind.IDM_SITTING) | Q(council_session__isnull=False),
                name="idm_sitting_has_council_session",
                violation_error_message=_(
                    "An IDM sitting takes place at a Council session: choose it."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Document(SourcedModel):
    symbol = models.CharField(
        _("symbol"),
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        help_text=_("Official symbol such as MC/INF/279; unique when given."),
    )
    title = models.CharField(_("title"), max_length=500)
    kind = models.CharField(_("kind"), max_length=32, choices=DocumentKind.choices)
    date = models.DateField(_("date"), null=True, blank=True)
    date_text = models.CharField(
        _("date as stated"), max_length=64, blank=True, help_text=_("e.g. 2011-02 or 2005")
    )
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=8, default="en")
    file = models.FileField(_("file"), upload_to="documents/%Y/", blank=True)
    url = models.URLField(_("URL"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=255, blank=True)
    due_date = models.DateField(
        _("due to the secretariat"),
        null=True,
        blank=True,
        help_text=_("Its authors are reminded before this day until the document is received."),
    )
    received_on = models.DateField(_("received on"), null=True, blank=True)
    issuing_organisations = models.ManyToManyField(
        Organisation, verbose_name=_("issued by"), blank=True, related_name="issued_documents"
    )
    authors = models.ManyToManyField(
        Person, verbose_name=_("authors"), blank=True, related_name="documents"
    )
    authors_text = models.CharField(_("authors as written"), max_length=500, blank=True)
    dialogue = models.ForeignKey(
        Dialogue,
        verbose_name=_("dialogue"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="documents",
    )
    council_session = models.ForeignKey(
        CouncilSession,
        verbose_name=_("Council session"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="documents",
    )
    meeting = models.ForeignKey(
        Meeting,
        verbose_name=_("meeting"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="documents",
    )
    workshop = models.ForeignKey(
        "workshops.Workshop",
        verbose_name=_("workshop or event"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="documents",
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("part of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="parts",
    )
    publisher = models.CharField(_("publisher or journal"), max_length=255, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-year", "title"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(symbol=""),
                name="document_symbol_not_blank",
                violation_error_message=_("Leave the symbol empty rather than blank."),
            ),
            models.CheckConstraint(
                condition=~Q(title=""),
                name="document_title_not_empty",
                violation_error_message=_("A document needs a title."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} — {self.title}" if self.symbol else self.title


class Agenda(TimeStampedModel):
    """The agenda of a Council session, a meeting or a workshop (exactly one of them)."""

    council_session = models.OneToOneField(
        CouncilSession,
        verbose_name=_("Council session"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="agenda",
    )
    meeting = models.OneToOneField(
        Meeting,
        verbose_name=_("meeting"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="agenda",
    )
    workshop = models.OneToOneField(
        "workshops.Workshop",
        verbose_name=_("workshop"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="agenda",
    )
    title = models.CharField(_("title"), max_length=255, default=_("Provisional agenda"))
    state = models.CharField(
        _("state"), max_length=16, choices=AgendaState.choices, default=AgendaState.DRAFT
    )
    document = models.ForeignKey(
        Document,
        verbose_name=_("published as"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agendas",
    )
    copied_from = models.ForeignKey(
        "self",
        verbose_name=_("copied from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="copies",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("agenda")
        verbose_name_plural = _("agendas")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(council_session__isnull=False, meeting__isnull=True, workshop__isnull=True)
                    | Q(council_session__isnull=True, meeting__isnull=False, workshop__isnull=True)
                    | Q(council_session__isnull=True, meeting__isnull=True, workshop__isnull=False)
                ),
                name="agenda_belongs_to_exactly_one_event",
                violation_error_message=_(
                    "An agenda belongs to exactly one Council session, meeting or workshop."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title}: {self.event}"

    @property
    def event(self):
        return self.council_session or self.meeting or self.workshop


class AgendaItem(SourcedModel):
    agenda = models.ForeignKey(
        Agenda, verbose_name=_("agenda"), on_delete=models.CASCADE, related_name="items"
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent item"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sub_items",
    )
    number = models.PositiveSmallIntegerField(_("item number"))
    sub_item = models.CharField(
        _("sub-item letter"), max_length=2, blank=True, help_text=_("a, b, c… for sub-items")
    )
    position = models.PositiveIntegerField(_("order"), default=0)
    title = models.CharField(_("title"), max_length=500)
    block_title = models.CharField(
        _("block heading"),
        max_length=255,
        blank=True,
        help_text=_("Heading shared by consecutive items, as printed in the agenda."),
    )
    format = models.CharField(_("format"), max_length=100, blank=True)
    presenters = models.ManyToManyField(
        Person, verbose_name=_("presenters"), blank=True, related_name="agenda_items"
    )
    presenter_text = models.CharField(_("presenter as printed"), max_length=500, blank=True)
    bullets = models.JSONField(_("sub-topics"), default=list, blank=True)
    room = models.ForeignKey(
        Room, verbose_name=_("room"), null=True, blank=True, on_delete=models.PROTECT
    )
    dialogue = models.ForeignKey(
        Dialogue,
        verbose_name=_("part of the dialogue"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agenda_items",
    )
    documents = models.ManyToManyField(
        Document, verbose_name=_("documents"), blank=True, related_name="agenda_items"
    )
    allow_overlap = models.BooleanField(
        _("intended parallel session"),
        default=False,
        help_text=_("Runs on purpose at the same time as other items in the same room."),
    )
    notes = models.TextField(_("notes"), blank=True)
    history = HistoricalRecords(m2m_fields=[presenters, documents])

    class Meta:
        verbose_name = _("agenda item")
        verbose_name_plural = _("agenda items")
        ordering = ["agenda", "position", "number", "sub_item"]
        constraints = [
            models.UniqueConstraint(
                fields=["agenda", "number", "sub_item"],
                name="agenda_item_number_unique",
                violation_error_message=_(
                    "This agenda already has an item with this number and letter."
                ),
            ),
            models.CheckConstraint(
                condition=Q(number__gte=1),
                name="agenda_item_number_positive",
                violation_error_message=_("Item numbers start at 1."),
            ),
            models.CheckConstraint(
                condition=(Q(parent__isnull=True) & Q(sub_item=""))
                | (Q(parent__isnull=False) & Q(sub_item__regex=r"^[a-z]{1,2}\Z")),
                name="agenda_sub_item_has_parent_and_letter",
                violation_error_message=_(
                    "A sub-item needs a parent item and a letter (a, b, c…); "
                    "a main item has neither."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(title=""),
                name="agenda_item_title_not_empty",
                violation_error_message=_("An agenda item needs a title."),
            ),
        ]

    def clean(self) -> None:
        super().clean()
        parent = self.parent
        if parent is None:
            return
        errors = {}
        if parent.parent_id is not None:
            errors["parent"] = _("A sub-item's parent must be a main item, not another sub-item.")
        elif self.agenda_id and parent.agenda_id != self.agenda_id:
            errors["parent"] = _("The parent item must be on the same agenda.")
        elif self.number and parent.number != self.number:
            errors["number"] = _("A sub-item carries its parent's number (%(number)s).") % {
                "number": parent.number
            }
        if errors:
            raise ValidationError(errors)

    def __str__(self) -> str:
        return f"{self.label}: {self.title}"

    @property
    def label(self) -> str:
        return f"({self.sub_item})" if self.sub_item else f"Item {self.number}"

    @property
    def full_label(self) -> str:
        return f"Item {self.number}({self.sub_item})" if self.sub_item else f"Item {self.number}"


class AgendaSlot(TimeStampedModel):
    """One day and time an item is taken up; an item may run over several slots and days."""

    item = models.ForeignKey(
        AgendaItem, verbose_name=_("item"), on_delete=models.CASCADE, related_name="slots"
    )
    day = models.DateField(_("day"))
    start_time = models.TimeField(_("starts"), null=True, blank=True)
    end_time = models.TimeField(_("ends"), null=True, blank=True)
    continued = models.BooleanField(
        _("continued"), default=False, help_text=_("Printed as (cont'd).")
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("time slot")
        verbose_name_plural = _("time slots")
        ordering = ["day", "position", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__isnull=True)
                | (Q(start_time__isnull=False) & Q(end_time__gt=F("start_time"))),
                name="agenda_slot_ends_after_it_starts",
                violation_error_message=_(
                    "A time slot must end after it starts (and needs a start to have an end)."
                ),
            ),
        ]

    def __str__(self) -> str:
        times = ""
        if self.start_time:
            times = self.start_time.strftime("%H.%M")
            if self.end_time:
                times += " - " + self.end_time.strftime("%H.%M")
        return f"{self.day:%A %d %B %Y} {times}".strip()


class AgendaVersion(models.Model):
    """A published agenda, frozen: each publication makes a new numbered version.

    ``snapshot`` holds the agenda as published (see ``idm.selectors.agenda_snapshot``); a version
    is never edited, later changes make the next one.
    """

    agenda = models.ForeignKey(
        Agenda, verbose_name=_("agenda"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    state = models.CharField(_("published as"), max_length=16, choices=AgendaState.choices)
    symbol = models.CharField(_("document symbol"), max_length=64, blank=True)
    published_at = models.DateTimeField(
        _("published"), null=True, blank=True, help_text=_("Blank when the source gives no date.")
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    snapshot = models.JSONField(_("agenda as published"))

    class Meta:
        verbose_name = _("published agenda version")
        verbose_name_plural = _("published agenda versions")
        ordering = ["agenda", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["agenda", "number"],
                name="agenda_version_number_unique",
                violation_error_message=_("This agenda already has a version with this number."),
            ),
            models.CheckConstraint(
                condition=Q(number__gte=1),
                name="agenda_version_number_positive",
                violation_error_message=_("Version numbers start at 1."),
            ),
            models.CheckConstraint(
                condition=~Q(state=AgendaState.DRAFT),
                name="agenda_version_is_published",
                violation_error_message=_("Only a published agenda has versions."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agenda} — v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AgendaVersionFrozenError(
                _("A published agenda version is never changed; publish a new version instead.")
            )
        super().save(*args, **kwargs)


class AgendaVersionFrozenError(Exception):
    """Raised on an attempt to save an existing, frozen, agenda version."""
