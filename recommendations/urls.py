"""Browser URLs of the recommendations app (included at the site root)."""

from django.urls import path

from . import views

app_name = "recommendations"

urlpatterns = [
    path("evidence/<int:pk>/download/", views.evidence_download, name="evidence-download"),
]
