from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey
from simple_history.models import HistoricalRecords

from idm.sources import SourcedModel, TimeStampedModel, ordered_constraint

from .enums import ActingRole, GroupKind, KindBasis, MembershipRole, OrganisationKind


class Organisation(SourcedModel):
    name = models.CharField(_("name"), max_length=255)
    acronym = models.CharField(_("acronym"), max_length=32, blank=True)
    full_name = models.CharField(_("full name"), max_length=255, blank=True)
    kind = models.CharField(_("kind"), max_length=32, choices=OrganisationKind.choices)
    kind_basis = models.CharField(
        _("kind is"), max_length=16, choices=KindBasis.choices, default=KindBasis.STATED
    )
    country = models.CharField(_("country"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    description = models.TextField(_("description"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        indexes = [models.Index(fields=["acronym"]), models.Index(fields=["kind", "name"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""),
                name="organisation_name_not_empty",
                violation_error_message=_("An organisation needs a name."),
            ),
            models.CheckConstraint(
                condition=~Q(parent=F("pk")),
                name="organisation_not_own_parent",
                violation_error_message=_("An organisation cannot be its own parent."),
            ),
        ]

    def __str__(self) -> str:
        if self.acronym and self.acronym != self.name:
            return f"{self.name} ({self.acronym})"
        return self.name

    @property
    def short_name(self) -> str:
        return self.acronym or self.name


class Person(SourcedModel):
    honorific = models.CharField(_("honorific"), max_length=32, blank=True)
    name = models.CharField(_("name"), max_length=200)
    title = models.CharField(_("title or position"), max_length=255, blank=True)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="people",
    )
    other_organisations = models.ManyToManyField(
        Organisation,
        verbose_name=_("other affiliations"),
        blank=True,
        related_name="affiliated_people",
    )
    country = models.CharField(_("country"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    language = models.CharField(
        _("preferred language"),
        max_length=8,
        choices=[("en", _("English")), ("fr", _("French")), ("es", _("Spanish"))],
        default="en",
        help_text=_("Reminders go out in this language where a translation exists."),
    )
    is_focal_point = models.BooleanField(
        _("follow-up focal point"),
        default=False,
        help_text=_("Receives the follow-up reminders addressed to the organisation."),
    )
    is_head_of_office = models.BooleanField(
        _("head of office"),
        default=False,
        help_text=_("Copied on escalated follow-up reminders of the organisation."),
    )
    notes = models.TextField(_("notes"), blank=True)
    history = HistoricalRecords(m2m_fields=[other_organisations])

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""),
                name="person_name_not_empty",
                violation_error_message=_("A person needs a name."),
            ),
        ]

    def __str__(self) -> str:
        return " ".join(part for part in (self.honorific, self.name) if part)

    @property
    def display_with_title(self) -> str:
        return f"{self}, {self.title}" if self.title else str(self)


class Group(SourcedModel):
    """A standing body whose membership changes over time: the Business Advisory Board, the GMG."""

    name = models.CharField(_("name"), max_length=255, unique=True)
    acronym = models.CharField(_("acronym"), max_length=32, blank=True)
    kind = models.CharField(_("kind"), max_length=32, choices=GroupKind.choices)
    organisation = models.OneToOneField(
        Organisation,
        verbose_name=_("as an organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="as_group",
        help_text=_("The organisation record that stands for the group, where there is one."),
    )
    convened_by = models.ForeignKey(
        Organisation,
        verbose_name=_("convened by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="convened_groups",
    )
    description = models.TextField(_("description"), blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("group")
        verbose_name_plural = _("groups")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.acronym})" if self.acronym else self.name


class GroupMembership(SourcedModel):
    group = models.ForeignKey(
        Group, verbose_name=_("group"), on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="group_memberships",
    )
    person = models.ForeignKey(
        Person,
        verbose_name=_("representative"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="group_memberships",
    )
    role = models.CharField(
        _("role"), max_length=16, choices=MembershipRole.choices, default=MembershipRole.MEMBER
    )
    start_date = models.DateField(_("member since"), null=True, blank=True)
    end_date = models.DateField(_("member until"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("group membership")
        verbose_name_plural = _("group memberships")
        ordering = ["group", "organisation__name", "start_date"]
        constraints = [
            ordered_constraint(
                name="membership_ends_after_it_starts",
                message=_("A membership cannot end before it starts."),
            ),
            models.UniqueConstraint(
                fields=["group", "organisation", "start_date"],
                name="membership_unique_per_start",
                violation_error_message=_(
                    "This organisation already has a membership of this group starting then."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.short_name} in {self.group}"


class Representative(TimeStampedModel):
    """The organisation a login acts for: a delegation, a partner agency or the secretariat."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="representative",
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("acts for"),
        on_delete=models.PROTECT,
        related_name="representatives",
    )
    role = models.CharField(_("acts as"), max_length=16, choices=ActingRole.choices)
    person = models.OneToOneField(
        Person,
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="login",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("representative")
        verbose_name_plural = _("representatives")
        ordering = ["organisation__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.organisation.short_name}"


# --- API keys of organisations --------------------------------------------------------------------

# Organisations of these kinds act through a key as a member-state delegation; all others as a
# partner agency. The secretariat uses the session, never a key.
DELEGATION_KINDS = frozenset(
    {
        OrganisationKind.MEMBER_STATE,
        OrganisationKind.OBSERVER_STATE,
        OrganisationKind.GOVERNMENT_BODY,
    }
)
API_KEY_ROLES = [
    (ActingRole.AGENCY.value, ActingRole.AGENCY.label),
    (ActingRole.DELEGATION.value, ActingRole.DELEGATION.label),
]


def default_api_key_role(organisation: Organisation) -> str:
    return ActingRole.DELEGATION if organisation.kind in DELEGATION_KINDS else ActingRole.AGENCY


class OrganisationAPIKey(AbstractAPIKey):
    """A machine client's key (``Authorization: Api-Key <key>``), acting for one organisation.

    Only a hash is stored (djangorestframework-api-key); the key is shown once, when created.
    A request with the key acts as the key's own service login: an active user without a usable
    password (it cannot log in), whose ``Representative`` is the organisation in ``role``, so
    that the rules of ``rules.py`` apply to it as to a person of that organisation, and the
    history names the key that made each change. Revoking the key deactivates the login.
    """

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="api_keys",
    )
    role = models.CharField(
        _("acts as"),
        max_length=16,
        choices=API_KEY_ROLES,
        blank=True,
        help_text=_(
            "Partner agency or member-state delegation; by default from the organisation's kind."
        ),
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("service login"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.CASCADE,
        related_name="api_key",
        help_text=_("The login requests with this key act as; it has no password."),
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["hashed_key", "last_used_at"])

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("organisation API key")
        verbose_name_plural = _("organisation API keys")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.organisation.short_name}, {self.prefix})"

    @property
    def caller_key(self) -> str:
        """Who is calling, for idempotency keys and throttling: one key, not its organisation."""
        return f"api-key:{self.prefix}"

    def save(self, *args, **kwargs) -> None:
        if not self.role:
            self.role = default_api_key_role(self.organisation)
        with transaction.atomic():
            self._sync_service_user()
            super().save(*args, **kwargs)

    def _sync_service_user(self) -> None:
        """Create the key's service login, or bring it in line with the key."""
        User = get_user_model()  # noqa: N806
        user = self.user
        if user is None:
            user = User(
                username=f"api-key-{self.prefix}",
                first_name=str(self.name)[:150],
                last_name=self.organisation.short_name[:150],
                is_active=not self.revoked,
            )
            user.set_unusable_password()
            user.save()
            self.user = user
            Representative.objects.create(user=user, organisation=self.organisation, role=self.role)
            return
        if user.is_active == self.revoked:
            user.is_active = not self.revoked
            user.save(update_fields=["is_active"])
        Representative.objects.filter(user=user).exclude(
            organisation=self.organisation, role=self.role
        ).update(organisation=self.organisation, role=self.role)


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key`` header, replayed to retries.

    One per caller (an API key or a login) and key, kept 24 hours. The row is inserted before
    the request is carried out, in the same transaction: a concurrent retry waits on the unique
    index and then replays the stored response instead of acting twice.
    """

    caller = models.CharField(_("caller"), max_length=64)
    key = models.CharField(_("idempotency key"), max_length=255)
    fingerprint = models.CharField(
        _("request fingerprint"),
        max_length=64,
        help_text=_("Hash of the method, path and body: a key reused for another request fails."),
    )
    status_code = models.PositiveSmallIntegerField(_("status"), default=0)
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    response_headers = models.JSONField(_("response headers"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["caller", "key"],
                name="idempotency_key_unique_per_caller",
                violation_error_message=_("This idempotency key was already used by this caller."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.caller} {self.key}"
