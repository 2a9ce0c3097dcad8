"""Queue Celery tasks after commit, without ever failing the request that queues them.

A task is only published once the transaction that made its rows has committed (a worker must
find them). If the broker is down at that moment the web request has already succeeded: the
failure is logged and the state-based sweeps send what was missed on their next run.
"""

import logging

from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger("idm.queue")


def publish(task, **kwargs) -> bool:
    """Publish ``task`` now; False (and logged) when the broker cannot be reached."""
    try:
        task.delay(**kwargs)
    except (OperationalError, ConnectionError, TimeoutError) as error:
        logger.error(
            "could not queue %s(%s): %s; the next sweep catches up",
            task.name,
            ", ".join(f"{key}={value!r}" for key, value in sorted(kwargs.items())),
            error,
        )
        return False
    return True


def enqueue_on_commit(task, **kwargs) -> None:
    """Publish ``task`` with ``kwargs`` once the current transaction commits."""
    transaction.on_commit(lambda: publish(task, **kwargs))
