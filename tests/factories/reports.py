import factory

from recommendations.enums import ReportKind
from recommendations.models import ReportRun


class ReportRunFactory(factory.django.DjangoModelFactory):
    """A queued on-demand run (build it with ``reporting.report_run_build``)."""

    kind = ReportKind.ON_DEMAND

    class Meta:
        model = ReportRun
