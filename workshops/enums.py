from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkshopKind(models.TextChoices):
    IDM_INTERSESSIONAL = "idm_intersessional", _("IDM inter-sessional workshop")
    WORKSHOP = "workshop", _("Workshop")
    SEMINAR = "seminar", _("Seminar")
    EXPERT_MEETING = "expert_meeting", _("Expert meeting")
    MEETING = "meeting", _("Meeting or consultation")
    CONFERENCE = "conference", _("Conference")
    HIGH_LEVEL = "high_level", _("High-level dialogue or summit")
    TRAINING = "training", _("Training course")


class WorkshopStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    CONFIRMED = "confirmed", _("Confirmed")
    HELD = "held", _("Held")
    REPORT_PUBLISHED = "report_published", _("Report published")
    CANCELLED = "cancelled", _("Cancelled")


class PartnerRole(models.TextChoices):
    ORGANISER = "organiser", _("Organiser")
    CO_ORGANISER = "co_organiser", _("Co-organiser")
    HOST = "host", _("Host")
    FUNDER = "funder", _("Funder")
    PARTNER = "partner", _("Partner")
    REQUESTED_BY = "requested_by", _("Requested by")


class RegistrationRole(models.TextChoices):
    PARTICIPANT = "participant", _("Participant")
    SPEAKER = "speaker", _("Speaker")
    PANELLIST = "panellist", _("Panellist")
    RAPPORTEUR = "rapporteur", _("Rapporteur")


class ProposalKind(models.TextChoices):
    DIALOGUE_THEME = "dialogue_theme", _("Dialogue theme")
    WORKSHOP_TOPIC = "workshop_topic", _("Workshop topic")
    OTHER_FORUM = "other_forum", _("Topic for another forum")


class ProposalState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    SELECTED = "selected", _("Selected")
    DEFERRED = "deferred", _("Deferred")
    NOT_ENDORSED = "not_endorsed", _("Not endorsed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


ProposalState.moves = {
    ProposalState.DRAFT: {ProposalState.SUBMITTED, ProposalState.WITHDRAWN},
    ProposalState.SUBMITTED: {
        ProposalState.SELECTED,
        ProposalState.DEFERRED,
        ProposalState.NOT_ENDORSED,
        ProposalState.WITHDRAWN,
    },
    ProposalState.SELECTED: set(),
    ProposalState.DEFERRED: set(),
    ProposalState.NOT_ENDORSED: set(),
    ProposalState.WITHDRAWN: set(),
}


class ProposalEventKind(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    SUBMITTED = "submitted", _("Submitted")
    SELECTED = "selected", _("Selected")
    DEFERRED = "deferred", _("Deferred")
    NOT_ENDORSED = "not_endorsed", _("Not endorsed")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    NOTE = "note", _("Note")
