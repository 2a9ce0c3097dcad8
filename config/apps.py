from django.contrib.admin.apps import AdminConfig


class SecretariatAdminConfig(AdminConfig):
    """The admin, with the site that asks staff for a second factor (config/admin_site.py)."""

    default_site = "config.admin_site.SecretariatAdminSite"
