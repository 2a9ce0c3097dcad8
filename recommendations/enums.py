from django.db import models
from django.utils.translation import gettext_lazy as _


class RecommendationKind(models.TextChoices):
    RECOMMENDATION = "recommendation", _("Recommendation")
    LESSON_LEARNED = "lesson_learned", _("Lesson learned")
    GOOD_PRACTICE = "good_practice", _("Good practice")
    PRINCIPLE = "principle", _("Principle")
    POSITION = "position", _("Position")
    CONCLUSION = "conclusion", _("Conclusion")
    PROCEDURAL = "procedural", _("Procedural")
    COMMITMENT = "commitment", _("Commitment")
    CALL = "call", _("Call to action")
    PROPOSAL = "proposal", _("Proposal")
    RESOLUTION = "resolution", _("Resolution")
    DECISION = "decision", _("Decision")
    PRIORITY = "priority", _("Priority")
    PLANNED_OUTPUT = "planned_output", _("Planned output")
    OBSERVATION = "observation", _("Observation")
    SLIDE_POINT = "slide_point", _("Presentation point")


class RecommendationState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ADOPTED = "adopted", _("Adopted")
    CLOSED = "closed", _("Closed")
    SUPERSEDED = "superseded", _("Superseded")


RecommendationState.moves = {
    RecommendationState.DRAFT: {RecommendationState.ADOPTED},
    RecommendationState.ADOPTED: {RecommendationState.CLOSED, RecommendationState.SUPERSEDED},
    RecommendationState.CLOSED: set(),
    RecommendationState.SUPERSEDED: set(),
}


class AssignmentRole(models.TextChoices):
    LEAD = "lead", _("Lead")
    SUPPORTING = "supporting", _("Supporting")


class Response(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUPPORTED = "supported", _("Supported")
    SUPPORTED_IN_PART = "supported_in_part", _("Supported in part")
    NOTED = "noted", _("Noted")


class ImplementationStatus(models.TextChoices):
    NOT_STARTED = "not_started", _("Not started")
    IN_PROGRESS = "in_progress", _("In progress")
    IMPLEMENTED = "implemented", _("Implemented")
    PARTIALLY_IMPLEMENTED = "partially_implemented", _("Partially implemented")
    NOT_IMPLEMENTED = "not_implemented", _("Not implemented")


class ReportState(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    ACCEPTED = "accepted", _("Accepted")
    RETURNED = "returned", _("Returned")


ReportState.moves = {
    ReportState.SUBMITTED: {ReportState.ACCEPTED, ReportState.RETURNED},
    ReportState.RETURNED: {ReportState.SUBMITTED},
    ReportState.ACCEPTED: set(),
}

# An addressee has concluded its work in these statuses: an assignment in one of them is never
# overdue, and a recommendation whose addressees have all concluded is no longer in progress.
ImplementationStatus.concluded = frozenset(
    {
        ImplementationStatus.IMPLEMENTED,
        ImplementationStatus.PARTIALLY_IMPLEMENTED,
        ImplementationStatus.NOT_IMPLEMENTED,
    }
)

# Weight of an addressee in its recommendation's overall progress (``recommendation_rollup``).
AssignmentRole.weights = {AssignmentRole.LEAD: 2, AssignmentRole.SUPPORTING: 1}


class ReminderKind(models.TextChoices):
    FOLLOWUP_DUE = "followup_due", _("Follow-up due")
    EVENT = "event", _("Workshop or meeting coming up")
    AGENDA_CHANGED = "agenda_changed", _("Published agenda changed")
    ROUND_CLOSING = "round_closing", _("Proposal round closing")
    DOCUMENT_DUE = "document_due", _("Document due")


class ReminderState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Not needed any more")


class ReportKind(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    SESSION = "session", _("Before a dialogue session")
    ON_DEMAND = "on_demand", _("On demand")


class ReportRunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
