"""Queue Celery tasks after commit, without ever failing the request that queues them.

A task is only published once the transaction that made its rows has committed (a worker must
find them). If the broker is down at that moment the web request has already succeeded: the
failure is logged and the state-based sweeps send what was missed on their next run.
"""

import logging
import time

from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger("idm.queue")

# After a failed publish, the same broker is not tried again for this many seconds: a sweep that
# queues hundreds of reminders while the broker is down must not wait out the publish retries of
# each one. The sweep after the pause queues them all.
BROKER_PAUSE_SECONDS = 10.0
_broker_down_until: dict[str, float] = {}


def _broker_of(task) -> str:
    return str(task.app.conf.broker_url or "")


def broker_pause_reset() -> None:
    """Forget earlier failures: the next publish tries the broker again."""
    _broker_down_until.clear()


def _describe(task, kwargs: dict) -> str:
    return "{}({})".format(
        task.name, ", ".join(f"{key}={value!r}" for key, value in sorted(kwargs.items()))
    )


def publish(task, **kwargs) -> bool:
    """Publish ``task`` now; False (and logged) when the broker cannot be reached."""
    broker = _broker_of(task)
    if _broker_down_until.get(broker, 0.0) > time.monotonic():
        logger.error(
            "not queued %s: the broker was unreachable moments ago; the next sweep catches up",
            _describe(task, kwargs),
        )
        return False
    # OperationalError: kombu gave up after the retries of CELERY_TASK_PUBLISH_RETRY_POLICY (Redis
    # refused or timed out, the embedded broker's folder not writable); OSError: a socket or file
    # error raised before kombu could wrap it.
    try:
        task.delay(**kwargs)
    except (OperationalError, OSError) as error:
        _broker_down_until[broker] = time.monotonic() + BROKER_PAUSE_SECONDS
        logger.error(
            "could not queue %s: %s; the next sweep catches up", _describe(task, kwargs), error
        )
        return False
    _broker_down_until.pop(broker, None)
    return True


def enqueue_on_commit(task, **kwargs) -> None:
    """Publish ``task`` with ``kwargs`` once the current transaction commits."""
    transaction.on_commit(lambda: publish(task, **kwargs))
