import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from stakeholders.enums import ActingRole, GroupKind, MembershipRole, OrganisationKind
from tests.factories.stakeholders import (
    GroupFactory,
    GroupMembershipFactory,
    OrganisationFactory,
    PersonFactory,
    RepresentativeFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

UNIQUE_VIOLATION = r"(?i)unique constraint"


def test_organisation_graph_saves_and_reads_well():
    iom = OrganisationFactory(
        name="International Organization for Migration",
        acronym="IOM",
        kind=OrganisationKind.INTERGOVERNMENTAL,
    )
    office = OrganisationFactory(name="IOM Geneva", parent=iom)
    person = PersonFactory(honorific="Ms", name="Jane Doe", title="Director", organisation=iom)
    person.other_organisations.add(office)
    board = GroupFactory(name="Business Advisory Board", acronym="BAB", convened_by=iom)
    membership = GroupMembershipFactory(
        group=board,
        organisation=iom,
        person=person,
        role=MembershipRole.CHAIR,
        start_date=datetime.date(2005, 1, 1),
        end_date=datetime.date(2005, 12, 31),
    )
    representative = RepresentativeFactory(
        user=UserFactory(username="jdoe"),
        organisation=iom,
        role=ActingRole.SECRETARIAT,
        person=person,
    )

    assert list(iom.children.all()) == [office]
    assert list(person.other_organisations.all()) == [office]
    assert str(iom) == "International Organization for Migration (IOM)"
    assert iom.short_name == "IOM"
    assert str(office) == "IOM Geneva"
    assert str(person) == "Ms Jane Doe"
    assert person.display_with_title == "Ms Jane Doe, Director"
    assert str(board) == "Business Advisory Board (BAB)"
    assert str(membership) == "IOM in Business Advisory Board (BAB)"
    assert str(representative) == "jdoe — Secretariat of IOM"
    assert representative.user.check_password("password")
    assert GroupFactory(kind=GroupKind.WORKING_GROUP).memberships.count() == 0


def test_organisation_without_name_is_refused():
    with pytest.raises(IntegrityError, match="organisation_name_not_empty"), transaction.atomic():
        OrganisationFactory(name="")


def test_organisation_cannot_be_its_own_parent():
    organisation = OrganisationFactory()
    organisation.parent = organisation

    with pytest.raises(ValidationError) as excinfo:
        organisation.full_clean()
    assert excinfo.value.message_dict == {"__all__": ["An organisation cannot be its own parent."]}

    with pytest.raises(IntegrityError, match="organisation_not_own_parent"), transaction.atomic():
        organisation.save()


def test_person_without_name_is_refused():
    with pytest.raises(IntegrityError, match="person_name_not_empty"), transaction.atomic():
        PersonFactory(name="")


def test_membership_ending_before_it_starts_is_refused():
    membership = GroupMembershipFactory.build(
        group=GroupFactory(),
        organisation=OrganisationFactory(),
        start_date=datetime.date(2005, 6, 1),
        end_date=datetime.date(2005, 5, 31),
    )

    with pytest.raises(ValidationError) as excinfo:
        membership.full_clean()
    assert excinfo.value.message_dict == {"__all__": ["A membership cannot end before it starts."]}

    with (
        pytest.raises(IntegrityError, match="membership_ends_after_it_starts"),
        transaction.atomic(),
    ):
        membership.save()


def test_membership_may_end_on_the_day_it_starts_or_stay_open():
    same_day = GroupMembershipFactory(
        start_date=datetime.date(2005, 6, 1), end_date=datetime.date(2005, 6, 1)
    )
    open_ended = GroupMembershipFactory(start_date=datetime.date(2005, 6, 1), end_date=None)

    same_day.full_clean()
    open_ended.full_clean()


def test_second_membership_with_the_same_start_is_refused():
    first = GroupMembershipFactory(start_date=datetime.date(2005, 1, 1))
    second = GroupMembershipFactory.build(
        group=first.group, organisation=first.organisation, start_date=first.start_date
    )

    with pytest.raises(ValidationError) as excinfo:
        second.full_clean()
    assert excinfo.value.message_dict == {
        "__all__": ["This organisation already has a membership of this group starting then."]
    }

    with pytest.raises(IntegrityError, match=UNIQUE_VIOLATION), transaction.atomic():
        second.save()


def test_same_organisation_may_rejoin_a_group_with_a_new_start():
    first = GroupMembershipFactory(
        start_date=datetime.date(2003, 1, 1), end_date=datetime.date(2004, 12, 31)
    )

    GroupMembershipFactory(
        group=first.group, organisation=first.organisation, start_date=datetime.date(2006, 1, 1)
    )

    assert first.group.memberships.count() == 2
