from django.db import models
from django.utils.translation import gettext_lazy as _


class DialogueStatus(models.TextChoices):
    PROPOSED = "proposed", _("Theme proposed")
    AGREED = "agreed", _("Theme agreed")
    HELD = "held", _("Held")


class CouncilBody(models.TextChoices):
    COUNCIL = "council", _("Council")
    EXECUTIVE_COMMITTEE = "executive_committee", _("Executive Committee")


class MeetingKind(models.TextChoices):
    IDM_SITTING = "idm_sitting", _("IDM sitting at a Council session")
    INFORMAL_CONSULTATION = "informal_consultation", _("Informal consultation")


class MeetingStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    CONFIRMED = "confirmed", _("Confirmed")
    HELD = "held", _("Held")
    CANCELLED = "cancelled", _("Cancelled")


class AgendaState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PROVISIONAL = "provisional", _("Provisional (published)")
    ADOPTED = "adopted", _("Adopted")
    CLOSED = "closed", _("Closed")


AgendaState.moves = {
    AgendaState.DRAFT: {AgendaState.PROVISIONAL},
    AgendaState.PROVISIONAL: {AgendaState.PROVISIONAL, AgendaState.ADOPTED},
    AgendaState.ADOPTED: {AgendaState.CLOSED},
    AgendaState.CLOSED: set(),
}


class DocumentKind(models.TextChoices):
    DISCUSSION_NOTE = "discussion_note", _("Discussion note")
    BACKGROUND_PAPER = "background_paper", _("Background paper")
    AGENDA = "agenda", _("Agenda")
    COUNCIL_DOCUMENT = "council_document", _("Council document")
    REPORT = "report", _("Report")
    WORKSHOP_REPORT = "workshop_report", _("Workshop report")
    WORKSHOP_DOCUMENTS = "workshop_documents", _("Workshop documents")
    PRESENTATION = "presentation", _("Presentation")
    OPINION_NOTE = "opinion_note", _("Opinion note")
    PUBLICATION = "publication", _("Publication")
    POLICY_FRAMEWORK = "policy_framework", _("Policy framework or strategy")
    LEGAL_INSTRUMENT = "legal_instrument", _("Treaty, law, declaration or resolution")
    OTHER = "other", _("Other")
