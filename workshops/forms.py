"""Forms of the delegation portal. They only read and clean input; the services do the writing."""

from django import forms
from django.utils.translation import gettext_lazy as _

from idm.models import PolicyDomain
from stakeholders.enums import OrganisationKind
from stakeholders.models import Organisation

# Organisations a delegation may suggest as workshop partners: not states or their ministries.
PARTNER_KINDS = [
    OrganisationKind.UN_AGENCY,
    OrganisationKind.INTERGOVERNMENTAL,
    OrganisationKind.REGIONAL_CONSULTATIVE_PROCESS,
    OrganisationKind.REGIONAL_ECONOMIC_BODY,
    OrganisationKind.GLOBAL_FORUM,
    OrganisationKind.NGO,
    OrganisationKind.DIASPORA,
    OrganisationKind.BUSINESS,
    OrganisationKind.TRADE_UNION,
    OrganisationKind.ACADEMIC,
    OrganisationKind.OTHER,
]

QUARTER_CHOICES = [
    ("", _("No preference")),
    (1, _("First quarter (January to March)")),
    (2, _("Second quarter (April to June)")),
    (3, _("Third quarter (July to September)")),
    (4, _("Fourth quarter (October to December)")),
]


def partner_organisations():
    return Organisation.objects.filter(kind__in=PARTNER_KINDS).order_by("name")


class ProposalForm(forms.Form):
    """A theme proposal as a delegation writes it: the fields ``proposal_create`` takes."""

    title = forms.CharField(
        label=_("Title"),
        max_length=255,
        help_text=_("The topic as the membership would read it on the list of candidates."),
    )
    rationale = forms.CharField(
        label=_("Rationale"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Why the membership should discuss this topic, and why now."),
    )
    policy_domains = forms.ModelMultipleChoiceField(
        label=_("Policy domains"),
        queryset=PolicyDomain.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Tick every domain the topic touches."),
    )
    suggested_partners = forms.TypedMultipleChoiceField(
        label=_("Suggested partner organisations"),
        coerce=int,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text=_(
            "Organisations that could co-organise or contribute. "
            "Hold Ctrl (Cmd on a Mac) to choose more than one."
        ),
    )
    preferred_quarter = forms.TypedChoiceField(
        label=_("Preferred quarter"),
        choices=QUARTER_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
    )

    def __init__(self, *args, current_partners=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Partners already on a proposal stay choosable, so that saving it does not drop them.
        self._partners = {org.pk: org for org in partner_organisations()}
        self._partners.update((org.pk, org) for org in current_partners)
        groups: dict[str, list[tuple[int, str]]] = {}
        for org in self._partners.values():
            groups.setdefault(org.get_kind_display(), []).append((org.pk, str(org)))
        self.fields["suggested_partners"].choices = [
            (kind, sorted(options, key=lambda option: option[1].casefold()))
            for kind, options in sorted(groups.items())
        ]

    def clean_title(self):
        return self.cleaned_data["title"].strip()

    def clean_suggested_partners(self):
        return [self._partners[pk] for pk in self.cleaned_data["suggested_partners"]]

    @staticmethod
    def initial_from(proposal) -> dict:
        return {
            "title": proposal.title,
            "rationale": proposal.rationale,
            "policy_domains": list(proposal.policy_domains.all()),
            "suggested_partners": [org.pk for org in proposal.suggested_partners.all()],
            "preferred_quarter": proposal.preferred_quarter or "",
        }

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "rationale": data["rationale"],
            "policy_domains": list(data["policy_domains"]),
            "suggested_partners": data["suggested_partners"],
            "preferred_quarter": data["preferred_quarter"],
        }
