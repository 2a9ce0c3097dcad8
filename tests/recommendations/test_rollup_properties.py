"""The overall status and progress of a recommendation, for any set of addressees.

Overall progress is the mean of the assignments' progress weighted by role (lead 2,
supporting 1), rounded half up; it always lies between the lowest and the highest progress
(so within 0..100); the status follows the README's rules; and neither depends on the order in
which the assignments were made, nor on the order they are given in.
"""

from fractions import Fraction

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommendations.enums import AssignmentRole, ImplementationStatus
from recommendations.services import recommendation_rollup, rollup_values
from tests.factories.recommendations import AssignmentFactory, RecommendationFactory
from tests.factories.stakeholders import OrganisationFactory

Status = ImplementationStatus
CONCLUDED = {Status.IMPLEMENTED, Status.PARTIALLY_IMPLEMENTED, Status.NOT_IMPLEMENTED}
WEIGHT = {AssignmentRole.LEAD: 2, AssignmentRole.SUPPORTING: 1}

assignment_rows = st.lists(
    st.tuples(
        st.sampled_from(list(AssignmentRole)),
        st.sampled_from(list(Status)),
        st.integers(min_value=0, max_value=100),
    ),
    max_size=8,
)


def expected_progress(rows) -> int:
    if not rows:
        return 0
    mean = Fraction(
        sum(WEIGHT[role] * progress for role, _, progress in rows),
        sum(WEIGHT[role] for role, _, _ in rows),
    )
    return int(mean + Fraction(1, 2))  # half up


def expected_status(rows) -> str:
    statuses = {status for _, status, _ in rows}
    if not statuses:
        return Status.NOT_STARTED
    if len(statuses) == 1 and statuses & {
        Status.IMPLEMENTED,
        Status.NOT_STARTED,
        Status.NOT_IMPLEMENTED,
    }:
        return next(iter(statuses))
    if statuses <= CONCLUDED:
        return Status.PARTIALLY_IMPLEMENTED
    return Status.IN_PROGRESS


@given(rows=assignment_rows, data=st.data())
def test_rollup_is_the_lead_weighted_mean_within_bounds_and_order_free(rows, data):
    status, progress = rollup_values(rows)
    assert progress == expected_progress(rows)
    assert 0 <= progress <= 100
    if rows:
        assert min(p for *_, p in rows) <= progress <= max(p for *_, p in rows)
    assert status == expected_status(rows)
    shuffled = data.draw(st.permutations(rows))
    assert rollup_values(shuffled) == (status, progress)


@given(rows=assignment_rows.filter(bool))
def test_a_lead_counts_as_two_supporting_addressees(rows):
    as_supporting = [
        (AssignmentRole.SUPPORTING, status, progress)
        for role, status, progress in rows
        for _ in range(WEIGHT[role])
    ]
    assert rollup_values(rows)[1] == rollup_values(as_supporting)[1]


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=assignment_rows, data=st.data())
def test_stored_rollup_matches_and_does_not_depend_on_assignment_order(rows, data):
    order = data.draw(st.permutations(range(len(rows))))
    results = []
    with transaction.atomic():
        organisations = [OrganisationFactory() for _ in rows]
        for sequence in (range(len(rows)), order):
            recommendation = RecommendationFactory()
            for index in sequence:
                role, status, progress = rows[index]
                AssignmentFactory(
                    recommendation=recommendation,
                    organisation=organisations[index],
                    role=role,
                    status=status,
                    progress=progress,
                )
            recommendation_rollup(recommendation=recommendation)
            recommendation.refresh_from_db()
            stored = (recommendation.overall_status, recommendation.overall_progress)
            assert 0 <= stored[1] <= 100
            results.append(stored)
        transaction.set_rollback(True)
    assert results[0] == results[1] == (expected_status(rows), expected_progress(rows))
