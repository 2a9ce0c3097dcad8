from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganisationKind(models.TextChoices):
    MEMBER_STATE = "member_state", _("Member state")
    OBSERVER_STATE = "observer_state", _("Observer state")
    GOVERNMENT_BODY = "government_body", _("Government body")
    UN_AGENCY = "un_agency", _("UN agency or body")
    INTERGOVERNMENTAL = "intergovernmental", _("Intergovernmental organisation")
    GOVERNING_BODY = "governing_body", _("IOM governing body")
    REGIONAL_CONSULTATIVE_PROCESS = "rcp", _("Regional consultative process")
    REGIONAL_ECONOMIC_BODY = "regional_economic_body", _("Regional economic body")
    GLOBAL_FORUM = "global_forum", _("Global forum or process")
    NGO = "ngo", _("Non-governmental organisation")
    DIASPORA = "diaspora", _("Migrant or diaspora association")
    BUSINESS = "business", _("Business")
    TRADE_UNION = "trade_union", _("Trade union")
    ACADEMIC = "academic", _("Academic or research institution")
    OTHER = "other", _("Other")


class KindBasis(models.TextChoices):
    STATED = "stated", _("Stated in the documents")
    INFERRED = "inferred", _("Inferred from context")
    UNKNOWN = "unknown", _("Unknown")


class GroupKind(models.TextChoices):
    ADVISORY_BOARD = "advisory_board", _("Advisory board")
    COORDINATION_GROUP = "coordination_group", _("Inter-agency coordination group")
    WORKING_GROUP = "working_group", _("Working group")
    OTHER = "other", _("Other")


class MembershipRole(models.TextChoices):
    MEMBER = "member", _("Member")
    CHAIR = "chair", _("Chair")
    CO_CHAIR = "co_chair", _("Co-chair")


class ActingRole(models.TextChoices):
    """In what capacity a login acts for its organisation."""

    SECRETARIAT = "secretariat", _("Secretariat")
    DELEGATION = "delegation", _("Member-state delegation")
    AGENCY = "agency", _("Partner agency")
