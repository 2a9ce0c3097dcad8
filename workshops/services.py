"""Domain actions on theme rounds and proposals: propose, support, decide, carry over, notify.

Every write goes through a function here (keyword-only, ``<entity>_<action>``). Who may call
them is for the caller to ask of the rules (``workshops/rules.py``); the functions themselves
re-check the domain: the round's dates, the proposal's state, one support per delegation, how
many topics a round selects. A refusal is a ``WorkshopsError`` whose message is a readable
sentence, and nothing is half-written: each function is one transaction, and those that change a
proposal's state hold its row lock while they read it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from config.mail import messages_delivered
from config.queue import enqueue_on_commit
from idm.models import Meeting, PolicyDomain
from stakeholders.models import Organisation

from .enums import (
    PartnerRole,
    ProposalEventKind,
    ProposalKind,
    ProposalState,
    WorkshopKind,
    WorkshopStatus,
)
from .models import (
    ProposalEvent,
    ProposalRound,
    ProposalSupport,
    ThemeProposal,
    Workshop,
    WorkshopPartner,
)
from .selectors import proposal_histories

logger = logging.getLogger(__name__)
User = get_user_model()

OUTCOMES = (ProposalState.SELECTED, ProposalState.DEFERRED, ProposalState.NOT_ENDORSED)
EDITABLE_STATES = (ProposalState.DRAFT, ProposalState.SUBMITTED)


# --- Errors ------------------------------------------------------------------------------------


class WorkshopsError(Exception):
    """A domain rule of the workshops app refused an action; ``message`` says why."""

    def __init__(self, message: str):
        self.message = str(message)
        super().__init__(self.message)


class ProposalError(WorkshopsError):
    """A theme proposal cannot be created, changed, supported or decided as asked."""


class SelectionLimitError(ProposalError):
    """Selecting this proposal would select more topics than the round allows."""

    def __init__(self, message: str, *, limit: int, selected: list[str]):
        self.limit = limit
        self.selected = selected
        super().__init__(message)


class RoundError(WorkshopsError):
    """A proposal round cannot be created or closed as asked."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


# --- Helpers -----------------------------------------------------------------------------------


def _when(moment) -> str:
    return date_format(timezone.localtime(moment), "j F Y, H:i")


def _state_text(proposal: ThemeProposal) -> str:
    return str(ProposalState(proposal.state).label).lower()


def _locked(proposal: ThemeProposal) -> ThemeProposal:
    """The proposal re-read under its row lock (with its round, which is not locked)."""
    return (
        ThemeProposal.objects.select_for_update(of=("self",))
        .select_related("round")
        .get(pk=proposal.pk)
    )


def _refuse_after_deadline(proposal: ThemeProposal, now, doing: str) -> None:
    round_ = proposal.round
    if round_ is not None and round_.is_past_deadline(now):
        raise ProposalError(
            _("“%(round)s” closed on %(date)s: the proposal can no longer be %(doing)s.")
            % {"round": round_.title, "date": _when(round_.closes_at), "doing": doing}
        )


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ProposalError(_("A proposal needs a title."))
    if len(title) > ThemeProposal._meta.get_field("title").max_length:
        raise ProposalError(_("The title is too long: 255 characters at most."))
    return title


def _check_quarter(quarter: int | None) -> None:
    if quarter is not None and quarter not in (1, 2, 3, 4):
        raise ProposalError(_("The preferred quarter is 1, 2, 3 or 4."))


def _event(proposal: ThemeProposal, kind: str, *, by, now, year=None, meeting=None, text=""):
    return ProposalEvent.objects.create(
        proposal=proposal,
        kind=kind,
        year=year if year is not None else proposal.target_year,
        occurred_at=now,
        meeting=meeting,
        text=text,
        by=by,
    )


def _save(obj, by, **kwargs) -> None:
    """Save with the history row attributed to ``by`` (when the call comes from no request)."""
    if by is not None and getattr(by, "pk", None) is not None:
        obj._history_user = by
    obj.save(**kwargs)


def _full_clean(obj, error_class: type[WorkshopsError]) -> None:
    try:
        obj.full_clean()
    except ValidationError as error:
        raise error_class(" ".join(error.messages)) from error


# --- Rounds ------------------------------------------------------------------------------------


@transaction.atomic
def round_create(*, by, **fields) -> ProposalRound:
    """A new round; proposals already deferred to its year and kind are carried into it."""
    round_ = ProposalRound(**fields)
    _full_clean(round_, RoundError)
    _save(round_, by)
    deferred = (
        ThemeProposal.objects.select_for_update()
        .filter(
            state=ProposalState.DEFERRED,
            deferred_to_year=round_.target_year,
            kind=round_.kind,
        )
        .order_by("title", "pk")
    )
    now = timezone.now()
    for proposal in deferred:
        _carry_over(proposal=proposal, into=round_, by=by, now=now)
    return round_


@transaction.atomic
def round_close(*, round: ProposalRound, by) -> ProposalRound:  # noqa: A002 - the contract's name
    """Close the round now (it takes no more proposals or support); a closed round stays so."""
    round_ = ProposalRound.objects.select_for_update().get(pk=round.pk)
    now = timezone.now()
    if round_.is_past_deadline(now):
        return round_
    if round_.opens_at is not None and round_.opens_at >= now:
        raise RoundError(
            _("“%(round)s” opens only on %(date)s; change its dates instead of closing it.")
            % {"round": round_.title, "date": _when(round_.opens_at)}
        )
    round_.closes_at = now
    _save(round_, by, update_fields=["closes_at", "updated_at"])
    return round_


# --- Proposals by a delegation -----------------------------------------------------------------


@transaction.atomic
def proposal_create(
    *,
    round: ProposalRound,  # noqa: A002 - the contract's name
    delegation: Organisation,
    by,
    title: str,
    rationale: str,
    policy_domains: Iterable[PolicyDomain] = (),
    suggested_partners: Iterable[Organisation] = (),
    preferred_quarter: int | None = None,
) -> ThemeProposal:
    """A draft proposal of ``delegation`` in an open round; only the delegation sees it yet."""
    round_ = ProposalRound.objects.get(pk=round.pk)
    now = timezone.now()
    if not round_.has_opened(now):
        raise ProposalError(
            _("“%(round)s” opens on %(date)s; proposals are taken from then.")
            % {"round": round_.title, "date": _when(round_.opens_at)}
        )
    if round_.is_past_deadline(now):
        raise ProposalError(
            _("“%(round)s” closed on %(date)s; it takes no more proposals.")
            % {"round": round_.title, "date": _when(round_.closes_at)}
        )
    if delegation is None:
        raise ProposalError(_("A proposal needs the delegation proposing it."))
    _check_quarter(preferred_quarter)
    proposal = ThemeProposal(
        title=_clean_title(title),
        rationale=(rationale or "").strip(),
        kind=round_.kind,
        round=round_,
        target_year=round_.target_year,
        proposing_organisation=delegation,
        preferred_quarter=preferred_quarter,
        state=ProposalState.DRAFT,
        created_by=by,
    )
    _save(proposal, by)
    proposal.policy_domains.set(policy_domains)
    proposal.suggested_partners.set(suggested_partners)
    return proposal


@transaction.atomic
def proposal_update(
    *,
    proposal: ThemeProposal,
    by,
    title: str | None = None,
    rationale: str | None = None,
    policy_domains: Iterable[PolicyDomain] | None = None,
    suggested_partners: Iterable[Organisation] | None = None,
    preferred_quarter: int | None | _Unset = UNSET,
) -> ThemeProposal:
    """Edit a draft or submitted proposal before the deadline.

    An argument left out (``None``) stays as it is, except ``preferred_quarter``: passing
    ``None`` there clears it ("no preference").
    """
    proposal = _locked(proposal)
    if proposal.state not in EDITABLE_STATES:
        raise ProposalError(
            _("This proposal is %(state)s; only a draft or a submitted proposal can be edited.")
            % {"state": _state_text(proposal)}
        )
    _refuse_after_deadline(proposal, timezone.now(), _("edited"))
    fields = []
    if title is not None:
        proposal.title = _clean_title(title)
        fields.append("title")
    if rationale is not None:
        proposal.rationale = rationale.strip()
        fields.append("rationale")
    if preferred_quarter is not UNSET:
        _check_quarter(preferred_quarter)
        proposal.preferred_quarter = preferred_quarter
        fields.append("preferred_quarter")
    if fields:
        _save(proposal, by, update_fields=[*fields, "updated_at"])
    if policy_domains is not None:
        proposal.policy_domains.set(policy_domains)
    if suggested_partners is not None:
        proposal.suggested_partners.set(suggested_partners)
    return proposal


@transaction.atomic
def proposal_submit(*, proposal: ThemeProposal, by) -> ThemeProposal:
    """Draft → submitted: every delegation may now read and support it. Twice is once."""
    proposal = _locked(proposal)
    if proposal.state == ProposalState.SUBMITTED:
        return proposal
    if proposal.state != ProposalState.DRAFT:
        raise ProposalError(
            _("This proposal is %(state)s; only a draft can be submitted.")
            % {"state": _state_text(proposal)}
        )
    now = timezone.now()
    _refuse_after_deadline(proposal, now, _("submitted"))
    if proposal.round is not None and not proposal.round.has_opened(now):
        raise ProposalError(
            _("“%(round)s” opens on %(date)s; the proposal can be submitted from then.")
            % {"round": proposal.round.title, "date": _when(proposal.round.opens_at)}
        )
    proposal.state = ProposalState.SUBMITTED
    _save(proposal, by, update_fields=["state", "updated_at"])
    _event(proposal, ProposalEventKind.SUBMITTED, by=by, now=now)
    return proposal


@transaction.atomic
def proposal_withdraw(*, proposal: ThemeProposal, by) -> ThemeProposal:
    """Withdraw a draft or submitted proposal before the deadline. Twice is once."""
    proposal = _locked(proposal)
    if proposal.state == ProposalState.WITHDRAWN:
        return proposal
    if proposal.state not in EDITABLE_STATES:
        raise ProposalError(
            _("This proposal is %(state)s; only a draft or a submitted proposal can be withdrawn.")
            % {"state": _state_text(proposal)}
        )
    now = timezone.now()
    _refuse_after_deadline(proposal, now, _("withdrawn"))
    proposal.state = ProposalState.WITHDRAWN
    _save(proposal, by, update_fields=["state", "updated_at"])
    _event(proposal, ProposalEventKind.WITHDRAWN, by=by, now=now)
    return proposal


@transaction.atomic
def proposal_co_sponsor_add(
    *, proposal: ThemeProposal, delegation: Organisation, by
) -> ThemeProposal:
    """``delegation`` co-sponsors the proposal (its support, if any, becomes co-sponsorship)."""
    proposal = _locked(proposal)
    if proposal.state not in EDITABLE_STATES:
        raise ProposalError(
            _("This proposal is %(state)s; co-sponsors are added to a draft or submitted one.")
            % {"state": _state_text(proposal)}
        )
    now = timezone.now()
    _refuse_after_deadline(proposal, now, _("co-sponsored"))
    if delegation.pk == proposal.proposing_organisation_id:
        raise ProposalError(_("The proposing delegation cannot also co-sponsor its proposal."))
    if proposal.co_sponsors.filter(pk=delegation.pk).exists():
        return proposal
    proposal.co_sponsors.add(delegation)
    ProposalSupport.objects.filter(proposal=proposal, organisation=delegation).delete()
    _event(
        proposal,
        ProposalEventKind.NOTE,
        by=by,
        now=now,
        text=_("Co-sponsored by %(delegation)s.") % {"delegation": delegation.short_name},
    )
    return proposal


# --- Support -----------------------------------------------------------------------------------


@transaction.atomic
def proposal_support(*, proposal: ThemeProposal, delegation: Organisation, by) -> ProposalSupport:
    """``delegation`` supports another delegation's submitted proposal, once, while open."""
    proposal = _locked(proposal)
    if proposal.state != ProposalState.SUBMITTED:
        raise ProposalError(
            _("This proposal is %(state)s; only a submitted proposal can be supported.")
            % {"state": _state_text(proposal)}
        )
    now = timezone.now()
    round_ = proposal.round
    if round_ is None or not round_.is_open(now):
        raise ProposalError(_("Support is taken only while the proposal's round is open."))
    if delegation is None:
        raise ProposalError(_("Only a delegation can support a proposal."))
    if (
        delegation.pk == proposal.proposing_organisation_id
        or proposal.co_sponsors.filter(pk=delegation.pk).exists()
    ):
        raise ProposalError(
            _(
                "Your delegation proposes or co-sponsors this proposal; supporting one's own "
                "proposal is not possible."
            )
        )
    try:
        with transaction.atomic():  # a savepoint: the transaction survives the refusal
            return ProposalSupport.objects.create(proposal=proposal, organisation=delegation, by=by)
    except IntegrityError as error:
        raise ProposalError(_("Your delegation already supports this proposal.")) from error


@transaction.atomic
def proposal_unsupport(*, proposal: ThemeProposal, delegation: Organisation, by) -> None:
    """``delegation`` withdraws its support while the round is open (none left: nothing to do)."""
    proposal = _locked(proposal)
    round_ = proposal.round
    if round_ is None or not round_.is_open():
        raise ProposalError(_("Support can be withdrawn only while the proposal's round is open."))
    ProposalSupport.objects.filter(proposal=proposal, organisation=delegation).delete()


# --- Decisions ---------------------------------------------------------------------------------


@transaction.atomic
def proposal_decide(
    *,
    proposal: ThemeProposal,
    outcome: str,
    by,
    meeting: Meeting | None = None,
    note: str = "",
    deferred_to_year: int | None = None,
    confirm_over_limit: bool = False,
) -> ThemeProposal:
    """The membership's decision on a submitted proposal, recorded by the secretariat.

    Only once the round has closed. Selecting more topics than the round selects needs
    ``confirm_over_limit``. A deferred proposal comes back as a submitted proposal in the round
    of its new year: now, if that round exists, or when ``round_create`` makes it. The
    proposing and co-sponsoring delegations are emailed once the decision is committed.
    """
    if outcome not in OUTCOMES:
        raise ProposalError(
            _("Unknown decision “%(outcome)s”: a proposal is selected, deferred or not endorsed.")
            % {"outcome": outcome}
        )
    proposal = _locked(proposal)
    if proposal.state != ProposalState.SUBMITTED:
        raise ProposalError(
            _("“%(title)s” is %(state)s; only a submitted proposal can be decided.")
            % {"title": proposal.title, "state": _state_text(proposal)}
        )
    now = timezone.now()
    round_ = proposal.round
    if round_ is not None:
        round_ = ProposalRound.objects.select_for_update().get(pk=round_.pk)
        if round_.closes_at is None:
            raise ProposalError(
                _(
                    "“%(round)s” has no closing date and is still open: close the round before "
                    "recording decisions."
                )
                % {"round": round_.title}
            )
        if round_.closes_at > now:
            raise ProposalError(
                _("“%(round)s” is open until %(date)s; decisions are recorded once it has closed.")
                % {"round": round_.title, "date": _when(round_.closes_at)}
            )
    target_year = proposal.target_year or (round_.target_year if round_ else None)
    if outcome == ProposalState.DEFERRED:
        if deferred_to_year is None:
            raise ProposalError(_("A deferred proposal needs the year it is deferred to."))
        if target_year is not None and deferred_to_year <= target_year:
            raise ProposalError(
                _("A proposal for %(year)s can only be deferred to a later year.")
                % {"year": target_year}
            )
    elif deferred_to_year is not None:
        raise ProposalError(_("Only a deferred proposal has a year it is deferred to."))
    if outcome == ProposalState.SELECTED and round_ is not None and not confirm_over_limit:
        selected = list(
            round_.proposals.filter(state=ProposalState.SELECTED)
            .order_by("title")
            .values_list("title", flat=True)
        )
        if len(selected) >= round_.topics_to_select:
            raise SelectionLimitError(
                _(
                    "“%(round)s” selects %(limit)s topic(s) and %(count)s already are: "
                    "%(titles)s. Confirm to select “%(title)s” as well."
                )
                % {
                    "round": round_.title,
                    "limit": round_.topics_to_select,
                    "count": len(selected),
                    "titles": "; ".join(selected),
                    "title": proposal.title,
                },
                limit=round_.topics_to_select,
                selected=selected,
            )
    if meeting is None and round_ is not None:
        meeting = round_.decision_meeting
    proposal.state = outcome
    proposal.deferred_to_year = deferred_to_year
    proposal.decided_at = now
    proposal.decided_by = by
    proposal.decision_meeting = meeting
    proposal.decision_note = note or ""
    _save(
        proposal,
        by,
        update_fields=[
            "state",
            "deferred_to_year",
            "decided_at",
            "decided_by",
            "decision_meeting",
            "decision_note",
            "updated_at",
        ],
    )
    _event(
        proposal,
        outcome,
        by=by,
        now=now,
        year=deferred_to_year if outcome == ProposalState.DEFERRED else target_year,
        meeting=meeting,
        text=note or "",
    )
    if outcome == ProposalState.DEFERRED:
        next_round = ProposalRound.objects.filter(
            target_year=deferred_to_year, kind=proposal.kind
        ).first()
        if next_round is not None:
            _carry_over(proposal=proposal, into=next_round, by=by, now=now)

    from .tasks import notify_proposal_decision_task  # the task module imports this one

    enqueue_on_commit(notify_proposal_decision_task, proposal_id=proposal.pk)
    return proposal


def _carry_over(*, proposal: ThemeProposal, into: ProposalRound, by, now) -> ThemeProposal:
    """The deferred ``proposal`` submitted again in the round of its new year (once)."""
    existing = proposal.later_versions.filter(round=into).first()
    if existing is not None:
        return existing
    carried = ThemeProposal(
        title=proposal.title,
        rationale=proposal.rationale,
        kind=into.kind,
        round=into,
        target_year=into.target_year,
        target_forum=proposal.target_forum,
        target_text=proposal.target_text,
        proposing_organisation=proposal.proposing_organisation,
        preferred_quarter=proposal.preferred_quarter,
        state=ProposalState.SUBMITTED,
        earlier_version=proposal,
        created_by=by,
    )
    _save(carried, by)
    carried.co_sponsors.set(proposal.co_sponsors.all())
    carried.policy_domains.set(proposal.policy_domains.all())
    carried.suggested_partners.set(proposal.suggested_partners.all())
    carried.proposed_by_people.set(proposal.proposed_by_people.all())
    _event(
        carried,
        ProposalEventKind.PROPOSED,
        by=by,
        now=now,
        year=into.target_year,
        text=_("Carried over from %(year)s, where it was deferred to %(to)s.")
        % {"year": proposal.target_year or "?", "to": into.target_year},
    )
    return carried


def proposal_history(*, proposal: ThemeProposal) -> list[ProposalEvent]:
    """Everything that happened to the proposal and its earlier versions, oldest first."""
    return proposal_histories(proposals=[proposal])[proposal.pk]


# --- From a selected topic to a workshop -------------------------------------------------------

QUARTER_TEXT = {
    1: "first quarter of %(year)s",
    2: "second quarter of %(year)s",
    3: "third quarter of %(year)s",
    4: "fourth quarter of %(year)s",
}


@transaction.atomic
def workshop_create_from_proposal(*, proposal: ThemeProposal, by) -> Workshop:
    """A planned inter-sessional workshop on a selected topic, with its partners carried over."""
    proposal = _locked(proposal)
    if proposal.state != ProposalState.SELECTED:
        raise ProposalError(
            _("“%(title)s” is %(state)s; only a selected topic becomes a workshop.")
            % {"title": proposal.title, "state": _state_text(proposal)}
        )
    if proposal.kind != ProposalKind.WORKSHOP_TOPIC:
        raise ProposalError(
            _("“%(title)s” is not a workshop topic; only a workshop topic becomes a workshop.")
            % {"title": proposal.title}
        )
    if proposal.workshop_id is not None:
        raise ProposalError(
            _("“%(title)s” is already planned as the workshop “%(workshop)s”.")
            % {"title": proposal.title, "workshop": proposal.workshop}
        )
    year = proposal.target_year or (proposal.round.target_year if proposal.round else None)
    date_text = ""
    if proposal.preferred_quarter and year:
        date_text = QUARTER_TEXT[proposal.preferred_quarter] % {"year": year}
    workshop = Workshop(
        title=proposal.title,
        kind=WorkshopKind.IDM_INTERSESSIONAL,
        dialogue=proposal.round.dialogue if proposal.round else None,
        status=WorkshopStatus.PLANNED,
        date_text=date_text,
        description=proposal.rationale,
    )
    _save(workshop, by)
    partners = [(org, PartnerRole.PARTNER) for org in proposal.suggested_partners.all()]
    requesters = [proposal.proposing_organisation, *proposal.co_sponsors.all()]
    partners += [(org, PartnerRole.REQUESTED_BY) for org in requesters if org is not None]
    seen = set()
    rows = []
    for organisation, role in partners:
        if (organisation.pk, role) not in seen:
            seen.add((organisation.pk, role))
            rows.append(WorkshopPartner(workshop=workshop, organisation=organisation, role=role))
    WorkshopPartner.objects.bulk_create(rows)
    proposal.workshop = workshop
    _save(proposal, by, update_fields=["workshop", "updated_at"])
    _event(
        proposal,
        ProposalEventKind.NOTE,
        by=by,
        now=timezone.now(),
        year=year,
        text=_("Planned as an inter-sessional workshop."),
    )
    return workshop


# --- Emails ------------------------------------------------------------------------------------


def _proposal_url(proposal: ThemeProposal) -> str:
    try:
        path = reverse("portal:proposal", args=[proposal.pk])
    except NoReverseMatch:
        return ""
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    return f"{base}{path}" if base else ""


@transaction.atomic
def proposal_decision_notify(*, proposal: ThemeProposal) -> int:
    """Email the decision to the logins of the proposing and co-sponsoring delegations, once.

    Returns how many emails were sent: none for an undecided proposal or one already notified
    of its decision (a retried task sends nothing twice). Each email has a Message-ID of its own
    (proposal, decision time, recipient): when a worker died after handing some of them to the
    mail backend and before recording the notification, the next attempt skips those the backend
    holds (``config.mail.message_delivered``).
    """
    proposal = (
        ThemeProposal.objects.select_for_update(of=("self",))
        .select_related("round", "proposing_organisation", "decision_meeting")
        .get(pk=proposal.pk)
    )
    if proposal.state not in OUTCOMES:
        logger.info("proposal %s is %s: no decision to notify", proposal.pk, proposal.state)
        return 0
    if proposal.decision_notified_at is not None and (
        proposal.decided_at is None or proposal.decision_notified_at >= proposal.decided_at
    ):
        return 0
    organisation_ids = [
        *([proposal.proposing_organisation_id] if proposal.proposing_organisation_id else []),
        *proposal.co_sponsors.values_list("pk", flat=True),
    ]
    users = (
        User.objects.filter(is_active=True, representative__organisation_id__in=organisation_ids)
        .exclude(email="")
        .select_related("representative__organisation")
        .order_by("pk")
    )
    carried = proposal.later_versions.select_related("round").order_by("pk").first()
    context = {
        "proposal": proposal,
        "outcome": ProposalState(proposal.state).label,
        "round": proposal.round,
        "meeting": proposal.decision_meeting,
        "note": proposal.decision_note,
        "deferred_to_year": proposal.deferred_to_year,
        "carried_over": carried,
        "url": _proposal_url(proposal),
    }
    subject = _("Decision on “%(title)s”: %(outcome)s") % {
        "title": proposal.title,
        "outcome": str(context["outcome"]).lower(),
    }
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    decided = f"{proposal.decided_at:%Y%m%d%H%M%S%f}" if proposal.decided_at else "0"
    recipients, seen = [], set()
    for user in users:
        if user.email.lower() not in seen:
            seen.add(user.email.lower())
            recipients.append((user, f"<decision-{proposal.pk}.{decided}.{user.pk}@{host}>"))
    # Handed over by an attempt that stopped before recording it: not sent again.
    delivered = (
        messages_delivered(
            [message_id for _user, message_id in recipients], since=proposal.decided_at
        )
        or set()
    )
    messages = []
    for user, message_id in recipients:
        if message_id in delivered:
            continue
        recipient = {**context, "user": user, "delegation": user.representative.organisation}
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("emails/proposal_decision.txt", recipient),
            to=[user.email],
            headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
        )
        message.attach_alternative(
            render_to_string("emails/proposal_decision.html", recipient), "text/html"
        )
        messages.append(message)
    if messages:
        get_connection().send_messages(messages)
    # An update, not a save: being notified is no change to the proposal's history.
    ThemeProposal.objects.filter(pk=proposal.pk).update(decision_notified_at=timezone.now())
    return len(messages)
