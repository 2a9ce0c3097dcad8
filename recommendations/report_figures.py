"""The follow-up report's figures (see ``reporting`` for what they are): the scope, the SQL
pieces its reading shares, the labels, the counters and the tables made from them.

The counters (``Counts``, then a ``Tally``) are counted a batch at a time as the rows are read
(``report_reading.iter_batches``), from the batch's rows, as columns (Arrow's ``group_by``).
They are keyed by the groups (dialogues, workshops, agencies, domains, statuses), never by
recommendation, so they do not grow with the data. Python then turns them into tables
(``figures_from_tally``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from idm.models import Dialogue, PolicyDomain
from stakeholders.models import Organisation
from workshops.models import Workshop

from .enums import ImplementationStatus, Response
from .models import Assignment, Recommendation
from .selectors import OPEN_STATUSES, public_recommendations_q

STATUSES = list(ImplementationStatus)
RESPONSES = list(Response)
CONCLUDED = ImplementationStatus.concluded
IN_PROGRESS = ImplementationStatus.IN_PROGRESS
ON_TRACK_STATUSES = frozenset({IN_PROGRESS, *CONCLUDED})

ASSIGNMENT = Assignment._meta.db_table
DOMAINS = Recommendation.policy_domains.through._meta.db_table
SESSION = Assignment._meta.get_field("due_before_session").related_model._meta.db_table


def report_scope(*, dialogue_id: int | None = None) -> QuerySet[Recommendation]:
    """The recommendations a report covers: adopted, not archived (one dialogue's, if given)."""
    queryset = Recommendation.objects.filter(public_recommendations_q())
    if dialogue_id is not None:
        queryset = queryset.filter(dialogue_id=dialogue_id)
    return queryset


# --- SQL over the scope --------------------------------------------------------------------------


def scope_sql(scope: QuerySet[Recommendation]) -> tuple[str, list]:
    """``scope`` as a subquery with the columns the report reads: ``id, reference,
    dialogue_id, workshop_id, overall_status`` (used as ``FROM (...) r``)."""
    query = (
        scope.order_by()
        .values_list("id", "reference", "dialogue_id", "workshop_id", "overall_status")
        .query
    )
    sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


def overdue_sql(today: dt.date) -> tuple[str, list]:
    """1 when the assignment ``a`` (joined to its session ``s``) is overdue on ``today``, as
    ``selectors.assignments_overdue`` has it (the scope holds only adopted, non-archived
    recommendations), else 0."""
    return (
        f"CASE WHEN COALESCE(a.due_date, s.start_date) < %s "
        f"AND a.status IN ({placeholders(OPEN_STATUSES)}) THEN 1 ELSE 0 END",
        [connection.ops.adapt_datefield_value(today), *OPEN_STATUSES],
    )


# --- Labels --------------------------------------------------------------------------------------


@dataclass
class Labels:
    """Names of what the figures are grouped by (reference data: bounded, loaded once)."""

    dialogues: dict = field(default_factory=dict)
    workshops: dict = field(default_factory=dict)
    domains: dict = field(default_factory=dict)
    organisations: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)

    def __post_init__(self):
        # Translated once per build, not once per row.
        self.no_dialogue = ("", _("(no dialogue)"))
        self.no_workshop = ("", _("(not from a workshop)"))
        self.no_domain = ("", _("(no policy domain)"))
        self.statuses = {status.value: str(status.label) for status in STATUSES}

    @classmethod
    def load(cls) -> Labels:
        labels = cls()
        for pk, year, theme in Dialogue.objects.values_list("pk", "year", "theme"):
            labels.dialogues[pk] = (str(year), f"IDM {year}: {theme}")
        for workshop in Workshop.objects.select_related("dialogue").only(
            "pk", "title", "date_text", "dialogue__year"
        ):
            labels.workshops[workshop.pk] = (f"workshop-{workshop.pk}", workshop.display_title)
        for pk, slug, name in PolicyDomain.objects.values_list("pk", "slug", "name"):
            labels.domains[pk] = (slug, name)
        for pk, acronym, name in Organisation.objects.values_list("pk", "acronym", "name"):
            labels.organisations[pk] = (acronym or name, name)
        return labels

    def dialogue(self, pk):
        return self.dialogues.get(pk, self.no_dialogue)

    def workshop(self, pk):
        return self.workshops.get(pk, self.no_workshop)

    def domain(self, pk):
        return self.domains.get(pk, self.no_domain)

    def organisation(self, pk):
        return self.organisations.get(pk) or (str(pk), str(pk))

    def status(self, value: str) -> str:
        """An implementation status's label ("" for none)."""
        return self.statuses.get(value, "") if value else ""


# --- Counting ------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Counters only: their size depends on the numbers of dialogues, workshops, domains and
    agencies, never on the number of recommendations."""

    # (dialogue_id, workshop_id, overall_status) -> recommendations
    recommendations: Counter = field(default_factory=Counter)
    # (dialogue_id, workshop_id) -> open recommendations with no addressee in progress
    unattended: Counter = field(default_factory=Counter)
    # (domain_id, overall_status) -> recommendations; (domain_id,) -> open and unattended
    domain_recommendations: Counter = field(default_factory=Counter)
    domain_open: Counter = field(default_factory=Counter)
    domain_unattended: Counter = field(default_factory=Counter)
    # (dialogue_id, workshop_id, organisation_id, response, status, overdue) -> assignments
    assignments: Counter = field(default_factory=Counter)
    # (dialogue_id, workshop_id, organisation_id) -> the assignments' progress, summed
    progress: Counter = field(default_factory=Counter)
    # (domain_id, organisation_id, response, status, overdue) -> assignments
    domain_assignments: Counter = field(default_factory=Counter)
    # (domain_id, organisation_id) -> the assignments' progress, summed
    domain_progress: Counter = field(default_factory=Counter)
    overdue_count: int = 0


# --- Counting, a batch at a time ----------------------------------------------------------------
#
# Each batch of recommendations (a range of their keys) is counted as it is read
# (``report_reading.iter_batches``), from the rows it has anyway: grouped as columns (Arrow's
# ``group_by``, in C++), the few groups found added to the counters here.


class Counts:
    """The counters of a report while it is read. Each recommendation is in a *group*,
    numbered from 1: its dialogue, its workshop and its policy domains. ``assignments`` counts
    the assignments by (group, agency, response, status, overdue), ``progress`` their progress
    by (group, agency, progress); ``tally`` holds the recommendations' counts. All are bounded
    by the reference data (dialogues, workshops, sets of domains, agencies, statuses, 101
    progress values), not by the number of recommendations; ``result`` spreads the
    assignments' over the tables' keys."""

    def __init__(self):
        self.groups: dict[tuple, int] = {}
        self.group_keys: list[tuple] = [()]
        self.assignments: Counter = Counter()
        self.progress: Counter = Counter()
        self.tally = Tally()

    def group(self, dialogue_id, workshop_id, domains: tuple) -> int:
        key = (dialogue_id, workshop_id, domains)
        number = self.groups.get(key)
        if number is None:
            number = self.groups[key] = len(self.group_keys)
            self.group_keys.append(key)
        return number

    def add_recommendations(self, found) -> None:
        """A batch's recommendations, counted by (group, overall status, open, unattended):
        ``found`` yields those and the count. A recommendation is open while one of its
        addressees has not concluded (or it has none), unattended when open with no addressee
        in progress; one with no policy domain counts under the domain ``None``, one with
        several under each."""
        tally = self.tally
        for group, status, is_open, is_unattended, count in found:
            dialogue_id, workshop_id, domains = self.group_keys[group]
            tally.recommendations[(dialogue_id, workshop_id, status)] += count
            if is_unattended:
                tally.unattended[(dialogue_id, workshop_id)] += count
            for domain_id in domains or (None,):
                tally.domain_recommendations[(domain_id, status)] += count
                if is_open:
                    tally.domain_open[domain_id] += count
                if is_unattended:
                    tally.domain_unattended[domain_id] += count

    def result(self) -> Tally:
        """The counters by the tables' keys. A recommendation with no policy domain counts
        under the domain ``None``; one with several, under each."""
        tally = self.tally
        for key, count in self.assignments.items():
            group, org_id, response, status, is_overdue = key
            dialogue_id, workshop_id, domains = self.group_keys[group]
            tally.assignments[(dialogue_id, workshop_id, org_id, response, status, is_overdue)] += (
                count
            )
            for domain_id in domains or (None,):
                tally.domain_assignments[(domain_id, org_id, response, status, is_overdue)] += count
            if is_overdue:
                tally.overdue_count += count
        for (group, org_id, progress), count in self.progress.items():
            dialogue_id, workshop_id, domains = self.group_keys[group]
            tally.progress[(dialogue_id, workshop_id, org_id)] += count * progress
            for domain_id in domains or (None,):
                tally.domain_progress[(domain_id, org_id)] += count * progress
        self.assignments.clear()
        self.progress.clear()
        return tally


# --- Tables from the counters --------------------------------------------------------------------


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _group_row(key: str, label: str, recommendations: int, counts: Counter, progress: int) -> dict:
    """One table row from the assignment counter entries of a group, keyed (response, status,
    overdue)."""
    assignments = sum(counts.values())
    responses = Counter()
    statuses = Counter()
    overdue = 0
    for (response, status, is_overdue), count in counts.items():
        responses[response] += count
        statuses[status] += count
        if is_overdue:
            overdue += count
    concluded = sum(statuses[status] for status in CONCLUDED)
    return {
        "key": key,
        "label": label,
        "recommendations": recommendations,
        "assignments": assignments,
        "responses": {response.value: responses[response.value] for response in RESPONSES},
        "statuses": {status.value: statuses[status.value] for status in STATUSES},
        "concluded": concluded,
        "completion_rate": _percent(concluded, assignments),
        "average_progress": round(progress / assignments, 1) if assignments else None,
        "overdue": overdue,
    }


def _sorted_keys(keys, label_of) -> list:
    """Groups by label, the "none" group last."""
    return sorted(keys, key=lambda pk: (pk is None, str(label_of(pk)[1]).lower(), pk or 0))


def agency_label(short: str, name: str) -> str:
    return name if short == name else f"{name} ({short})"


def figures_from_tally(tally: Tally, labels: Labels) -> dict:
    """The report's tables from the counters."""
    # Recommendations per dialogue and per workshop.
    recs_by = {"dialogue": Counter(), "workshop": Counter()}
    rec_status = Counter()
    for (dialogue_id, workshop_id, overall_status), count in tally.recommendations.items():
        recs_by["dialogue"][dialogue_id] += count
        recs_by["workshop"][workshop_id] += count
        rec_status[overall_status] += count
    # Assignments per dialogue, workshop, agency.
    groups = {"dialogue": defaultdict(Counter), "workshop": defaultdict(Counter)}
    groups["agency"] = defaultdict(Counter)
    progress = {"dialogue": Counter(), "workshop": Counter(), "agency": Counter()}
    total_counts = Counter()
    total_progress = 0
    for (dialogue_id, workshop_id, org_id), total in tally.progress.items():
        for name, pk in (("dialogue", dialogue_id), ("workshop", workshop_id), ("agency", org_id)):
            progress[name][pk] += total
        total_progress += total
    for key, count in tally.assignments.items():
        dialogue_id, workshop_id, org_id, response, status, overdue = key
        cell = (response, status, overdue)
        for name, pk in (("dialogue", dialogue_id), ("workshop", workshop_id), ("agency", org_id)):
            groups[name][pk][cell] += count
        total_counts[cell] += count

    def table(name, label_of, recommendations_of):
        keys = set(groups[name]) | set(recs_by.get(name, {}))
        rows = []
        for pk in _sorted_keys(keys, label_of):
            row = _group_row(
                label_of(pk)[0],
                str(label_of(pk)[1]),
                recommendations_of(pk),
                groups[name].get(pk, Counter()),
                progress[name][pk],
            )
            rows.append({"id": pk, **row})
        return rows

    by_dialogue = table("dialogue", labels.dialogue, lambda pk: recs_by["dialogue"][pk])
    by_workshop = table("workshop", labels.workshop, lambda pk: recs_by["workshop"][pk])
    # An agency is addressed one assignment per recommendation: its recommendations are its
    # assignments.
    by_agency = table("agency", labels.organisation, lambda pk: sum(groups["agency"][pk].values()))
    for row in by_agency:
        row["label"] = agency_label(row["key"], row["label"])

    # Per policy domain, and the coherence matrix.
    domain_groups = defaultdict(Counter)
    domain_progress = Counter()
    for (domain_id, _org_id), total in tally.domain_progress.items():
        domain_progress[domain_id] += total
    matrix = defaultdict(lambda: [0, 0])
    domain_active = Counter()
    for key, count in tally.domain_assignments.items():
        domain_id, org_id, response, status, overdue = key
        domain_groups[domain_id][(response, status, overdue)] += count
        cell = matrix[(domain_id, org_id)]
        cell[0] += count
        if status in ON_TRACK_STATUSES and not overdue:
            cell[1] += count
        if status == IN_PROGRESS:
            domain_active[domain_id] += count
    domain_recs = Counter()
    for (domain_id, _status), count in tally.domain_recommendations.items():
        domain_recs[domain_id] += count
    by_domain = []
    without_active = []
    for domain_id in _sorted_keys(set(domain_recs) | set(domain_groups), labels.domain):
        slug, name = labels.domain(domain_id)
        row = _group_row(
            slug,
            str(name),
            domain_recs[domain_id],
            domain_groups.get(domain_id, Counter()),
            domain_progress[domain_id],
        )
        row["open"] = tally.domain_open[domain_id]
        row["without_active_agency"] = tally.domain_unattended[domain_id]
        row["no_active_agency"] = row["open"] > 0 and domain_active[domain_id] == 0
        if row["no_active_agency"]:
            without_active.append(str(name))
        by_domain.append(row)

    matrix_domains = _sorted_keys({d for d, _o in matrix}, labels.domain)
    matrix_agencies = _sorted_keys({o for _d, o in matrix}, labels.organisation)
    coherence = {
        "domains": [
            {
                "key": labels.domain(d)[0],
                "label": str(labels.domain(d)[1]),
                "no_active_agency": domain_active[d] == 0 and tally.domain_open[d] > 0,
            }
            for d in matrix_domains
        ],
        "agencies": [
            {"id": o, "key": labels.organisation(o)[0], "label": labels.organisation(o)[1]}
            for o in matrix_agencies
        ],
        "cells": [[matrix.get((d, o)) for o in matrix_agencies] for d in matrix_domains],
    }

    totals = _group_row("", _("All"), sum(rec_status.values()), total_counts, total_progress)
    totals["recommendations_by_status"] = {
        status.value: rec_status[status.value] for status in STATUSES
    }
    totals["without_active_agency"] = sum(tally.unattended.values())
    totals["domains_without_active_agency"] = len(without_active)
    return {
        "totals": totals,
        "by_dialogue": by_dialogue,
        "by_workshop": by_workshop,
        "by_agency": by_agency,
        "by_domain": by_domain,
        "coherence": coherence,
        "domains_without_active_agency": without_active,
    }
