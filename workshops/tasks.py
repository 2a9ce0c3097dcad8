"""Celery tasks of the workshops app: thin wrappers that unpack ids and call one service."""

import logging
import smtplib

from celery import shared_task

from .models import ThemeProposal
from .services import proposal_decision_notify

logger = logging.getLogger(__name__)


@shared_task(name="workshops.notify_proposal_decision", bind=True, max_retries=5)
def notify_proposal_decision_task(self, *, proposal_id: int) -> int:
    """Email a proposal's decision to its delegations; retried while the mail server fails."""
    proposal = ThemeProposal.objects.filter(pk=proposal_id).first()
    if proposal is None:
        logger.warning("theme proposal %s is gone; no decision to notify", proposal_id)
        return 0
    try:
        return proposal_decision_notify(proposal=proposal)
    except (smtplib.SMTPException, OSError) as error:  # refused, timed out, unreachable
        raise self.retry(exc=error, countdown=60 * 2**self.request.retries) from error
