import datetime

import factory

from recommendations.enums import RecommendationState, ReminderKind
from recommendations.models import Reminder, ReminderItem

from .recommendations import AssignmentFactory, RecommendationFactory
from .stakeholders import OrganisationFactory, PersonFactory


class AdoptedRecommendationFactory(RecommendationFactory):
    state = RecommendationState.ADOPTED


class OpenAssignmentFactory(AssignmentFactory):
    """An assignment still at work (not started), of an adopted recommendation, with a date."""

    recommendation = factory.SubFactory(AdoptedRecommendationFactory)
    due_date = datetime.date(2026, 12, 31)


class FocalPointFactory(PersonFactory):
    organisation = factory.SubFactory(OrganisationFactory)
    email = factory.Sequence(lambda n: f"focal{n}@agency.example.org")
    is_focal_point = True


class HeadOfOfficeFactory(PersonFactory):
    organisation = factory.SubFactory(OrganisationFactory)
    email = factory.Sequence(lambda n: f"head{n}@agency.example.org")
    is_head_of_office = True


class ReminderFactory(factory.django.DjangoModelFactory):
    kind = ReminderKind.FOLLOWUP_DUE
    organisation = factory.SubFactory(OrganisationFactory)
    recipient_key = factory.LazyAttribute(lambda o: f"organisation:{o.organisation.pk}")
    occurrence = factory.Sequence(
        lambda n: (datetime.date(2026, 1, 1) + datetime.timedelta(n)).isoformat()
    )
    due_on = datetime.date(2026, 12, 31)
    to_emails = factory.LazyFunction(lambda: ["focal@agency.example.org"])
    subject = "IDM follow-up"
    body_text = "Follow-up due.\n"
    body_html = "<p>Follow-up due.</p>"

    class Meta:
        model = Reminder


class ReminderItemFactory(factory.django.DjangoModelFactory):
    reminder = factory.SubFactory(ReminderFactory)
    assignment = factory.SubFactory(OpenAssignmentFactory)
    due_date = factory.LazyAttribute(lambda o: o.assignment.due_date)
    occurrence = "before-30"

    class Meta:
        model = ReminderItem
