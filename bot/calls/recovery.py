"""Calls a crashed bot left `active`: finalised on the next start with a partial summary.

LiveKit never re-dispatches a job whose worker was SIGKILLed, so our database is the only record
of such a call. A call is only taken over once nothing was written for it for `stale_after_s`:
another worker sharing the database may still be analysing it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.delivery.outbox import summary_enqueuer
from bot.summary import finalize_call
from storage.db import Database
from storage.models import ObservationRow, utcnow
from storage.repository import find_unfinished_calls, get_call

logger = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_S = 120.0


def finalise_crashed_calls(
    database: Database,
    *,
    default_webhook_url: str | None,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
) -> list[str]:
    """Finalise every stale `active` call (summary status "partial", webhook queued); returns their ids.

    One call that cannot be finalised is logged and left for the next start; the others go on.
    """
    finalised = []
    for call_id in find_unfinished_calls(database):
        try:
            if not _is_stale(database, call_id, stale_after_s):
                logger.info("call %s is active and was written to recently: left alone", call_id)
                continue
            finalize_call(
                database, call_id, partial=True, extra=_enqueue_webhook(call_id, default_webhook_url)
            )
        except Exception:
            logger.exception("could not finalise crashed call %s; will retry on the next start", call_id)
            continue
        logger.warning("call %s was left active by a crash: finalised with a partial summary", call_id)
        finalised.append(call_id)
    return finalised


def _is_stale(database: Database, call_id: str, stale_after_s: float) -> bool:
    with database.session() as session:
        call = get_call(session, call_id)
        last_write = session.scalar(
            select(func.max(ObservationRow.created_at)).where(ObservationRow.call_id == call_id)
        )
        last_activity = max(filter(None, (call.started_at, last_write)))
    return utcnow() - last_activity >= timedelta(seconds=stale_after_s)


def _enqueue_webhook(call_id: str, default_url: str | None) -> Callable[[Session, dict[str, Any]], None]:
    def enqueue(session: Session, summary: dict[str, Any]) -> None:
        metadata = get_call(session, call_id).metadata_
        summary_enqueuer(summary, call_id=call_id, call_metadata=metadata, default_url=default_url)(session)

    return enqueue
