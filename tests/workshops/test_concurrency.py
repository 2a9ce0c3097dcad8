"""Two delegates of one delegation press "Support" at the same instant: one support is kept.

Only PostgreSQL runs this: SQLite has no row locks (``select_for_update`` is a no-op) and
serialises every write behind one database lock, so there is no race there to test.
"""

import threading

import pytest
from django.db import connection, connections

from stakeholders.enums import ActingRole
from tests.factories.stakeholders import OrganisationFactory, RepresentativeFactory
from tests.factories.workshops import ProposalRoundFactory, ThemeProposalFactory
from workshops.enums import ProposalState
from workshops.models import ProposalSupport, ThemeProposal
from workshops.services import ProposalError, proposal_support

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has no row locks and runs one writer at a time, "
        "so two simultaneous supports cannot race there (set DATABASE_URL to a PostgreSQL "
        "database to run it)",
    ),
]


def test_two_delegates_of_one_delegation_supporting_at_once_leave_one_support():
    proposer, supporter = OrganisationFactory(), OrganisationFactory()
    delegates = [
        RepresentativeFactory(organisation=supporter, role=ActingRole.DELEGATION).user
        for _ in range(2)
    ]
    proposal = ThemeProposalFactory(
        round=ProposalRoundFactory(opens_at=None, closes_at=None),
        proposing_organisation=proposer,
        state=ProposalState.SUBMITTED,
    )
    barrier = threading.Barrier(len(delegates), timeout=10)
    outcomes: list[object] = []

    def press_support(user):
        try:
            # Each thread reads the proposal on its own connection, as two requests would.
            own_copy = ThemeProposal.objects.get(pk=proposal.pk)
            barrier.wait()
            outcomes.append(proposal_support(proposal=own_copy, delegation=supporter, by=user))
        except ProposalError as error:
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press_support, args=(user,)) for user in delegates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert ProposalSupport.objects.filter(proposal=proposal, organisation=supporter).count() == 1
    errors = [o for o in outcomes if isinstance(o, ProposalError)]
    supports = [o for o in outcomes if isinstance(o, ProposalSupport)]
    assert len(supports) == 1, outcomes
    assert [str(e) for e in errors] == ["Your delegation already supports this proposal."]
