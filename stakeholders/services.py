"""Domain actions on organisations, people and the logins that act for them."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as PermissionGroup
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils.translation import gettext as _

from .enums import ActingRole
from .models import Organisation, Representative

User = get_user_model()

SECRETARIAT_PERMISSION_GROUP = "Secretariat"
SECRETARIAT_APPS = (
    "stakeholders",
    "idm",
    "workshops",
    "recommendations",
    "django_celery_beat",
)


class RepresentativeError(Exception):
    pass


@transaction.atomic
def secretariat_permission_group_ensure() -> PermissionGroup:
    """The permission group that gives secretariat officers the whole admin of the dialogue."""
    group, _created = PermissionGroup.objects.get_or_create(name=SECRETARIAT_PERMISSION_GROUP)
    permissions = Permission.objects.filter(content_type__app_label__in=SECRETARIAT_APPS)
    user_permissions = Permission.objects.filter(
        content_type__app_label="auth", content_type__model="user"
    )
    group.permissions.add(*permissions, *user_permissions)
    return group


@dataclass(frozen=True)
class EnsuredLogin:
    user: User
    created: bool


@transaction.atomic
def representative_login_ensure(
    *,
    username: str,
    password: str,
    organisation: Organisation,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> EnsuredLogin:
    """A login acting for ``organisation``; an existing one is left with its password."""
    if role not in ActingRole.values:
        raise RepresentativeError(_("Unknown role: %(role)s") % {"role": role})
    user = User.objects.select_for_update().filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username, first_name=first_name, last_name=last_name, email=email)
        user.set_password(password)
    user.is_staff = role == ActingRole.SECRETARIAT
    user.is_active = True
    user.save()
    Representative.objects.update_or_create(
        user=user, defaults={"organisation": organisation, "role": role}
    )
    if role == ActingRole.SECRETARIAT:
        user.groups.add(secretariat_permission_group_ensure())
    return EnsuredLogin(user=user, created=created)
