"""The recommendations app's models: the follow-up itself, reminders about it, and report runs."""

from .core import (
    EVIDENCE_MAX_BYTES,
    PERCENT,
    REFERENCE_PATTERN,
    Assignment,
    EvidenceFile,
    FollowUpReport,
    Recommendation,
    evidence_upload_to,
)
from .reminders import Reminder, ReminderItem, ReminderRule
from .reports import ReportRun, report_file_upload_to

__all__ = [
    "EVIDENCE_MAX_BYTES",
    "PERCENT",
    "REFERENCE_PATTERN",
    "Assignment",
    "EvidenceFile",
    "FollowUpReport",
    "Recommendation",
    "Reminder",
    "ReminderItem",
    "ReminderRule",
    "ReportRun",
    "evidence_upload_to",
    "report_file_upload_to",
]
