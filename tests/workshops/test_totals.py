"""Workshop totals as the seed reports them: "some 175 officials, 60 of them funded by …"."""

import pytest
from django.urls import reverse

from tests.factories.stakeholders import OrganisationFactory
from tests.factories.workshops import FundedParticipationFactory, WorkshopFactory
from workshops.models import Workshop
from workshops.selectors import workshop_totals_text, workshops_with_totals

pytestmark = pytest.mark.django_db

CAPACITY = "Developing Capacity to Manage Migration"


def test_the_capacity_workshop_reports_175_officials_60_funded_by_two_donors(idm_data):
    workshop = workshops_with_totals().get(title=CAPACITY)
    text = workshop_totals_text(workshop)
    assert "175" in text
    assert "60" in text
    assert "United States" in text
    assert "Australia" in text
    assert text.startswith("some 175 officials, 60 of them funded by ")


def test_fundings_are_added_up_and_donors_named_once():
    workshop = WorkshopFactory(attendance_total=80)
    alpha = OrganisationFactory(name="Alphaland")
    beta = OrganisationFactory(name="Betaland")
    FundedParticipationFactory(workshop=workshop, funded_participants=10, donors=[alpha])
    FundedParticipationFactory(workshop=workshop, funded_participants=5, donors=[alpha, beta])
    text = workshop_totals_text(workshops_with_totals().get(pk=workshop.pk))
    assert text == "some 80 officials, 15 of them funded by Alphaland and Betaland"


def test_without_total_the_reported_text_or_funding_alone_is_shown():
    reported = WorkshopFactory(attendance_text="well attended")
    assert workshop_totals_text(reported) == "well attended"
    funded_only = WorkshopFactory()
    FundedParticipationFactory(workshop=funded_only, funded_participants=7)
    assert workshop_totals_text(funded_only) == "7 officials funded"
    assert workshop_totals_text(WorkshopFactory()) == ""


def test_the_line_costs_no_query_beyond_the_workshops_own(django_assert_num_queries):
    for index in range(5):
        workshop = WorkshopFactory(attendance_total=100 + index)
        FundedParticipationFactory(
            workshop=workshop, donors=[OrganisationFactory(), OrganisationFactory()]
        )
    with django_assert_num_queries(1):  # totals and donors are annotations of the workshops
        lines = [workshop_totals_text(w) for w in workshops_with_totals(Workshop.objects.all())]
    assert len(lines) == 5 and all("10 of them funded by" in line for line in lines)


def test_the_annotated_and_the_plain_workshop_give_the_same_line(idm_data):
    plain = Workshop.objects.get(title=CAPACITY)
    annotated = workshops_with_totals().get(pk=plain.pk)
    assert workshop_totals_text(plain) == workshop_totals_text(annotated)


def test_the_workshop_admin_shows_the_line_on_the_change_page_and_in_the_list(
    idm_data, admin_client
):
    workshop = Workshop.objects.get(title=CAPACITY)
    page = admin_client.get(reverse("admin:workshops_workshop_change", args=[workshop.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "some 175 officials, 60 of them funded by" in content
    listing = admin_client.get(reverse("admin:workshops_workshop_changelist"), {"q": "Capacity"})
    assert "some 175 officials, 60 of them funded by" in listing.content.decode()
