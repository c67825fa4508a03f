"""What a DIMSE service plugs into the listener, and the guard around it.

A service is the presentation contexts it accepts plus the pynetdicom
event handlers that answer them. Handlers are wrapped by `guarded`, which
gives each DIMSE request what Django gives each HTTP request: fresh
database connections, and an unexpected exception turned into one logged
traceback and a failure status for the peer instead of pynetdicom's own
default status (PS3.7 C: a failure status is always a valid answer).
"""

import functools
import inspect
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from django.db import close_old_connections
from pydicom.dataset import Dataset
from pynetdicom.events import EventType

logger = logging.getLogger(__name__)

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Context:
    """A presentation context the listener accepts (pynetdicom add_supported_context)."""

    abstract_syntax: str
    transfer_syntaxes: Sequence[str]
    # SCP/SCU role selection (PS3.7 D.3.3.4), e.g. storage contexts that
    # C-GET sends back over the same association.
    scu_role: bool | None = None
    scp_role: bool | None = None


@dataclass(frozen=True)
class Service:
    name: str
    contexts: Sequence[Context]
    handlers: Sequence[tuple[EventType, Handler]]


def guarded(failure_status: IntEnum) -> Callable[[Handler], Handler]:
    """Wrap a handler: fresh DB connections, exceptions become `failure_status`.

    A plain handler returns a status; a generator handler (C-FIND, C-GET,
    C-MOVE) yields (status, identifier) pairs, and gets one final
    (failure_status, None) if it raises part-way.
    """

    def decorate(handler: Handler) -> Handler:
        name = handler.__qualname__

        if inspect.isgeneratorfunction(handler):

            @functools.wraps(handler)
            def generator_wrapper(event: Any, *args: Any) -> Iterator[Any]:
                close_old_connections()
                try:
                    yield from handler(event, *args)
                except Exception:
                    logger.exception(
                        "DIMSE handler %s failed; answering %s",
                        name,
                        failure_status.name,
                    )
                    yield failure_status, None
                finally:
                    close_old_connections()

            return generator_wrapper

        @functools.wraps(handler)
        def wrapper(event: Any, *args: Any) -> Any:
            close_old_connections()
            try:
                return handler(event, *args)
            except Exception:
                logger.exception(
                    "DIMSE handler %s failed; answering %s", name, failure_status.name
                )
                return failure_status
            finally:
                close_old_connections()

        return wrapper

    return decorate


# Error Comment (0000,0902) is an LO: 64 characters (PS3.7 C.4, PS3.5 6.2).
ERROR_COMMENT_MAX = 64


def failure_status(code: int, reason: str, error_id: int | None = None) -> Dataset:
    """A status dataset carrying the reason as Error Comment."""
    status = Dataset()
    status.Status = int(code)
    # The command set has no character set: ASCII only.
    status.ErrorComment = reason.encode("ascii", "replace").decode()[:ERROR_COMMENT_MAX]
    if error_id is not None:
        status.ErrorID = error_id
    return status


def pending_responses(
    event: Any, matches: Sequence[Any], pending: int, cancel: int
) -> Iterator[tuple[int, Any]]:
    """Yield each match as a pending response until the peer cancels.

    PS3.4 C.4.1.2.2 / K.4.1.2.2: a C-CANCEL ends the pending responses
    with a Cancel status. Responses already sent when it arrives stay sent:
    the peer may get more pending responses than it had read when it
    cancelled (PS3.7 9.3.2.3).
    """
    for sent, match in enumerate(matches):
        if event.is_cancelled:
            log_cancel(event, sent, len(matches))
            yield cancel, None
            return
        yield pending, match


def log_cancel(
    event: Any, sent: int, total: int, what: str = "pending responses"
) -> None:
    """One line for an operator: who cancelled what, and how far it got."""
    logger.info(
        "%s from %s cancelled by C-CANCEL after %d of %d %s",
        type(event.request).__name__.replace("_", "-"),
        event.assoc.requestor.ae_title,
        sent,
        total,
        what,
    )
