from rest_framework.routers import DefaultRouter

from .views import ProposalRoundViewSet, ThemeProposalViewSet

router = DefaultRouter()
router.register("theme-proposals", ThemeProposalViewSet, basename="theme-proposal")
router.register("proposal-rounds", ProposalRoundViewSet, basename="proposal-round")

urlpatterns = router.urls
