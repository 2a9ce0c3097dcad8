from django.contrib import admin
from django.urls import path

from config.health import healthz
from idm import views as idm_views

urlpatterns = [
    path("", idm_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
