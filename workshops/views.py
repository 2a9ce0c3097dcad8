"""The delegation portal: theme rounds, proposals, and what a delegation does with them.

Reads come from the selectors, every write from a service; who may do what is asked of the
django-rules permissions. The views only add the words: why something is refused, what was done.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Case, IntegerField, Prefetch, Q, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from stakeholders.rules import delegation_of

from .enums import ProposalState
from .forms import ProposalForm
from .models import ProposalRound, ProposalSupport, ThemeProposal
from .selectors import proposal_rounds_open, proposals_visible_to
from .services import (
    ProposalError,
    proposal_create,
    proposal_history,
    proposal_submit,
    proposal_support,
    proposal_unsupport,
    proposal_update,
    proposal_withdraw,
)

# Decided proposals first, then those awaiting a decision, drafts and withdrawn ones last.
STATE_ORDER = Case(
    *(
        When(state=state, then=Value(position))
        for position, state in enumerate(
            [
                ProposalState.SELECTED,
                ProposalState.DEFERRED,
                ProposalState.NOT_ENDORSED,
                ProposalState.SUBMITTED,
                ProposalState.DRAFT,
                ProposalState.WITHDRAWN,
            ]
        )
    ),
    output_field=IntegerField(),
)
DRAFTS_FIRST = Case(
    When(state=ProposalState.DRAFT, then=Value(0)), default=Value(1), output_field=IntegerField()
)


def _when(moment) -> str:
    return date_format(timezone.localtime(moment), "j F Y, H:i")


def _round_refusal(round_) -> str | None:
    """Why a round takes no proposals now, or None while it is open."""
    if round_ is None:
        return _("This proposal is not part of a theme round; it cannot be changed here.")
    now = timezone.now()
    if round_.opens_at and round_.opens_at > now:
        return _("This round opens on %(date)s.") % {"date": _when(round_.opens_at)}
    if round_.closes_at and round_.closes_at <= now:
        return _(
            "This round closed on %(date)s: proposals can no longer be added, edited, "
            "submitted or supported."
        ) % {"date": _when(round_.closes_at)}
    return None


def _refusal(*, user, action: str, proposal=None, round_=None) -> str:
    """Words for a refusal the permissions already decided: they explain, they do not decide."""
    delegation = delegation_of(user)
    if delegation is None:
        return _(
            "Only member-state delegations propose, edit, submit or support topics. "
            "Partner agencies, the secretariat and visitors can read the submitted proposals "
            "and their outcomes."
        )
    if proposal is None:
        return _round_refusal(round_) or _("Your delegation cannot propose a topic in this round.")
    own = proposal.proposing_organisation_id == delegation.pk
    state = proposal.get_state_display().lower()
    if action in ("change", "submit", "withdraw"):
        if not own:
            return _("Only the proposing delegation can change, submit or withdraw this proposal.")
        if action == "submit" and proposal.state != ProposalState.DRAFT:
            return _("This proposal is %(state)s; only a draft can be submitted.") % {
                "state": state
            }
        if proposal.state not in (ProposalState.DRAFT, ProposalState.SUBMITTED):
            return _("This proposal is %(state)s; it can no longer be changed.") % {"state": state}
    elif action == "support":
        if own:
            return _("Your delegation proposed this topic; a delegation cannot support its own.")
        if proposal.co_sponsors.filter(pk=delegation.pk).exists():
            return _("Your delegation co-sponsors this proposal, so it cannot also support it.")
        if proposal.supports.filter(organisation=delegation).exists():
            return _("Your delegation already supports this proposal.")
        if proposal.state != ProposalState.SUBMITTED:
            return _("This proposal is %(state)s; only a submitted proposal can be supported.") % {
                "state": state
            }
    elif action == "unsupport" and not proposal.supports.filter(organisation=delegation).exists():
        return _("Your delegation does not support this proposal.")
    return _round_refusal(proposal.round) or _("Your delegation cannot do this.")


def _forbidden(request, message: str):
    return render(
        request,
        "workshops/forbidden.html",
        {"title": _("You cannot do this"), "message": message},
        status=403,
    )


# -- Reading ------------------------------------------------------------------------------------


def round_list(request):
    """Open rounds with their deadlines, rounds still to open, and past rounds with outcomes."""
    now = timezone.now()
    open_rounds = list(proposal_rounds_open(now=now))
    for round_ in open_rounds:
        round_.candidates = [
            p for p in round_.proposals.all() if p.state != ProposalState.WITHDRAWN
        ]
    outcomes = (
        proposals_visible_to(user=request.user)
        .exclude(state__in=[ProposalState.DRAFT, ProposalState.WITHDRAWN])
        .alias(state_order=STATE_ORDER)
        .order_by("state_order", "title")
    )
    past_rounds = (
        ProposalRound.objects.filter(closes_at__lte=now)
        .select_related("decision_meeting")
        .prefetch_related(Prefetch("proposals", queryset=outcomes, to_attr="outcomes"))
        .order_by("-target_year", "kind")
    )
    upcoming_rounds = ProposalRound.objects.filter(opens_at__gt=now).order_by("opens_at")
    return render(
        request,
        "workshops/round_list.html",
        {
            "title": _("Theme rounds"),
            "open_rounds": open_rounds,
            "upcoming_rounds": upcoming_rounds,
            "past_rounds": past_rounds,
        },
    )


def round_detail(request, pk: int):
    round_ = get_object_or_404(
        ProposalRound.objects.select_related("dialogue", "decision_meeting"), pk=pk
    )
    proposals = (
        proposals_visible_to(user=request.user)
        .filter(round=round_)
        .alias(state_order=STATE_ORDER)
        .order_by("state_order", "title")
    )
    return render(
        request,
        "workshops/round_detail.html",
        {
            "title": round_.title,
            "round": round_,
            "proposals": proposals,
            "closed_because": _round_refusal(round_),
            "can_propose": request.user.has_perm("workshops.add_proposal", round_),
        },
    )


def proposal_detail(request, pk: int):
    proposal = get_object_or_404(
        proposals_visible_to(user=request.user).select_related(
            "earlier_version", "decision_meeting"
        ),
        pk=pk,
    )
    user = request.user
    history = list(proposal_history(proposal=proposal))
    for event in history:
        event.from_earlier_version = event.proposal_id != proposal.pk
    return render(
        request,
        "workshops/proposal_detail.html",
        {
            "title": proposal.title,
            "proposal": proposal,
            "supports": proposal.supports.select_related("organisation").order_by(
                "organisation__name"
            ),
            "later_versions": proposal.later_versions.exclude(state=ProposalState.DRAFT)
            .select_related("round")
            .order_by("target_year"),
            "history": history,
            "may": {
                action: user.has_perm(f"workshops.{action}_proposal", proposal)
                for action in ("change", "submit", "withdraw", "support", "unsupport")
            },
        },
    )


@login_required
def my_delegation(request):
    """The proposals of the delegation the login acts for, drafts first, and those it supports."""
    delegation = delegation_of(request.user)
    context = {"title": _("My delegation"), "delegation": delegation}
    if delegation is not None:
        visible = proposals_visible_to(user=request.user)
        own = ThemeProposal.objects.filter(
            Q(proposing_organisation=delegation) | Q(co_sponsors=delegation)
        ).values("pk")
        supported = ProposalSupport.objects.filter(organisation=delegation).values("proposal_id")
        context["proposals"] = (
            visible.filter(pk__in=own)
            .alias(drafts_first=DRAFTS_FIRST)
            .order_by("drafts_first", "-round__target_year", "title")
        )
        context["supported"] = visible.filter(pk__in=supported).order_by(
            "-round__target_year", "title"
        )
    return render(request, "workshops/mine.html", context)


# -- Writing ------------------------------------------------------------------------------------


def _form_page(request, *, form, round_, proposal=None, refusal=None):
    if proposal is None:
        title = _("Propose a topic")
    else:
        title = _("Edit “%(title)s”") % {"title": proposal.title}
    return render(
        request,
        "workshops/proposal_form.html",
        {
            "title": title,
            "form": form,
            "round": round_,
            "proposal": proposal,
            "refusal": refusal,
        },
    )


@login_required
def proposal_propose(request, pk: int):
    round_ = get_object_or_404(ProposalRound, pk=pk)
    delegation = delegation_of(request.user)
    if delegation is None:
        return _forbidden(request, _refusal(user=request.user, action="add", round_=round_))
    allowed = request.user.has_perm("workshops.add_proposal", round_)
    refusal = None if allowed else _refusal(user=request.user, action="add", round_=round_)
    if request.method != "POST":
        return _form_page(request, form=ProposalForm(), round_=round_, refusal=refusal)
    form = ProposalForm(request.POST)
    if form.is_valid():
        if refusal:
            # A form sent after the round closed: keep what was typed, save nothing.
            form.add_error(None, refusal)
        else:
            try:
                proposal = proposal_create(
                    round=round_, delegation=delegation, by=request.user, **form.service_arguments()
                )
            except ProposalError as error:
                form.add_error(None, str(error))
            else:
                messages.success(
                    request,
                    _(
                        "Your draft “%(title)s” is saved. Only your delegation sees it until "
                        "you submit it."
                    )
                    % {"title": proposal.title},
                )
                return redirect("portal:proposal", pk=proposal.pk)
    return _form_page(request, form=form, round_=round_)


@login_required
def proposal_edit(request, pk: int):
    proposal = get_object_or_404(proposals_visible_to(user=request.user), pk=pk)
    delegation = delegation_of(request.user)
    allowed = request.user.has_perm("workshops.change_proposal", proposal)
    refusal = None if allowed else _refusal(user=request.user, action="change", proposal=proposal)
    if not allowed and (delegation is None or proposal.proposing_organisation_id != delegation.pk):
        return _forbidden(request, refusal)
    current_partners = list(proposal.suggested_partners.all())
    if request.method != "POST":
        form = ProposalForm(
            initial=ProposalForm.initial_from(proposal), current_partners=current_partners
        )
        return _form_page(
            request, form=form, round_=proposal.round, proposal=proposal, refusal=refusal
        )
    form = ProposalForm(request.POST, current_partners=current_partners)
    if form.is_valid():
        if refusal:
            form.add_error(None, refusal)
        else:
            try:
                proposal_update(proposal=proposal, by=request.user, **form.service_arguments())
            except ProposalError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Your changes are saved."))
                return redirect("portal:proposal", pk=proposal.pk)
    return _form_page(request, form=form, round_=proposal.round, proposal=proposal)


ACTIONS = {
    "submit": (proposal_submit, False),
    "withdraw": (proposal_withdraw, False),
    "support": (proposal_support, True),
    "unsupport": (proposal_unsupport, True),
}


def _done(action: str, title: str) -> str:
    messages_done = {
        "submit": _("“%(title)s” is submitted: every delegation can now read and support it."),
        "withdraw": _("“%(title)s” is withdrawn."),
        "support": _("Your delegation now supports “%(title)s”."),
        "unsupport": _("Your delegation no longer supports “%(title)s”."),
    }
    return messages_done[action] % {"title": title}


def proposal_action(request, pk: int, action: str):
    """Submit, withdraw, support or withdraw support (POST only); then back to the proposal."""
    if request.method != "POST":
        # A 405, with a page that says where the button is (an address pasted or bookmarked).
        response = render(
            request,
            "workshops/forbidden.html",
            {
                "title": _("Use the buttons on the proposal’s page"),
                "message": _("This address only takes the forms sent from a proposal’s page."),
                "proposal_url": reverse("portal:proposal", args=[pk]),
            },
            status=405,
        )
        response["Allow"] = "POST"
        return response
    return _proposal_action(request, pk=pk, action=action)


@login_required
def _proposal_action(request, *, pk: int, action: str):
    service, needs_delegation = ACTIONS[action]
    proposal = get_object_or_404(proposals_visible_to(user=request.user), pk=pk)
    delegation = delegation_of(request.user)
    allowed = request.user.has_perm(f"workshops.{action}_proposal", proposal)
    if not allowed or (needs_delegation and delegation is None):
        refusal = _refusal(user=request.user, action=action, proposal=proposal)
        if delegation is None:
            return _forbidden(request, refusal)
        messages.error(request, refusal)
        return redirect("portal:proposal", pk=proposal.pk)
    arguments = {"proposal": proposal, "by": request.user}
    if needs_delegation:
        arguments["delegation"] = delegation
    try:
        service(**arguments)
    except ProposalError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _done(action, proposal.title))
    return redirect("portal:proposal", pk=proposal.pk)
