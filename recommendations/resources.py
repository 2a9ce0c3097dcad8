"""CSV and XLSX import and export of recommendations with their assignments (django-import-export).

One row per recommendation, keyed by its reference. The ``addressees`` column lists its
assignments separated by ``;``, each an organisation with its role and due date in brackets::

    ILO (lead, due 2026-06-30); WHO (supporting, due before session 92); org-global-migration-group

An organisation is written as its acronym when no other organisation shares it, otherwise as its
dataset id (``org-…``), or its name, or ``#<id>``; on import any of these is understood. The role
is ``lead`` (the default) or ``supporting``; the due date is ``due YYYY-MM-DD``, ``due before
session N`` (a Council session) or ``due before ExCom session N`` (an Executive Committee
session), or absent.

Importing goes through the services: a new recommendation starts as a draft and is moved to the
``state`` of its row by ``recommendation_adopt`` / ``_close`` / ``_supersede``; each addressee
is set by ``recommendation_assign`` (its role and due date become those of the row). An
addressee left out of the row keeps its assignment: nothing is deleted. A row that fails
(unknown organisation, bad reference, bad date, a refused move) is reported with its errors and
leaves nothing behind; the admin's dry run shows every row's errors before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque

from django.core.exceptions import MultipleObjectsReturned, ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.db.models import Count, Prefetch
from django.forms.models import model_to_dict
from import_export import fields, resources, widgets

from idm.enums import CouncilBody
from idm.models import CouncilSession, Dialogue, PolicyDomain
from stakeholders.models import Organisation

from .enums import AssignmentRole, RecommendationState
from .models import Assignment, Recommendation
from .services import (
    RecommendationError,
    recommendation_adopt,
    recommendation_assign,
    recommendation_close,
    recommendation_supersede,
)

SEPARATOR = ";"
ENTRY = re.compile(r"^(?P<organisation>[^()]+?)\s*(?:\((?P<details>[^()]*)\))?$")
DATE = re.compile(r"^(?:due\s+)?(?P<date>\d{4}-\d{1,2}-\d{1,2})$")
SESSION = re.compile(
    r"^(?:due\s+)?before\s+(?P<body>council\s+|excom\s+|executive\s+committee\s+)?"
    r"session\s+(?P<number>\d+)$"
)
# Fields of the recommendation an import may change on a row; anything else is read-only.
EDITABLE_FIELDS = (
    "text",
    "kind",
    "dialogue",
    "paragraph",
    "addressed_to_text",
    "made_by_text",
    "notes",
)

COLUMN_OF = {
    "import_state": "state",
    "import_superseded_by": "superseded_by",
    "import_policy_domains": "policy_domains",
    "import_addressees": "addressees",
}


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class AddresseeSpec:
    """One parsed entry of the ``addressees`` column."""

    def __init__(self, organisation, role, due_date, due_before_session):
        self.organisation = organisation
        self.role = role
        self.due_date = due_date
        self.due_before_session = due_before_session


def organisation_label(organisation: Organisation, ambiguous_acronyms: set[str]) -> str:
    """How the ``addressees`` column names an organisation so that an import finds it again."""
    if organisation.acronym and organisation.acronym.lower() not in ambiguous_acronyms:
        return organisation.acronym
    if organisation.dataset_id:
        return organisation.dataset_id
    if not set(organisation.name) & set("();,#") and organisation.name == organisation.name.strip():
        return organisation.name
    return f"#{organisation.pk}"


def ambiguous_acronyms() -> set[str]:
    """Acronyms (lower case) shared by organisations, or equal to another's name or dataset id."""
    shared = (
        Organisation.objects.exclude(acronym="")
        .values("acronym")
        .annotate(count=Count("pk"))
        .filter(count__gt=1)
        .values_list("acronym", flat=True)
    )
    return {acronym.lower() for acronym in shared}


def find_organisation(label: str) -> Organisation:
    """The organisation a label names: ``#id``, dataset id, acronym or name (ignoring case)."""
    label = label.strip()
    if label.startswith("#") and label[1:].isdigit():
        organisation = Organisation.objects.filter(pk=int(label[1:])).first()
        if organisation is None:
            raise ValueError(f"unknown organisation {label}")
        return organisation
    organisation = Organisation.objects.filter(dataset_id=label).first()
    if organisation is not None:
        return organisation
    for lookup in ("acronym__iexact", "name__iexact"):
        found = list(Organisation.objects.filter(**{lookup: label})[:3])
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            ids = ", ".join(o.dataset_id or f"#{o.pk}" for o in found)
            raise ValueError(f"{label} names several organisations; write one of: {ids}")
    raise ValueError(f"unknown organisation {label!r}")


def _session(body_text: str | None, number: str) -> CouncilSession:
    body_text = (body_text or "").strip()
    body = CouncilBody.COUNCIL if body_text in ("", "council") else CouncilBody.EXECUTIVE_COMMITTEE
    session = CouncilSession.objects.filter(body=body, number=int(number)).first()
    if session is None:
        label = "Council session" if body == CouncilBody.COUNCIL else "ExCom session"
        raise ValueError(f"unknown {label} {number}")
    return session


def parse_addressees(value) -> list[AddresseeSpec]:
    if _blank(value):
        return []
    specs: list[AddresseeSpec] = []
    seen: set[int] = set()
    for raw in str(value).split(SEPARATOR):
        entry = raw.strip()
        if not entry:
            continue
        match = ENTRY.match(entry)
        if match is None:
            raise ValueError(f"cannot read {entry!r}: write ORGANISATION (role, due …)")
        organisation = find_organisation(match["organisation"])
        if organisation.pk in seen:
            raise ValueError(f"{match['organisation'].strip()} is listed twice")
        seen.add(organisation.pk)
        role, due_date, session = AssignmentRole.LEAD, None, None
        for token in (match["details"] or "").split(","):
            token = " ".join(token.strip().lower().split())
            if not token:
                continue
            if token in AssignmentRole.values:
                role = token
            elif date_match := DATE.match(token):
                try:
                    due_date = dt.date.fromisoformat(
                        "-".join(part.zfill(2) for part in date_match["date"].split("-"))
                    )
                except ValueError:
                    raise ValueError(
                        f"bad date {date_match['date']!r} for {match['organisation'].strip()}"
                    ) from None
            elif session_match := SESSION.match(token):
                session = _session(session_match["body"], session_match["number"])
            else:
                raise ValueError(
                    f"cannot read {token!r} for {match['organisation'].strip()}: write lead or "
                    "supporting, due YYYY-MM-DD or due before session N"
                )
        if due_date is not None and session is not None:
            raise ValueError(
                f"{match['organisation'].strip()}: give a due date or a session, not both"
            )
        specs.append(AddresseeSpec(organisation, role, due_date, session))
    return specs


class AddresseesWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return parse_addressees(value)

    def render(self, value, obj=None, **kwargs):  # export goes through dehydrate_addressees
        return value or ""


class StateWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            return None
        text = str(value).strip().lower()
        for state in RecommendationState:
            if text in (state.value, str(state.label).lower()):
                return state.value
        raise ValueError(
            f"unknown state {value!r}: write one of {', '.join(RecommendationState.values)}"
        )


class ReferenceWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return None if _blank(value) else str(value).strip()


class PolicyDomainsWidget(widgets.Widget):
    """Policy domains by slug or name, separated by ``;``; an unknown one is an error."""

    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            return []
        domains = []
        for label in (part.strip() for part in str(value).split(SEPARATOR)):
            if not label:
                continue
            domain = (
                PolicyDomain.objects.filter(slug=label).first()
                or PolicyDomain.objects.filter(name__iexact=label).first()
            )
            if domain is None:
                raise ValueError(f"unknown policy domain {label!r}")
            domains.append(domain)
        return domains


class DialogueWidget(widgets.ForeignKeyWidget):
    """A dialogue by its year; an unknown year is a row error, not a crash."""

    def __init__(self):
        super().__init__(Dialogue, field="year")

    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            return None
        try:
            year = int(str(value).strip().split(".")[0])
            return Dialogue.objects.get(year=year)
        except (ValueError, ObjectDoesNotExist, MultipleObjectsReturned):
            raise ValueError(f"no dialogue of the year {value!r}") from None


def _state_path(current: str, target: str) -> list[str] | None:
    """The states to pass through, by the ``moves`` table, from ``current`` to ``target``."""
    queue = deque([[current]])
    seen = {current}
    while queue:
        path = queue.popleft()
        if path[-1] == target:
            return path[1:]
        for state in sorted(RecommendationState.moves[path[-1]]):
            if state not in seen:
                seen.add(state)
                queue.append([*path, state])
    return None


class RecommendationResource(resources.ModelResource):
    reference = fields.Field(
        attribute="reference", column_name="reference", widget=ReferenceWidget()
    )
    state = fields.Field(
        attribute="import_state",
        column_name="state",
        widget=StateWidget(),
        dehydrate_method="dehydrate_state",
    )
    superseded_by = fields.Field(
        attribute="import_superseded_by",
        column_name="superseded_by",
        widget=ReferenceWidget(),
        dehydrate_method="dehydrate_superseded_by",
    )
    dialogue = fields.Field(attribute="dialogue", column_name="dialogue", widget=DialogueWidget())
    policy_domains = fields.Field(
        attribute="import_policy_domains",
        column_name="policy_domains",
        widget=PolicyDomainsWidget(),
        dehydrate_method="dehydrate_policy_domains",
    )
    addressees = fields.Field(
        attribute="import_addressees",
        column_name="addressees",
        widget=AddresseesWidget(),
        dehydrate_method="dehydrate_addressees",
    )
    overall_status = fields.Field(
        attribute="overall_status", column_name="overall_status", readonly=True
    )
    overall_progress = fields.Field(
        attribute="overall_progress",
        column_name="overall_progress",
        readonly=True,
        widget=widgets.IntegerWidget(),
    )

    class Meta:
        model = Recommendation
        fields = (
            "reference",
            "text",
            "kind",
            "state",
            "superseded_by",
            "dialogue",
            "paragraph",
            "policy_domains",
            "addressed_to_text",
            "made_by_text",
            "notes",
            "addressees",
            "overall_status",
            "overall_progress",
        )
        import_id_fields = ("reference",)
        clean_model_instances = True
        use_transactions = True
        skip_unchanged = False
        report_skipped = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._ambiguous: set[str] | None = None

    # --- Export ----------------------------------------------------------------------------------

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("superseded_by", "dialogue").prefetch_related(
            Prefetch(
                "assignments",
                queryset=Assignment.objects.select_related(
                    "organisation", "due_before_session"
                ).order_by("role", "organisation__name", "pk"),
            ),
            "policy_domains",
        )

    def _labels(self) -> set[str]:
        if self._ambiguous is None:
            self._ambiguous = ambiguous_acronyms()
        return self._ambiguous

    def dehydrate_state(self, recommendation):
        return recommendation.state

    def dehydrate_superseded_by(self, recommendation):
        successor = recommendation.superseded_by
        return successor.reference if successor is not None else ""

    def dehydrate_policy_domains(self, recommendation):
        if recommendation.pk is None:
            return ""
        return f"{SEPARATOR} ".join(domain.slug for domain in recommendation.policy_domains.all())

    def dehydrate_addressees(self, recommendation):
        if recommendation.pk is None:
            return ""
        entries = []
        for assignment in recommendation.assignments.all():
            details = [assignment.role]
            if assignment.due_date:
                details.append(f"due {assignment.due_date:%Y-%m-%d}")
            elif assignment.due_before_session_id:
                session = assignment.due_before_session
                body = "" if session.body == CouncilBody.COUNCIL else "ExCom "
                details.append(f"due before {body}session {session.number}")
            label = organisation_label(assignment.organisation, self._labels())
            entries.append(f"{label} ({', '.join(details)})")
        return f"{SEPARATOR} ".join(entries)

    # --- Import ----------------------------------------------------------------------------------

    def before_import(self, dataset, **kwargs):
        """Drop blank lines (spreadsheets often end with some), trim every cell and read an empty
        spreadsheet cell as an empty text."""
        rows = [
            [
                value.strip() if isinstance(value, str) else "" if value is None else value
                for value in row
            ]
            for row in dataset
        ]
        keep = [row for row in rows if not all(_blank(value) for value in row)]
        headers = [str(header).strip() for header in dataset.headers or []]
        dataset.wipe()
        dataset.headers = headers
        for row in keep:
            dataset.append(row)

    def import_row(self, row, instance_loader, **kwargs):
        # Each row in a savepoint of its own: a row refused after its recommendation was saved
        # (a move or an assignment the services refuse) leaves nothing behind.
        with transaction.atomic():
            row_result = super().import_row(row, instance_loader, **kwargs)
            if row_result.validation_error is not None or row_result.errors:
                transaction.set_rollback(True)
        return row_result

    def import_instance(self, instance, row, **kwargs):
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            # Errors are keyed by column, as the file has them, not by the attribute set.
            raise ValidationError(
                {COLUMN_OF.get(key, key): value for key, value in error.error_dict.items()}
            ) from None

    def after_init_instance(self, instance, new, row, **kwargs):
        instance.import_state = None
        instance.import_superseded_by = None
        instance.import_policy_domains = None
        instance.import_addressees = None
        instance._import_before = None if new else model_to_dict(instance, fields=EDITABLE_FIELDS)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        """An existing recommendation whose row says nothing new is left untouched (no history
        row): exporting and importing again writes nothing."""
        before = getattr(instance, "_import_before", None)
        if import_validation_errors or before is None:
            return False
        if model_to_dict(instance, fields=EDITABLE_FIELDS) != before:
            return False
        current = Recommendation.objects.filter(pk=instance.pk).values(
            "state", "superseded_by__reference"
        )[0]
        if instance.import_state not in (None, current["state"]):
            return False
        if instance.import_superseded_by not in (None, current["superseded_by__reference"]):
            return False
        domains = instance.import_policy_domains
        if domains is not None and {d.pk for d in domains} != set(
            instance.policy_domains.values_list("pk", flat=True)
        ):
            return False
        existing = {
            assignment.organisation_id: assignment
            for assignment in Assignment.objects.filter(recommendation=instance)
        }
        for spec in instance.import_addressees or ():
            assignment = existing.get(spec.organisation.pk)
            if assignment is None or (
                assignment.role,
                assignment.due_date,
                assignment.due_before_session_id,
            ) != (spec.role, spec.due_date, getattr(spec.due_before_session, "pk", None)):
                return False
        return True

    def before_save_instance(self, instance, row, **kwargs):
        before = instance._import_before
        changed = before is not None and model_to_dict(instance, fields=EDITABLE_FIELDS) != before
        if instance.archived_at is not None and changed:
            raise ValidationError(
                {"reference": f"{instance.reference} is archived: it no longer changes."}
            )

    def after_save_instance(self, instance, row, **kwargs):
        by = kwargs.get("user")
        try:
            self._set_policy_domains(instance, row)
            self._set_addressees(instance, by)
            self._move(instance, by)
        except RecommendationError as error:
            raise ValidationError({error.field or "state": error.message}) from None

    def _set_policy_domains(self, instance, row) -> None:
        domains = instance.import_policy_domains
        if domains is None or "policy_domains" not in row:
            return
        if {d.pk for d in domains} != set(instance.policy_domains.values_list("pk", flat=True)):
            if instance.archived_at is not None:
                raise RecommendationError(
                    f"{instance.reference} is archived: it no longer changes.",
                    field="policy_domains",
                )
            instance.policy_domains.set(domains)

    def _set_addressees(self, instance, by) -> None:
        for spec in instance.import_addressees or ():
            try:
                recommendation_assign(
                    recommendation=instance,
                    organisation=spec.organisation,
                    by=by,
                    role=spec.role,
                    due_date=spec.due_date,
                    due_before_session=spec.due_before_session,
                )
            except RecommendationError as error:
                raise RecommendationError(
                    f"{spec.organisation.short_name}: {error.message}", field="addressees"
                ) from None

    def _move(self, instance, by) -> None:
        target = instance.import_state
        current = Recommendation.objects.values_list("state", flat=True).get(pk=instance.pk)
        if target is None or target == current:
            if target == RecommendationState.SUPERSEDED:
                self._check_same_successor(instance)
            return
        path = _state_path(current, target)
        if path is None:
            raise RecommendationError(
                f"{instance.reference} is {current}: it cannot become {target}.", field="state"
            )
        for state in path:
            if state == RecommendationState.ADOPTED:
                recommendation_adopt(recommendation=instance, by=by)
            elif state == RecommendationState.CLOSED:
                recommendation_close(recommendation=instance, by=by)
            elif state == RecommendationState.SUPERSEDED:
                recommendation_supersede(
                    recommendation=instance, by=by, superseded_by=self._successor(instance)
                )

    def _successor(self, instance) -> Recommendation:
        reference = instance.import_superseded_by
        if not reference:
            raise RecommendationError(
                "A superseded recommendation needs the reference of the one superseding it "
                "(column superseded_by).",
                field="superseded_by",
            )
        successor = Recommendation.objects.filter(reference=reference).first()
        if successor is None:
            raise RecommendationError(
                f"unknown recommendation {reference!r}: import it first, or put its row above.",
                field="superseded_by",
            )
        return successor

    def _check_same_successor(self, instance) -> None:
        reference = instance.import_superseded_by
        current = (
            Recommendation.objects.filter(pk=instance.pk)
            .values_list("superseded_by__reference", flat=True)
            .get()
        )
        if reference and reference != current:
            raise RecommendationError(
                f"{instance.reference} is already superseded by {current}.",
                field="superseded_by",
            )
