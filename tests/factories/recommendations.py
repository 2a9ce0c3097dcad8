import datetime

import factory

from recommendations.enums import ImplementationStatus
from recommendations.models import Assignment, EvidenceFile, FollowUpReport, Recommendation

from .stakeholders import OrganisationFactory


class RecommendationFactory(factory.django.DjangoModelFactory):
    reference = factory.Sequence(lambda n: f"IDM-2005-R{n + 1:03d}")
    text = factory.Sequence(lambda n: f"Recommendation text {n}.")

    class Meta:
        model = Recommendation


class AssignmentFactory(factory.django.DjangoModelFactory):
    recommendation = factory.SubFactory(RecommendationFactory)
    organisation = factory.SubFactory(OrganisationFactory)

    class Meta:
        model = Assignment


class FollowUpReportFactory(factory.django.DjangoModelFactory):
    assignment = factory.SubFactory(AssignmentFactory)
    period_start = datetime.date(2006, 1, 1)
    period_end = datetime.date(2006, 6, 30)
    status = ImplementationStatus.IN_PROGRESS
    progress = 50
    narrative = "Work has started."

    class Meta:
        model = FollowUpReport


class EvidenceFileFactory(factory.django.DjangoModelFactory):
    report = factory.SubFactory(FollowUpReportFactory)
    file = factory.django.FileField(filename="evidence.txt", data=b"Minutes of the meeting.")
    original_name = "evidence.txt"
    size = 23
    content_type = "text/plain"

    class Meta:
        model = EvidenceFile
