"""``manage.py generate_bulk_data``: a large, realistic data set for benchmarks.

By default 100,000 adopted recommendations (``BLK-<year>-R<n>``), each addressed to 3 of 60
partner agencies (300,000 assignments), and 1,000,000 follow-up reports, written with
``bulk_create`` in batches, one transaction per batch. What the workflow keeps consistent is
computed while generating, with the services' own rules: progress 0 when not started and 100
when implemented, one assignment per addressee, report periods that never overlap and end before
today, each assignment's status and progress those of its latest accepted report, and each
recommendation's stored roll-up from ``services.rollup_values``.

``bulk_create`` bypasses ``save()`` and signals, so no django-simple-history rows are written for
the bulk data (that is intended: it is not a history anyone made). A second run is refused unless
``--append`` is given.
"""

from __future__ import annotations

import datetime as dt
import random
from fractions import Fraction

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from recommendations.enums import (
    AssignmentRole,
    ImplementationStatus,
    RecommendationKind,
    RecommendationState,
    ReportState,
    Response,
)
from recommendations.models import Assignment, FollowUpReport, Recommendation
from recommendations.services import rollup_values
from stakeholders.enums import OrganisationKind
from stakeholders.models import DELEGATION_KINDS, Organisation

PREFIX = "BLK"
FIRST_YEAR = 2001
MAX_NUMBER = 99_999  # R00001…R99999 per year, as the reference format allows
ORGANISATION_DATASET_PREFIX = "bulk-org-"
AGENCY_KINDS = [
    OrganisationKind.UN_AGENCY,
    OrganisationKind.INTERGOVERNMENTAL,
    OrganisationKind.NGO,
    OrganisationKind.BUSINESS,
    OrganisationKind.ACADEMIC,
    OrganisationKind.REGIONAL_CONSULTATIVE_PROCESS,
]
PERIOD_DAYS = 182  # half-yearly reporting

SUBJECTS = [
    "Member states",
    "Partner agencies",
    "The addressees",
    "Regional consultative processes",
    "Governments and the private sector",
    "The secretariat and its partners",
]
VERBS = [
    "should strengthen",
    "are invited to develop",
    "should review",
    "are encouraged to fund",
    "should establish",
    "should share data on",
]
OBJECTS = [
    "labour migration pathways",
    "return and reintegration programmes",
    "the protection of migrant workers",
    "remittance corridors",
    "border management capacity",
    "diaspora engagement",
    "climate-related displacement",
    "migration data systems",
    "integration policies in host communities",
    "ethical recruitment standards",
]
QUALIFIERS = [
    "in cooperation with civil society",
    "with measurable targets",
    "within two years",
    "drawing on the lessons of the dialogue",
    "with attention to gender and age",
    "in the countries of origin and destination",
]
NARRATIVES = [
    "Consultations held with the ministries concerned; a draft plan is under review.",
    "Two pilot projects launched and a monitoring framework agreed with partners.",
    "Funding secured for the first phase; recruitment of project staff ongoing.",
    "Training delivered to 120 officials in four countries; evaluation pending.",
    "Guidance note published and disseminated through the regional network.",
    "Data collection started; the first report is expected next period.",
    "Activities delayed by budget constraints; revised timeline attached.",
    "Joint workshop organised with the host government; outcomes documented.",
]
RESPONSE_TEXTS = [
    "We support this recommendation and will report on its implementation.",
    "We support the objective; parts fall outside our mandate.",
    "Noted; implementation depends on available resources.",
]
RETURN_COMMENTS = [
    "Please attach the evidence mentioned in the narrative.",
    "The progress reported does not match the activities described.",
    "Please cover the whole reporting period.",
]


def ratio(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise CommandError(f"Not a number: {text!r} (e.g. 3.33 or 10/3).") from None
    if value < 0:
        raise CommandError("--reports-per-assignment cannot be negative.")
    return value


class Command(BaseCommand):
    help = (
        "Generate a large data set of adopted recommendations, their assignments and follow-up "
        "reports (bulk_create, no history rows), for benchmarks. Refuses to run twice unless "
        "--append."
    )

    def add_arguments(self, parser):
        parser.add_argument("--recommendations", type=int, default=100_000)
        parser.add_argument("--assignments-per-recommendation", type=int, default=3)
        parser.add_argument(
            "--reports-per-assignment",
            type=ratio,
            default=Fraction(10, 3),
            help="Average, as a decimal or a fraction (default 10/3: 1,000,000 for 300,000).",
        )
        parser.add_argument(
            "--organisations",
            type=int,
            default=60,
            help="Partner agencies to address; created (bulk-org-NN) if fewer exist.",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--append", action="store_true", help="Add to bulk data generated before."
        )

    def handle(
        self,
        *args,
        recommendations,
        assignments_per_recommendation,
        reports_per_assignment,
        organisations,
        seed,
        batch_size,
        append,
        **options,
    ):
        if recommendations < 1 or batch_size < 1 or organisations < 1:
            raise CommandError("--recommendations, --organisations and --batch-size must be ≥ 1.")
        if not 1 <= assignments_per_recommendation <= organisations:
            raise CommandError(
                "--assignments-per-recommendation must be between 1 and --organisations."
            )
        existing = Recommendation.objects.filter(reference__startswith=f"{PREFIX}-").count()
        if existing and not append:
            raise CommandError(
                f"Bulk data already present ({existing} {PREFIX}- recommendations): "
                "pass --append to add more."
            )
        self.today = timezone.localdate()
        self.years = list(range(FIRST_YEAR, self.today.year + 1))
        if existing + recommendations > MAX_NUMBER * len(self.years):
            raise CommandError(
                f"At most {MAX_NUMBER * len(self.years)} {PREFIX}- recommendations fit the "
                "reference format."
            )
        self.rng = random.Random(seed * 1_000_003 + existing)
        pool = self._organisations(organisations)
        # A skewed choice, as in life: the first agencies are addressed far more often.
        self.pool = pool
        self.weights = [1 / (rank + 1) ** 0.8 for rank in range(len(pool))]
        self.per_recommendation = assignments_per_recommendation
        self.reports_ratio = reports_per_assignment
        self.assignment_index = existing * assignments_per_recommendation

        totals = {"recommendations": 0, "assignments": 0, "reports": 0}
        with tqdm(
            total=recommendations,
            unit="rec",
            desc="generate_bulk_data",
            disable=options["verbosity"] == 0,
        ) as bar:
            for start in range(existing, existing + recommendations, batch_size):
                size = min(batch_size, existing + recommendations - start)
                counts = self._batch(start, size, batch_size)
                for key, value in counts.items():
                    totals[key] += value
                bar.update(size)
                bar.set_postfix(
                    assignments=f"{totals['assignments']:,}", reports=f"{totals['reports']:,}"
                )
        self.stdout.write(
            f"Created {totals['recommendations']} recommendations, "
            f"{totals['assignments']} assignments and {totals['reports']} follow-up reports "
            f"(most addressed: {pool[0].acronym or pool[0].name})."
        )

    # --- Organisations ---------------------------------------------------------------------------

    def _organisations(self, wanted: int) -> list[Organisation]:
        agencies = Organisation.objects.exclude(kind__in=DELEGATION_KINDS)
        bulk = list(
            agencies.filter(dataset_id__startswith=ORGANISATION_DATASET_PREFIX).order_by(
                "dataset_id"
            )
        )
        others = list(
            agencies.exclude(dataset_id__startswith=ORGANISATION_DATASET_PREFIX).order_by("pk")
        )
        missing = wanted - len(bulk) - len(others)
        if missing > 0:
            new = [
                Organisation(
                    dataset_id=f"{ORGANISATION_DATASET_PREFIX}{number:02d}",
                    name=f"Bulk Partner Agency {number:02d}",
                    acronym=f"{PREFIX}{number:02d}",
                    full_name=f"Bulk Partner Agency number {number} (generated)",
                    kind=AGENCY_KINDS[number % len(AGENCY_KINDS)],
                )
                for number in range(len(bulk) + 1, len(bulk) + missing + 1)
            ]
            Organisation.objects.bulk_create(new)
            bulk = list(
                agencies.filter(dataset_id__startswith=ORGANISATION_DATASET_PREFIX).order_by(
                    "dataset_id"
                )
            )
        # Generated agencies first (BLK01 is the most addressed), then those that existed.
        return (bulk + others)[:wanted]

    # --- One batch -------------------------------------------------------------------------------

    def _reference(self, index: int) -> tuple[str, int]:
        year = self.years[index % len(self.years)]
        number = index // len(self.years) + 1
        return f"{PREFIX}-{year}-R{number:05d}", year

    def _text(self) -> str:
        rng = self.rng
        return (
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
            f"{rng.choice(QUALIFIERS)}."
        )

    def _addressees(self) -> list[Organisation]:
        chosen: dict[int, Organisation] = {}
        while len(chosen) < self.per_recommendation:
            organisation = self.rng.choices(self.pool, weights=self.weights)[0]
            chosen.setdefault(organisation.pk, organisation)
        return list(chosen.values())

    def _report_count(self) -> int:
        index = self.assignment_index
        self.assignment_index += 1
        ratio_ = self.reports_ratio
        return int((index + 1) * ratio_) - int(index * ratio_)

    def _reports(self, count: int, adopted: dt.date) -> list[dict]:
        """The reports of one assignment, oldest first, with consistent statuses and progress."""
        rng = self.rng
        if count == 0:
            return []
        last_end = self.today - dt.timedelta(days=rng.randint(1, 365))
        progress = 0
        outcome = rng.random()
        reports = []
        for position in range(count):
            end = last_end - dt.timedelta(days=PERIOD_DAYS * (count - 1 - position))
            start = end - dt.timedelta(days=PERIOD_DAYS - 1)
            latest = position == count - 1
            progress = min(100, progress + rng.choice([0, 10, 15, 20, 25, 35]))
            if progress == 0:
                status = ImplementationStatus.NOT_STARTED
            elif progress == 100:
                status = ImplementationStatus.IMPLEMENTED
            elif latest and outcome < 0.08:
                status = ImplementationStatus.PARTIALLY_IMPLEMENTED
            elif latest and outcome < 0.12:
                status = ImplementationStatus.NOT_IMPLEMENTED
            else:
                status = ImplementationStatus.IN_PROGRESS
            draw = rng.random()
            if latest:
                state = (
                    ReportState.ACCEPTED
                    if draw < 0.6
                    else ReportState.SUBMITTED
                    if draw < 0.9
                    else ReportState.RETURNED
                )
            else:
                state = (
                    ReportState.ACCEPTED
                    if draw < 0.85
                    else ReportState.RETURNED
                    if draw < 0.95
                    else ReportState.SUBMITTED
                )
            if adopted <= end:
                start = max(start, adopted)  # the first period starts with the adoption
            reports.append(
                {
                    "start": start,
                    "end": end,
                    "status": status,
                    "progress": progress,
                    "state": state,
                }
            )
        return reports

    def _batch(self, start: int, size: int, batch_size: int) -> dict[str, int]:
        rng = self.rng
        plans = []
        for index in range(start, start + size):
            reference, year = self._reference(index)
            adopted = dt.date(year, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
            adopted = min(adopted, self.today)
            assignments = []
            for position, organisation in enumerate(self._addressees()):
                reports = self._reports(self._report_count(), adopted)
                accepted = [report for report in reports if report["state"] == ReportState.ACCEPTED]
                latest = accepted[-1] if accepted else None  # periods are in order
                response = rng.choices(
                    [
                        Response.PENDING,
                        Response.SUPPORTED,
                        Response.SUPPORTED_IN_PART,
                        Response.NOTED,
                    ],
                    weights=[25, 45, 15, 15],
                )[0]
                assignments.append(
                    {
                        "organisation": organisation,
                        "role": AssignmentRole.LEAD if position == 0 else AssignmentRole.SUPPORTING,
                        "response": response,
                        "status": latest["status"] if latest else ImplementationStatus.NOT_STARTED,
                        "progress": latest["progress"] if latest else 0,
                        "due_date": adopted + dt.timedelta(days=rng.randint(180, 6 * 365)),
                        "reports": reports,
                    }
                )
            status, progress = rollup_values(
                (item["role"], item["status"], item["progress"]) for item in assignments
            )
            plans.append((reference, adopted, status, progress, assignments))

        with transaction.atomic():
            recommendations = Recommendation.objects.bulk_create(
                [
                    Recommendation(
                        reference=reference,
                        text=self._text(),
                        kind=RecommendationKind.RECOMMENDATION,
                        state=RecommendationState.ADOPTED,
                        addressed_to_text=", ".join(
                            item["organisation"].acronym for item in assignments
                        ),
                        overall_status=status,
                        overall_progress=progress,
                        source={"generated": "generate_bulk_data", "adopted": adopted.isoformat()},
                    )
                    for reference, adopted, status, progress, assignments in plans
                ],
                batch_size=batch_size,
            )
            assignment_rows = []
            report_plans = []
            for recommendation, plan in zip(recommendations, plans, strict=True):
                for item in plan[4]:
                    answered = item["response"] != Response.PENDING
                    assignment_rows.append(
                        Assignment(
                            recommendation_id=recommendation.pk,
                            organisation_id=item["organisation"].pk,
                            role=item["role"],
                            response=item["response"],
                            response_text=rng.choice(RESPONSE_TEXTS) if answered else "",
                            status=item["status"],
                            progress=item["progress"],
                            due_date=item["due_date"],
                        )
                    )
                    report_plans.append(item["reports"])
            assignments = Assignment.objects.bulk_create(assignment_rows, batch_size=batch_size)
            reports = []
            for assignment, planned in zip(assignments, report_plans, strict=True):
                for report in planned:
                    submitted = timezone.make_aware(
                        dt.datetime.combine(
                            report["end"] + dt.timedelta(days=rng.randint(1, 20)), dt.time(9)
                        )
                    )
                    reviewed = report["state"] != ReportState.SUBMITTED
                    reports.append(
                        FollowUpReport(
                            assignment_id=assignment.pk,
                            period_start=report["start"],
                            period_end=report["end"],
                            status=report["status"],
                            progress=report["progress"],
                            narrative=rng.choice(NARRATIVES),
                            evidence_urls=(
                                [f"https://example.org/evidence/{assignment.pk}/{report['end']}"]
                                if rng.random() < 0.3
                                else []
                            ),
                            state=report["state"],
                            review_comment=(
                                rng.choice(RETURN_COMMENTS)
                                if report["state"] == ReportState.RETURNED
                                else ""
                            ),
                            submitted_at=submitted,
                            reviewed_at=submitted + dt.timedelta(days=7) if reviewed else None,
                        )
                    )
            FollowUpReport.objects.bulk_create(reports, batch_size=batch_size)
        return {
            "recommendations": len(recommendations),
            "assignments": len(assignments),
            "reports": len(reports),
        }
