from rest_framework.routers import DefaultRouter

from .reports import ReportRunViewSet
from .views import (
    AssignmentViewSet,
    DialogueViewSet,
    EvidenceViewSet,
    FollowUpViewSet,
    OrganisationViewSet,
    PolicyDomainViewSet,
    RecommendationViewSet,
)

router = DefaultRouter()
router.register("recommendations", RecommendationViewSet, basename="recommendation")
router.register("assignments", AssignmentViewSet, basename="assignment")
router.register("follow-ups", FollowUpViewSet, basename="follow-up")
router.register("evidence", EvidenceViewSet, basename="evidence")
router.register("organisations", OrganisationViewSet, basename="organisation")
router.register("policy-domains", PolicyDomainViewSet, basename="policy-domain")
router.register("dialogues", DialogueViewSet, basename="dialogue")
router.register("reports", ReportRunViewSet, basename="report")

urlpatterns = router.urls
