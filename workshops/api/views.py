"""The theme-proposal API: delegations propose, submit, withdraw and support; anyone reads.

Who may act is asked of the rules (``workshops/rules.py``) through the API's shared permission
class, before any request body is read: 401 without credentials, 403 for a proposal the caller
may see but not act on, 404 for one it may not see (another delegation's draft). What the
services refuse (a second support, a closed round) is a 400. Errors take the API's one shape
(``config.api.exception_handler``).
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from config.api import ApiPagination, Refused, RulesPermission, error_response
from stakeholders.rules import delegation_of
from workshops import rules as proposal_rules
from workshops.filters import ProposalRoundFilter, ThemeProposalFilter
from workshops.models import ThemeProposal
from workshops.selectors import proposal_histories, proposal_rounds, proposals_visible_to
from workshops.services import (
    WorkshopsError,
    proposal_create,
    proposal_submit,
    proposal_support,
    proposal_unsupport,
    proposal_update,
    proposal_withdraw,
)

from .serializers import (
    ProposalRoundSerializer,
    ThemeProposalSerializer,
    ThemeProposalWriteSerializer,
)


def refusal(user, action_name: str, proposal: ThemeProposal | None = None) -> str:
    """Why the rules refuse ``action_name``: words for a decision already taken, not a rule."""
    if not user.is_authenticated:
        return _("Log in as a member-state delegate to do this.")
    delegation = delegation_of(user)
    if delegation is None:
        return _(
            "Only member-state delegations propose, edit, submit or support proposals; partner "
            "agencies, the secretariat and visitors read them."
        )
    if proposal is None:
        return _("Your delegation cannot propose a topic in this round.")
    state = proposal.get_state_display().lower()
    if action_name in ("partial_update", "update", "submit", "withdraw"):
        if not proposal_rules.is_own_delegation(user, proposal):
            return _("Only the proposing delegation can change, submit or withdraw this proposal.")
        if action_name == "submit" and proposal.state != "draft":
            return _("This proposal is %(state)s; only a draft can be submitted.") % {
                "state": state
            }
        if not proposal_rules.is_editable(user, proposal):
            return _("This proposal is %(state)s; it can no longer be changed.") % {"state": state}
        return _("The round has closed: the proposal can no longer be changed.")
    if action_name == "support":
        if proposal_rules.is_own_delegation(user, proposal) or proposal_rules.is_co_sponsor(
            user, proposal
        ):
            return _(
                "Your delegation proposes or co-sponsors this proposal; supporting one's own "
                "proposal is not possible."
            )
        if proposal.state != "submitted":
            return _("This proposal is %(state)s; only a submitted proposal can be supported.") % {
                "state": state
            }
        return _("Support is taken only while the proposal's round is open.")
    if action_name == "unsupport":
        if not proposal_rules.supported_by_own_delegation(user, proposal):
            return _("Your delegation does not support this proposal.")
        return _("Support can be withdrawn only while the proposal's round is open.")
    return _("You may not do this.")


class ProposalPermission(RulesPermission):
    """The shared rules permission, and: proposing is asked before the request body is read.

    A new proposal has no object to ask about yet, so ``workshops.add_proposal`` is asked
    without one (is the caller a delegate?); the round it names is asked about once read.
    """

    def has_permission(self, request, view) -> bool:
        if view.action == "create" and not request.user.has_perm("workshops.add_proposal"):
            self._deny(request, view, None)
        return super().has_permission(request, view)


REFUSED = error_response(
    gettext_lazy(
        "Bad input (code invalid, with the messages per field), or refused by the service "
        "(code refused): the round is closed, the delegation already supports it…"
    )
)
UNAUTHENTICATED = error_response(gettext_lazy("No credentials, or invalid ones."))
FORBIDDEN = error_response(gettext_lazy("The caller may see the proposal but not do this."))
NOT_FOUND = error_response(gettext_lazy("No such proposal among those the caller may see."))
ERRORS = {400: REFUSED, 401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND}


def _transition_schema(summary: str, description: str):
    return extend_schema(
        summary=summary,
        description=description,
        request=None,
        responses={200: ThemeProposalSerializer, **ERRORS},
    )


@extend_schema_view(
    list=extend_schema(
        summary=gettext_lazy("Theme proposals the caller may see"),
        description=gettext_lazy(
            "Submitted and decided proposals for everyone; a delegate also sees its "
            "delegation's drafts and withdrawn proposals; the secretariat sees all."
        ),
    ),
    retrieve=extend_schema(
        summary=gettext_lazy("One theme proposal, with its history"),
        responses={200: ThemeProposalSerializer, 404: NOT_FOUND},
    ),
    create=extend_schema(
        summary=gettext_lazy("Propose a topic (a draft of the caller's delegation)"),
        description=gettext_lazy(
            "Only a member-state delegate may propose, in an open round. The draft is seen "
            "only by its delegation and the secretariat until it is submitted."
        ),
        request=ThemeProposalWriteSerializer,
        responses={
            201: ThemeProposalSerializer,
            400: REFUSED,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
        },
    ),
    partial_update=extend_schema(
        summary=gettext_lazy("Edit a draft or submitted proposal of the caller's delegation"),
        description=gettext_lazy("Until the round's deadline. The round cannot change."),
        request=ThemeProposalWriteSerializer,
        responses={200: ThemeProposalSerializer, **ERRORS},
    ),
)
class ThemeProposalViewSet(viewsets.ModelViewSet):
    """Theme and topic proposals of the delegations. Withdraw a proposal instead of deleting it."""

    permission_classes = [ProposalPermission]
    # "read": None: the queryset is what the caller may see (a 404 for the rest).
    rules_permissions = {
        "read": None,
        "update": "workshops.change_proposal",
        "partial_update": "workshops.change_proposal",
        "submit": "workshops.submit_proposal",
        "withdraw": "workshops.withdraw_proposal",
        "support": "workshops.support_proposal",
        "unsupport": "workshops.unsupport_proposal",
    }
    pagination_class = ApiPagination
    filterset_class = ThemeProposalFilter
    serializer_class = ThemeProposalSerializer
    # No PUT (PATCH edits) and no DELETE (withdraw instead): both answer 405.
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return proposals_visible_to(user=self.request.user)

    def get_serializer_class(self):
        if self.action in ("create", "partial_update", "update"):
            return ThemeProposalWriteSerializer
        return ThemeProposalSerializer

    def refusal(self, action_name: str, proposal: ThemeProposal | None) -> str:
        return refusal(self.request.user, action_name, proposal)

    def _read(self, proposal: ThemeProposal, status_code: int = status.HTTP_200_OK) -> Response:
        """The proposal as the caller now sees it (with its fresh counts and history)."""
        fresh = self.get_queryset().filter(pk=proposal.pk).first() or proposal
        serializer = ThemeProposalSerializer(fresh, context=self.get_serializer_context())
        return Response(serializer.data, status=status_code)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        context = {
            **self.get_serializer_context(),
            "histories": proposal_histories(proposals=rows),
        }
        data = ThemeProposalSerializer(rows, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request, *args, **kwargs):
        return self._read(self.get_object())

    def create(self, request, *args, **kwargs):
        serializer = ThemeProposalWriteSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        round_ = data.pop("round")
        delegation = delegation_of(request.user)
        if delegation is None or not request.user.has_perm("workshops.add_proposal", round_):
            raise PermissionDenied(refusal(request.user, "create"))
        try:
            proposal = proposal_create(round=round_, delegation=delegation, by=request.user, **data)
        except WorkshopsError as error:
            raise Refused(error.message) from None
        return self._read(proposal, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        proposal = self.get_object()  # 404 or 403 before the body is read
        serializer = ThemeProposalWriteSerializer(
            proposal, data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("round", None)
        try:
            proposal_update(proposal=proposal, by=request.user, **data)
        except WorkshopsError as error:
            raise Refused(error.message) from None
        return self._read(proposal)

    def _act(self, service, *, as_delegation: bool) -> Response:
        proposal = self.get_object()
        arguments = {"proposal": proposal, "by": self.request.user}
        if as_delegation:
            delegation = delegation_of(self.request.user)
            if delegation is None:
                raise PermissionDenied(refusal(self.request.user, self.action, proposal))
            arguments["delegation"] = delegation
        try:
            service(**arguments)
        except WorkshopsError as error:
            raise Refused(error.message) from None
        return self._read(proposal)

    @_transition_schema(
        gettext_lazy("Submit a draft"),
        gettext_lazy(
            "Draft → submitted, before the round's deadline: every delegation can then read "
            "and support it."
        ),
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._act(proposal_submit, as_delegation=False)

    @_transition_schema(
        gettext_lazy("Withdraw a proposal"),
        gettext_lazy("A draft or submitted proposal, before the round's deadline."),
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._act(proposal_withdraw, as_delegation=False)

    @_transition_schema(
        gettext_lazy("Support a proposal of another delegation"),
        gettext_lazy(
            "Once per delegation, while the round is open; not one's own or a co-sponsored one."
        ),
    )
    @action(detail=True, methods=["post"])
    def support(self, request, pk=None):
        return self._act(proposal_support, as_delegation=True)

    @_transition_schema(
        gettext_lazy("Withdraw the delegation's support"),
        gettext_lazy("While the round is open."),
    )
    @action(detail=True, methods=["post"])
    def unsupport(self, request, pk=None):
        return self._act(proposal_unsupport, as_delegation=True)


@extend_schema_view(
    list=extend_schema(summary=gettext_lazy("Proposal rounds, latest first")),
    retrieve=extend_schema(
        summary=gettext_lazy("One proposal round"),
        responses={
            200: ProposalRoundSerializer,
            404: error_response(gettext_lazy("No such round.")),
        },
    ),
)
class ProposalRoundViewSet(viewsets.ReadOnlyModelViewSet):
    """Calls for dialogue themes and workshop topics, with their deadlines. Public."""

    permission_classes = [AllowAny]
    pagination_class = ApiPagination
    serializer_class = ProposalRoundSerializer
    filterset_class = ProposalRoundFilter

    def get_queryset(self):
        return proposal_rounds()
