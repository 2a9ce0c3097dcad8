from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from idm.models import Dialogue, Meeting, PolicyDomain, Venue
from idm.sources import SourcedModel, TimeStampedModel, ordered_constraint
from stakeholders.models import Organisation, Person

from .enums import (
    PartnerRole,
    ProposalEventKind,
    ProposalKind,
    ProposalState,
    RegistrationRole,
    WorkshopKind,
    WorkshopStatus,
)


class Workshop(SourcedModel):
    """An IDM inter-sessional workshop, or a related event the dialogue refers to."""

    title = models.CharField(
        _("title"), max_length=255, blank=True, help_text=_("Blank while the topic is open.")
    )
    acronym = models.CharField(_("acronym"), max_length=32, blank=True)
    kind = models.CharField(_("kind"), max_length=32, choices=WorkshopKind.choices)
    dialogue = models.ForeignKey(
        Dialogue,
        verbose_name=_("dialogue"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="workshops",
    )
    start_date = models.DateField(_("first day"), null=True, blank=True)
    end_date = models.DateField(_("last day"), null=True, blank=True)
    date_text = models.CharField(
        _("dates as stated"), max_length=100, blank=True, help_text=_("e.g. first quarter of 2006")
    )
    venue = models.ForeignKey(
        Venue, verbose_name=_("venue"), null=True, blank=True, on_delete=models.PROTECT
    )
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=WorkshopStatus.choices, default=WorkshopStatus.PLANNED
    )
    status_note = models.CharField(_("status as stated"), max_length=255, blank=True)
    capacity = models.PositiveIntegerField(_("capacity"), null=True, blank=True)
    attendance_total = models.PositiveIntegerField(_("attendance (approx.)"), null=True, blank=True)
    attendance_text = models.TextField(_("attendance as reported"), blank=True)
    description = models.TextField(_("description"), blank=True)
    outcomes = models.JSONField(_("outcomes"), default=list, blank=True)
    follow_up_of = models.ForeignKey(
        "self",
        verbose_name=_("follow-up of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_ups",
    )
    notes = models.TextField(_("notes"), blank=True)
    partners = models.ManyToManyField(
        Organisation, through="WorkshopPartner", related_name="workshops", blank=True
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("workshop or event")
        verbose_name_plural = _("workshops and events")
        ordering = ["-start_date", "title"]
        constraints = [
            ordered_constraint(
                name="workshop_ends_after_it_starts",
                message=_("The last day cannot be before the first day."),
            ),
            models.CheckConstraint(
                condition=~Q(title="") | Q(status=WorkshopStatus.PLANNED),
                name="workshop_titled_unless_planned",
                violation_error_message=_("Only a planned workshop may be left without a title."),
            ),
        ]

    def __str__(self) -> str:
        return self.display_title

    @property
    def display_title(self) -> str:
        if self.title:
            return self.title
        return str(_("IDM workshop, topic to be selected ({when})")).format(
            when=self.date_text or (self.dialogue and self.dialogue.year) or "?"
        )

    @property
    def is_intersessional(self) -> bool:
        return self.kind == WorkshopKind.IDM_INTERSESSIONAL


class WorkshopPartner(TimeStampedModel):
    workshop = models.ForeignKey(
        Workshop, verbose_name=_("workshop"), on_delete=models.CASCADE, related_name="partnerships"
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT
    )
    role = models.CharField(_("role"), max_length=16, choices=PartnerRole.choices)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["workshop", "role", "organisation__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workshop", "organisation", "role"],
                name="workshop_partner_role_unique",
                violation_error_message=_(
                    "This organisation already has this role in the workshop."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.short_name} ({self.get_role_display()})"


class FundedParticipation(TimeStampedModel):
    """Donors paying for officials to attend: "some 60 officials funded by the US and Australia"."""

    workshop = models.ForeignKey(
        Workshop, verbose_name=_("workshop"), on_delete=models.CASCADE, related_name="fundings"
    )
    donors = models.ManyToManyField(
        Organisation, verbose_name=_("donors"), related_name="funded_participations"
    )
    funded_participants = models.PositiveIntegerField(_("funded participants"))
    participant_profile = models.CharField(_("who was funded"), max_length=255, blank=True)
    per_person_amount = models.DecimalField(
        _("funding per person"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    text = models.TextField(_("as reported"), blank=True)
    history = HistoricalRecords(m2m_fields=[donors])

    class Meta:
        verbose_name = _("funded participation")
        verbose_name_plural = _("funded participation")
        constraints = [
            models.CheckConstraint(
                condition=Q(per_person_amount__isnull=True) | Q(per_person_amount__gte=0),
                name="funding_amount_not_negative",
                violation_error_message=_("Funding per person cannot be negative."),
            ),
        ]

    def __str__(self) -> str:
        return _("%(count)s funded participants") % {"count": self.funded_participants}


class Registration(TimeStampedModel):
    workshop = models.ForeignKey(
        Workshop,
        verbose_name=_("workshop"),
        on_delete=models.CASCADE,
        related_name="registrations",
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="registrations"
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("representing"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
    )
    role = models.CharField(
        _("role"),
        max_length=16,
        choices=RegistrationRole.choices,
        default=RegistrationRole.PARTICIPANT,
    )
    attendance_confirmed = models.BooleanField(_("attendance confirmed"), default=False)
    funded_by = models.ForeignKey(
        Organisation,
        verbose_name=_("funded by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="funded_registrations",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        ordering = ["workshop", "person__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workshop", "person"],
                name="registration_once_per_workshop",
                violation_error_message=_("This person is already registered for this workshop."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} ({self.get_role_display()})"


class ProposalRound(TimeStampedModel):
    """A call for themes, e.g. "select two topics for the 2006 inter-sessional workshops"."""

    title = models.CharField(_("title"), max_length=255)
    target_year = models.PositiveSmallIntegerField(_("target year"))
    kind = models.CharField(_("kind"), max_length=32, choices=ProposalKind.choices)
    dialogue = models.ForeignKey(
        Dialogue,
        verbose_name=_("dialogue"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposal_rounds",
    )
    opens_at = models.DateTimeField(_("opens"), null=True, blank=True)
    closes_at = models.DateTimeField(
        _("closes"), null=True, blank=True, help_text=_("Blank while no deadline is set.")
    )
    topics_to_select = models.PositiveSmallIntegerField(_("topics to select"), default=1)
    decision_meeting = models.ForeignKey(
        Meeting,
        verbose_name=_("decided at"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposal_rounds",
    )
    selection_process = models.CharField(_("selection process"), max_length=255, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("proposal round")
        verbose_name_plural = _("proposal rounds")
        ordering = ["-target_year", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["target_year", "kind"],
                name="one_round_per_year_kind",
                violation_error_message=_("There is already a round of this kind for this year."),
            ),
            ordered_constraint(
                name="round_closes_after_it_opens",
                message=_("A round must close after it opens."),
                first="opens_at",
                second="closes_at",
                strict=True,
            ),
            models.CheckConstraint(
                condition=Q(topics_to_select__gte=1),
                name="round_selects_at_least_one",
                violation_error_message=_("A round selects at least one topic."),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def has_opened(self, now=None) -> bool:
        """Opened already, or open from the start (no opening date)."""
        return self.opens_at is None or self.opens_at <= (now or timezone.now())

    def is_past_deadline(self, now=None) -> bool:
        return self.closes_at is not None and self.closes_at <= (now or timezone.now())

    def is_open(self, now=None) -> bool:
        """Taking proposals and support: opened and not closed."""
        now = now or timezone.now()
        return self.has_opened(now) and not self.is_past_deadline(now)


class ThemeProposal(SourcedModel):
    title = models.CharField(_("title"), max_length=255)
    rationale = models.TextField(_("rationale"), blank=True)
    kind = models.CharField(_("kind"), max_length=32, choices=ProposalKind.choices)
    round = models.ForeignKey(
        ProposalRound,
        verbose_name=_("round"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposals",
    )
    target_year = models.PositiveSmallIntegerField(_("target year"), null=True, blank=True)
    target_forum = models.CharField(_("forum"), max_length=255, blank=True)
    target_text = models.CharField(_("proposed as"), max_length=255, blank=True)
    proposing_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("proposed by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="theme_proposals",
    )
    co_sponsors = models.ManyToManyField(
        Organisation,
        verbose_name=_("co-sponsoring delegations"),
        blank=True,
        related_name="co_sponsored_proposals",
    )
    proposed_by_people = models.ManyToManyField(
        Person, verbose_name=_("proposed by (people)"), blank=True, related_name="proposals"
    )
    policy_domains = models.ManyToManyField(
        PolicyDomain, verbose_name=_("policy domains"), blank=True, related_name="proposals"
    )
    suggested_partners = models.ManyToManyField(
        Organisation,
        verbose_name=_("suggested partners"),
        blank=True,
        related_name="suggested_in_proposals",
    )
    preferred_quarter = models.PositiveSmallIntegerField(
        _("preferred quarter"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(4)],
    )
    state = models.CharField(
        _("state"), max_length=16, choices=ProposalState.choices, default=ProposalState.DRAFT
    )
    status_note = models.CharField(_("status as stated"), max_length=255, blank=True)
    deferred_to_year = models.PositiveSmallIntegerField(_("deferred to"), null=True, blank=True)
    earlier_version = models.ForeignKey(
        "self",
        verbose_name=_("re-proposal of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="later_versions",
    )
    workshop = models.ForeignKey(
        Workshop,
        verbose_name=_("planned as workshop"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="candidate_proposals",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(
        _("decided on"), null=True, blank=True, help_text=_("When the decision was recorded.")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decision recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decision_meeting = models.ForeignKey(
        Meeting,
        verbose_name=_("decided at"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="decided_proposals",
        help_text=_("The consultation at which the membership took the decision."),
    )
    decision_note = models.TextField(_("decision note"), blank=True)
    decision_notified_at = models.DateTimeField(
        _("delegations notified"),
        null=True,
        blank=True,
        help_text=_("When the proposing and co-sponsoring delegations were emailed the decision."),
    )
    history = HistoricalRecords(m2m_fields=[co_sponsors, policy_domains, suggested_partners])

    class Meta:
        verbose_name = _("theme proposal")
        verbose_name_plural = _("theme proposals")
        ordering = ["-target_year", "title"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(title=""),
                name="proposal_title_not_empty",
                violation_error_message=_("A proposal needs a title."),
            ),
            models.CheckConstraint(
                condition=Q(kind=ProposalKind.OTHER_FORUM)
                | Q(proposing_organisation__isnull=False),
                name="idm_proposal_has_proposer",
                violation_error_message=_(
                    "A proposal for the dialogue needs the delegation or organisation proposing it."
                ),
            ),
            models.CheckConstraint(
                condition=(Q(state=ProposalState.DEFERRED) & Q(deferred_to_year__isnull=False))
                | (~Q(state=ProposalState.DEFERRED) & Q(deferred_to_year__isnull=True)),
                name="proposal_deferred_has_year",
                violation_error_message=_(
                    "A deferred proposal needs the year it is deferred to; "
                    "only a deferred one has one."
                ),
            ),
            models.CheckConstraint(
                condition=Q(deferred_to_year__isnull=True)
                | Q(target_year__isnull=True)
                | Q(deferred_to_year__gt=F("target_year")),
                name="proposal_deferred_to_a_later_year",
                violation_error_message=_("A proposal can only be deferred to a later year."),
            ),
            models.CheckConstraint(
                condition=Q(preferred_quarter__isnull=True)
                | Q(preferred_quarter__gte=1, preferred_quarter__lte=4),
                name="proposal_quarter_1_to_4",
                violation_error_message=_("The preferred quarter is 1, 2, 3 or 4."),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ProposalEvent(SourcedModel):
    """A step in a proposal's history: "proposed for 2005, not endorsed", "deferred to 2006"."""

    proposal = models.ForeignKey(
        ThemeProposal,
        verbose_name=_("proposal"),
        on_delete=models.CASCADE,
        related_name="events",
    )
    kind = models.CharField(_("what happened"), max_length=16, choices=ProposalEventKind.choices)
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    occurred_at = models.DateTimeField(_("when"), null=True, blank=True)
    meeting = models.ForeignKey(
        Meeting, verbose_name=_("at"), null=True, blank=True, on_delete=models.SET_NULL
    )
    text = models.TextField(_("note"), blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("proposal history entry")
        verbose_name_plural = _("proposal history")
        ordering = ["proposal", "year", "occurred_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.year or ''}".strip()


class ProposalSupport(TimeStampedModel):
    proposal = models.ForeignKey(
        ThemeProposal,
        verbose_name=_("proposal"),
        on_delete=models.CASCADE,
        related_name="supports",
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("supporting delegation"),
        on_delete=models.PROTECT,
        related_name="proposal_supports",
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("support")
        verbose_name_plural = _("supports")
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "organisation"],
                name="support_once_per_delegation",
                violation_error_message=_("This delegation already supports this proposal."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.short_name} supports {self.proposal}"
