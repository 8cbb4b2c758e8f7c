"""What ``feeder run`` (the ``jobs`` package) needs of a site beyond the public API.

The daemon's bookkeeping, for one output directory (named by its id, see
feeder.publishing.outputs): whether there is work, when the next scheduled
article is due, its heartbeat row and the last build error for ``feeder
status``, and the build its worker runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from db import DaemonRecord, Lock
from feeder._tombstones import next_expiry
from feeder.site import Site, storage_errors

if TYPE_CHECKING:
    from feeder.publishing.build import BuildReport

__all__ = [
    "FORGET_DAEMONS_AFTER",
    "build",
    "built_revision",
    "clear_daemon",
    "next_unpublished",
    "pending",
    "record_daemon",
    "record_error",
    "standbys",
]

#: A daemon that has not reported for this long is dropped from ``feeder status``.
FORGET_DAEMONS_AFTER = timedelta(days=1)
#: A standby that reported within this long is taken to be there (it writes its row
#: every five seconds).
STANDBY_FRESH = timedelta(seconds=15)


def pending(site: Site, output: str) -> bool:
    """Whether articles changed since ``output`` was last built.

    The daemon asks this every poll interval, so it is one read of two rows
    by primary key on a plain connection, whatever the site's size.
    """
    with storage_errors():
        return site.storage.pending(output)


def built_revision(site: Site, output: str) -> int:
    """The site revision ``output`` was last built to (-1: never, or too long ago)."""
    with storage_errors(), site.storage.read() as reader:
        return reader.build_state(output).built_revision


def next_unpublished(site: Site, output: str) -> datetime | None:
    """The earliest instant the last build of ``output`` has not covered yet at which
    its feeds change by themselves: a scheduled article comes due, or a tombstone expires.

    Counting from the last build rather than from now matters: an article
    that came due while that build ran is still returned (in the past), so
    the daemon builds again at once instead of missing it.
    """
    with storage_errors(), site.storage.read() as reader:
        state = reader.build_state(output)
        covered = state.built_until if state.built_until is not None else site.now()
        due = reader.next_due(covered)
        expiry = next_expiry(reader, site.config, covered)
    return min((when for when in (due, expiry) if when is not None), default=None)


def record_daemon(site: Site, daemon: DaemonRecord) -> None:
    """Write the daemon's row (its role, output directory and heartbeat)."""
    with storage_errors(), site.storage.write() as writer:
        writer.record_daemon(daemon, site.now() - FORGET_DAEMONS_AFTER)


def standbys(site: Site, output: str, *, but: str) -> list[str]:
    """The daemons (but ``but``) standing by for ``output`` that reported lately."""
    fresh = site.now() - STANDBY_FRESH
    with storage_errors(), site.storage.read() as reader:
        return [
            f"pid {d.pid} on {d.host}"
            for d in reader.daemons()
            if d.output_id == output and d.role == "standby" and d.id != but
            and d.heartbeat >= fresh
        ]  # fmt: skip


def clear_daemon(site: Site, daemon_id: str) -> None:
    """Remove the row of a daemon that stopped."""
    with storage_errors(), site.storage.write() as writer:
        writer.clear_daemon(daemon_id)


def record_error(site: Site, output: str, message: str) -> None:
    """Keep ``message`` as the last error of ``output``, for ``feeder status``."""
    with storage_errors(), site.storage.write() as writer:
        writer.record_error(output, message, site.now())


def release_output(site: Site, output: str, writer: str) -> bool:
    """Clear the mark an interrupted build by ``writer`` left (it is known to have stopped)."""
    with storage_errors(), site.storage.write() as marker:
        return marker.release_output(output, writer=writer)


def build(
    site: Site, lock: Lock, *, writer: str, output: str, full: bool, sweep: bool
) -> BuildReport:
    """A build for the daemon's worker: ``lock`` is ``output``'s publish lock, kept open."""
    from feeder.publishing.exclusive import build_exclusively

    with storage_errors():
        return build_exclusively(
            site.storage,
            site.config,
            lock,
            writer=writer,
            now=site.now,
            output=output,
            full=full,
            sweep=sweep,
        )
