"""What every pacsweb Celery task shares: retries on transient failures.

Tasks are thin wrappers around plain functions (which tests call
directly) and must be idempotent: with acks_late a task whose worker dies
is delivered again, and a retry repeats the whole function. Apps declare
their tasks with `@shared_task(base=RetryingTask)` and raise
TransientError for a failure worth retrying later (a peer that refused the
association, a store that timed out); database and network errors count
as transient too. Anything else fails the task at once.
"""

from celery import Task
from django.db import InterfaceError, OperationalError

from pacsweb.env import env_int


class TransientError(Exception):
    """A failure that may go away by itself: retry later, with backoff."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    OperationalError,  # database restarting, connection dropped, lock timeout
    InterfaceError,  # connection closed under us
    ConnectionError,  # broker, object store, peers
    TimeoutError,
)


class RetryingTask(Task):
    """Retry on TRANSIENT_ERRORS with exponential backoff and jitter.

    Backoff doubles from PACSWEB_TASK_RETRY_BACKOFF seconds up to ten
    minutes; jitter keeps many tasks failing together (the database went
    away) from all coming back in the same second.
    """

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = env_int("PACSWEB_TASK_RETRY_BACKOFF", 5, minimum=1)
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = env_int("PACSWEB_TASK_MAX_RETRIES", 8, minimum=0)
