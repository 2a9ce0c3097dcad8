from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.routers import DefaultRouter

from config.api import ServerError, error_json, is_api_request
from config.health import healthz
from idm import views as idm_views
from idm.api import urls as idm_api
from recommendations.api import urls as recommendations_api
from workshops.api import urls as workshops_api

admin.site.site_header = _("IDM Secretariat")
admin.site.site_title = _("IDM Secretariat")
admin.site.index_title = _("International Dialogue on Migration: administration")

# One router for the API, so that its root (GET /api/v1/) lists every app's endpoints; each app
# keeps its own registrations in <app>/api/urls.py.
api_router = DefaultRouter()
for app_router in (idm_api.router, workshops_api.router, recommendations_api.router):
    api_router.registry.extend(app_router.registry)

api_v1 = [
    path("", include(api_router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The documentation page is read only: GET and HEAD (an OPTIONS would ask the page's HTML
    # renderer for a template it has not got).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", http_method_names=["get", "head"]
        ),
        name="docs",
    ),
]

urlpatterns = [
    path("", idm_views.home, name="home"),
    path("", include("idm.urls")),
    path("", include("workshops.urls")),
    path("", include("recommendations.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"))),
    path("healthz", healthz, name="healthz"),
]


def handler404(request, exception):
    """An unknown URL: under /api/, a 404 in the API's error shape; elsewhere, templates/404.html.

    (With DEBUG on, Django shows its technical 404 page instead, for every URL.)
    """
    if is_api_request(request):
        return error_json(exceptions.NotFound())
    return defaults.page_not_found(request, exception)


def handler500(request):
    """An unhandled error: under /api/, a 500 in the API's error shape; elsewhere, 500.html."""
    if is_api_request(request):
        return error_json(ServerError())
    return defaults.server_error(request)
