"""Who a login acts for: predicates shared by every app's rules.

A login acts for one organisation through its ``Representative``: as the secretariat, as a
member-state delegation or as a partner agency. Anonymous visitors and logins without a
representative act for nobody.
"""

import rules

from .enums import ActingRole
from .models import Organisation, Representative


def representative_of(user) -> Representative | None:
    """The representative of an active, logged-in user, or None (the lookup is cached)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    try:
        return user.representative
    except Representative.DoesNotExist:
        return None


def acting_organisation(user, role: str | None = None) -> Organisation | None:
    """The organisation ``user`` acts for (in ``role``, when given), or None."""
    representative = representative_of(user)
    if representative is None or (role is not None and representative.role != role):
        return None
    return representative.organisation


def acting_organisation_id(user) -> int | None:
    """Id of the organisation the user acts for, whatever the role; ``None`` without one."""
    representative = representative_of(user)
    return representative.organisation_id if representative is not None else None


def delegation_of(user) -> Organisation | None:
    """The member-state delegation ``user`` acts for, or None."""
    return acting_organisation(user, ActingRole.DELEGATION)


def _acts_as(role: str):
    def check(user) -> bool:
        representative = representative_of(user)
        return representative is not None and representative.role == role

    return check


is_delegate = rules.predicate(_acts_as(ActingRole.DELEGATION), name="is_delegate")
is_agency = rules.predicate(_acts_as(ActingRole.AGENCY), name="is_agency")


@rules.predicate
def is_representative(user) -> bool:
    """Acts for an organisation in any role (secretariat, delegation or agency)."""
    return representative_of(user) is not None


@rules.predicate
def is_secretariat(user) -> bool:
    """A secretariat officer; a superuser counts as one."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return _acts_as(ActingRole.SECRETARIAT)(user)
