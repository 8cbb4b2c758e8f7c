"""What WebSub hubs were told: one row per hub and feed, written after each round of pings.

Storage only: the rows say which feed URL (topic) a hub took, refused or is still
owed, and when; what a ping is and when to send one is feeder.publishing.websub's
business.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, func, select

from db.models import Base, WebSubPing

__all__ = ["HubRecord", "PingOutcome", "owed", "record", "summary"]

_PINGS = Base.metadata.tables[WebSubPing.__tablename__]
_C = _PINGS.c

#: ok: the hub took it; failed: it may work later, so the feed stays owed; refused: the
#: hub said no for good (a 4xx), nothing owed; owed: not tried yet, a later build sends it.
Outcome = Literal["ok", "failed", "refused", "owed"]


@dataclass(frozen=True, slots=True)
class PingOutcome:
    """What became of one ping (a hub told that one feed changed)."""

    hub: str
    topic: str
    kind: Outcome
    at: datetime
    #: When the feed changed: the start of what is owed.
    changed_at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HubRecord:
    """One hub as ``feeder status`` shows it."""

    hub: str
    owed: int
    last_ok_at: datetime | None
    last_ok_topic: str | None
    last_error: str | None
    last_error_at: datetime | None
    last_error_topic: str | None


def _insert(connection: Connection) -> Any:
    # Loaded here, as in writes.create_state: the PostgreSQL dialects load asyncio.
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(_PINGS)


def record(connection: Connection, outcomes: Iterable[PingOutcome]) -> None:
    """Store ``outcomes`` (at most one per hub and topic), each in its own way."""
    kinds: dict[str, list[PingOutcome]] = {}
    for outcome in outcomes:
        kinds.setdefault(outcome.kind, []).append(outcome)
    for kind, group in kinds.items():
        statement = _insert(connection)
        new = statement.excluded
        if kind == "ok":
            update = {
                "owed_since": None,
                "attempts": 0,
                "last_attempt_at": new.last_attempt_at,
                "last_ok_at": new.last_ok_at,
                "last_error": None,
                "last_error_at": None,
            }
        elif kind == "refused":
            update = {
                "owed_since": None,
                "attempts": 0,
                "last_attempt_at": new.last_attempt_at,
                "last_error": new.last_error,
                "last_error_at": new.last_error_at,
            }
        elif kind == "failed":
            update = {
                "owed_since": func.coalesce(_C.owed_since, new.owed_since),
                "attempts": _C.attempts + 1,
                "last_attempt_at": new.last_attempt_at,
                "last_error": new.last_error,
                "last_error_at": new.last_error_at,
            }
        else:
            update = {"owed_since": func.coalesce(_C.owed_since, new.owed_since)}
        connection.execute(
            statement.on_conflict_do_update(index_elements=[_C.hub, _C.topic], set_=update),
            [_row(outcome) for outcome in group],
        )


def _row(outcome: PingOutcome) -> dict[str, Any]:
    tried = outcome.kind != "owed"
    failed = outcome.kind in ("failed", "refused")
    return {
        "hub": outcome.hub,
        "topic": outcome.topic,
        "owed_since": outcome.changed_at if outcome.kind in ("failed", "owed") else None,
        "attempts": 1 if outcome.kind == "failed" else 0,
        "last_attempt_at": outcome.at if tried else None,
        "last_ok_at": outcome.at if outcome.kind == "ok" else None,
        "last_error": outcome.error if failed else None,
        "last_error_at": outcome.at if failed else None,
    }


def owed(connection: Connection, hub: str) -> list[tuple[str, datetime]]:
    """The feeds ``hub`` is owed a ping for, with when each changed, oldest first."""
    rows = connection.execute(
        select(_C.topic, _C.owed_since)
        .where(_C.hub == hub, _C.owed_since.is_not(None))
        .order_by(_C.owed_since, _C.topic)
    ).all()
    return [(row.topic, row.owed_since) for row in rows]


def summary(connection: Connection, hubs: Sequence[str]) -> list[HubRecord]:
    """Each of ``hubs``: how many feeds it is owed, its last success and its last failure."""
    found = []
    for hub in hubs:
        count = connection.execute(
            select(func.count()).where(_C.hub == hub, _C.owed_since.is_not(None))
        ).scalar_one()
        ok = connection.execute(
            select(_C.last_ok_at, _C.topic)
            .where(_C.hub == hub, _C.last_ok_at.is_not(None))
            .order_by(_C.last_ok_at.desc(), _C.topic)
            .limit(1)
        ).first()
        failed = connection.execute(
            select(_C.last_error, _C.last_error_at, _C.topic)
            .where(_C.hub == hub, _C.last_error.is_not(None))
            .order_by(_C.last_error_at.desc(), _C.topic)
            .limit(1)
        ).first()
        found.append(
            HubRecord(
                hub=hub,
                owed=int(count),
                last_ok_at=ok.last_ok_at if ok else None,
                last_ok_topic=ok.topic if ok else None,
                last_error=failed.last_error if failed else None,
                last_error_at=failed.last_error_at if failed else None,
                last_error_topic=failed.topic if failed else None,
            )
        )
    return found
