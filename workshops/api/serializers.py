"""Serializers of the theme-proposal API: one shape to read, another to write."""

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, build_choice_field
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from idm.models import PolicyDomain
from stakeholders.models import Organisation
from workshops.enums import ProposalEventKind, ProposalKind, ProposalState
from workshops.models import ProposalEvent, ProposalRound, ThemeProposal
from workshops.services import proposal_history

# --- Named enums -------------------------------------------------------------------------------


class NamedChoiceField(serializers.ChoiceField):
    """A choice field whose choices are one named enum of the schema, whatever the field's name.

    Several fields here are called ``kind`` with different choices (a proposal's, a history
    entry's); a named component keeps the schema's enums apart without a settings entry.
    """

    def __init__(self, *, enum_name: str, **kwargs):
        self.enum_name = enum_name
        super().__init__(**kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = build_choice_field(serializers.ChoiceField(choices=field.choices))
        schema.pop("x-spec-enum-id", None)
        component = ResolvedComponent(
            name=field.enum_name,
            type=ResolvedComponent.SCHEMA,
            object=field.enum_name,
            schema=schema,
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def proposal_kind_field(**kwargs) -> NamedChoiceField:
    return NamedChoiceField(
        enum_name="ProposalKindEnum", choices=ProposalKind.choices, read_only=True, **kwargs
    )


# --- Reading -----------------------------------------------------------------------------------


class OrganisationSummarySerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True, help_text=_("Organisation id."))
    name = serializers.CharField(read_only=True, help_text=_("Name of the organisation."))
    acronym = serializers.CharField(
        read_only=True, help_text=_('Acronym, e.g. "ILO"; empty when it has none.')
    )

    class Meta:
        model = Organisation
        fields = ["id", "name", "acronym"]


class PolicyDomainSummarySerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(read_only=True, help_text=_("Key of the policy domain."))
    name = serializers.CharField(read_only=True, help_text=_("Name of the policy domain."))

    class Meta:
        model = PolicyDomain
        fields = ["slug", "name"]


class ProposalEventSerializer(serializers.ModelSerializer):
    """A step in a proposal's history: "proposed for 2005", "not endorsed", "deferred to 2007"."""

    proposal = serializers.IntegerField(
        source="proposal_id",
        read_only=True,
        help_text=_("Id of the proposal it happened to: this one or an earlier version of it."),
    )
    kind = NamedChoiceField(
        enum_name="ProposalEventKindEnum",
        choices=ProposalEventKind.choices,
        read_only=True,
        help_text=_("What happened."),
    )
    year = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text=_(
            "The year it concerns: the year proposed for, or for a deferral the year deferred to."
        ),
    )
    occurred_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=_("When it was recorded, if known.")
    )
    meeting = serializers.CharField(
        source="meeting.title",
        read_only=True,
        allow_null=True,
        default=None,
        help_text=_("The meeting at which it happened (e.g. the informal consultations), or null."),
    )
    text = serializers.CharField(read_only=True, help_text=_("Note, as recorded; or empty."))

    class Meta:
        model = ProposalEvent
        fields = ["proposal", "kind", "year", "occurred_at", "meeting", "text"]


class ThemeProposalSerializer(serializers.ModelSerializer):
    """A theme or topic proposed by a delegation, with its support and its history."""

    id = serializers.IntegerField(read_only=True, help_text=_("Proposal id."))
    round = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text=_(
            "Id of the round it is proposed in (see /api/v1/proposal-rounds/); null for a topic "
            "proposed outside any round."
        ),
    )
    title = serializers.CharField(read_only=True, help_text=_("The topic, as proposed."))
    rationale = serializers.CharField(
        read_only=True, help_text=_("Why the membership should discuss it.")
    )
    kind = proposal_kind_field(
        help_text=_("A dialogue theme, a workshop topic, or a topic for another forum.")
    )
    target_year = serializers.IntegerField(
        read_only=True, allow_null=True, help_text=_("The year it is proposed for.")
    )
    state = NamedChoiceField(
        enum_name="ProposalStateEnum",
        choices=ProposalState.choices,
        read_only=True,
        help_text=_(
            "draft (seen only by its delegation and the secretariat), submitted, then the "
            "decision: selected, deferred or not_endorsed; or withdrawn."
        ),
    )
    deferred_to_year = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text=_("For a deferred proposal, the year it comes back."),
    )
    earlier_version = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text=_("Id of the earlier proposal this one takes up again (e.g. after a deferral)."),
    )
    proposing_delegation = OrganisationSummarySerializer(
        source="proposing_organisation",
        read_only=True,
        allow_null=True,
        help_text=_("The delegation (or organisation) proposing it."),
    )
    co_sponsors = OrganisationSummarySerializer(
        many=True, read_only=True, help_text=_("Delegations co-sponsoring it.")
    )
    policy_domains = PolicyDomainSummarySerializer(
        many=True, read_only=True, help_text=_("Policy domains it touches.")
    )
    suggested_partners = OrganisationSummarySerializer(
        many=True, read_only=True, help_text=_("Organisations suggested as workshop partners.")
    )
    preferred_quarter = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text=_("Preferred quarter of the year (1-4), or null."),
    )
    support_count = serializers.IntegerField(
        read_only=True, help_text=_("How many delegations support it.")
    )
    supported_by_me = serializers.BooleanField(
        read_only=True, help_text=_("The caller's delegation supports it.")
    )
    history = serializers.SerializerMethodField(
        help_text=_("What happened to it and to its earlier versions, oldest first.")
    )
    created_at = serializers.DateTimeField(read_only=True, help_text=_("When it was created."))
    updated_at = serializers.DateTimeField(read_only=True, help_text=_("When it last changed."))

    class Meta:
        model = ThemeProposal
        fields = [
            "id",
            "round",
            "title",
            "rationale",
            "kind",
            "target_year",
            "state",
            "deferred_to_year",
            "earlier_version",
            "proposing_delegation",
            "co_sponsors",
            "policy_domains",
            "suggested_partners",
            "preferred_quarter",
            "support_count",
            "supported_by_me",
            "history",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, instance):
        # Rows from the selector carry these annotations; a bare instance gets them computed.
        if not hasattr(instance, "support_count"):
            instance.support_count = instance.supports.count()
        if not hasattr(instance, "supported_by_me"):
            instance.supported_by_me = False
        return super().to_representation(instance)

    @extend_schema_field(ProposalEventSerializer(many=True))
    def get_history(self, proposal):
        histories = self.context.get("histories") or {}
        events = histories.get(proposal.pk)
        if events is None:
            events = proposal_history(proposal=proposal)
        return ProposalEventSerializer(events, many=True, context=self.context).data


class ProposalRoundSerializer(serializers.ModelSerializer):
    """A call for themes, e.g. "select two topics for the 2006 inter-sessional workshops"."""

    id = serializers.IntegerField(read_only=True, help_text=_("Round id."))
    title = serializers.CharField(read_only=True, help_text=_("Title of the round."))
    target_year = serializers.IntegerField(
        read_only=True, help_text=_("The year of the dialogue or workshops it selects for.")
    )
    kind = proposal_kind_field(
        help_text=_("What it selects: the dialogue's theme or workshop topics.")
    )
    dialogue = serializers.IntegerField(
        source="dialogue.year",
        read_only=True,
        allow_null=True,
        default=None,
        help_text=_("Year of the dialogue it belongs to, or null."),
    )
    opens_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=_("When it opens; null: open from the start.")
    )
    closes_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=_("The deadline; null while none is set (the round stays open until closed)."),
    )
    is_open = serializers.SerializerMethodField(help_text=_("It takes proposals and support now."))
    topics_to_select = serializers.IntegerField(
        read_only=True, help_text=_("How many topics the membership will select.")
    )
    decision_meeting = serializers.CharField(
        source="decision_meeting.title",
        read_only=True,
        allow_null=True,
        default=None,
        help_text=_("The consultation at which the selection is made, or null."),
    )
    selection_process = serializers.CharField(
        read_only=True, help_text=_("How the selection is made, as stated; or empty.")
    )
    proposal_count = serializers.IntegerField(
        read_only=True, help_text=_("How many submitted or decided proposals it has.")
    )

    class Meta:
        model = ProposalRound
        fields = [
            "id",
            "title",
            "target_year",
            "kind",
            "dialogue",
            "opens_at",
            "closes_at",
            "is_open",
            "topics_to_select",
            "decision_meeting",
            "selection_process",
            "proposal_count",
        ]

    def get_is_open(self, round_) -> bool:
        return round_.is_open(self.context.get("now") or timezone.now())


# --- Writing -----------------------------------------------------------------------------------


class ThemeProposalWriteSerializer(serializers.Serializer):
    """What a delegation writes: a new draft (POST) or changes to its proposal (PATCH)."""

    round = serializers.PrimaryKeyRelatedField(
        queryset=ProposalRound.objects.all(),
        help_text=_(
            "Id of an open round to propose in (see /api/v1/proposal-rounds/?open=true). "
            "Set on creation; a proposal stays in its round."
        ),
    )
    title = serializers.CharField(
        max_length=255, help_text=_("The topic as the membership would read it.")
    )
    rationale = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Why the membership should discuss this topic, and why now."),
    )
    policy_domains = serializers.SlugRelatedField(
        many=True,
        slug_field="slug",
        queryset=PolicyDomain.objects.all(),
        required=False,
        help_text=_("Keys (slugs) of the policy domains the topic touches."),
    )
    suggested_partners = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=Organisation.objects.all(),
        required=False,
        help_text=_("Ids of organisations suggested as workshop partners."),
    )
    preferred_quarter = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=4,
        help_text=_("Preferred quarter of the year (1-4); null for no preference."),
    )

    def validate_title(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError(_("A proposal needs a title."))
        return value

    def validate_round(self, round_: ProposalRound) -> ProposalRound:
        if self.instance is not None:
            if round_.pk != self.instance.round_id:
                raise serializers.ValidationError(
                    _("A proposal stays in the round it was made in.")
                )
            return round_
        now = timezone.now()
        if not round_.has_opened(now):
            raise serializers.ValidationError(
                _("This round opens on %(date)s; it takes no proposals yet.")
                % {"date": date_format(timezone.localtime(round_.opens_at), "j F Y, H:i")}
            )
        if round_.is_past_deadline(now):
            raise serializers.ValidationError(
                _("This round closed on %(date)s; it takes no more proposals.")
                % {"date": date_format(timezone.localtime(round_.closes_at), "j F Y, H:i")}
            )
        return round_
