import factory
from django.contrib.auth import get_user_model

from stakeholders.enums import ActingRole, GroupKind, OrganisationKind
from stakeholders.models import Group, GroupMembership, Organisation, Person, Representative


class UserFactory(factory.django.DjangoModelFactory):
    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password("password")

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True


class OrganisationFactory(factory.django.DjangoModelFactory):
    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = OrganisationKind.MEMBER_STATE

    class Meta:
        model = Organisation


class PersonFactory(factory.django.DjangoModelFactory):
    name = factory.Sequence(lambda n: f"Person {n}")

    class Meta:
        model = Person


class GroupFactory(factory.django.DjangoModelFactory):
    name = factory.Sequence(lambda n: f"Group {n}")
    kind = GroupKind.ADVISORY_BOARD

    class Meta:
        model = Group


class GroupMembershipFactory(factory.django.DjangoModelFactory):
    group = factory.SubFactory(GroupFactory)
    organisation = factory.SubFactory(OrganisationFactory)

    class Meta:
        model = GroupMembership


class RepresentativeFactory(factory.django.DjangoModelFactory):
    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = ActingRole.DELEGATION

    class Meta:
        model = Representative
