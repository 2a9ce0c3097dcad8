"""The delegation portal: theme rounds and proposals."""

from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("rounds/", views.round_list, name="rounds"),
    path("rounds/<int:pk>/", views.round_detail, name="round"),
    path("rounds/<int:pk>/propose/", views.proposal_propose, name="propose"),
    path("proposals/<int:pk>/", views.proposal_detail, name="proposal"),
    path("proposals/<int:pk>/edit/", views.proposal_edit, name="edit"),
    *(
        path(
            f"proposals/<int:pk>/{action}/", views.proposal_action, {"action": action}, name=action
        )
        for action in views.ACTIONS
    ),
    path("my-delegation/", views.my_delegation, name="mine"),
]
