"""What ``feeder run`` (the ``jobs`` package) needs of a site beyond the public API.

The daemon's bookkeeping: whether there is work, when the next scheduled
article is due, its heartbeat and last error for ``feeder status``, and a
build for when the daemon already holds the publish lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from feeder._tombstones import next_expiry
from feeder.site import Site, storage_errors

if TYPE_CHECKING:
    from feeder.publishing.build import BuildReport

__all__ = [
    "build_holding_the_lock",
    "clear_daemon",
    "next_unpublished",
    "pending",
    "record_daemon",
    "record_error",
]


def pending(site: Site) -> bool:
    """Whether articles changed since the last build.

    The daemon asks this every poll interval, so it is one primary-key read
    on a plain connection, whatever the site's size.
    """
    with storage_errors():
        return site.storage.pending()


def next_unpublished(site: Site) -> datetime | None:
    """The earliest instant the last build has not covered yet at which the feeds
    change by themselves: a scheduled article comes due, or a tombstone expires.

    Counting from the last build rather than from now matters: an article
    that came due while that build ran is still returned (in the past), so
    the daemon builds again at once instead of missing it.
    """
    with storage_errors(), site.storage.read() as reader:
        state = reader.state()
        covered = state.built_until if state.built_until is not None else site.now()
        due = reader.next_due(covered)
        expiry = next_expiry(reader, site.config, covered)
    return min((when for when in (due, expiry) if when is not None), default=None)


def record_daemon(site: Site, pid: int, host: str) -> None:
    """Note that the daemon ``pid`` on ``host`` publishes this site and is alive now."""
    with storage_errors(), site.storage.write() as writer:
        writer.record_daemon(pid, host, site.now())


def clear_daemon(site: Site, pid: int, host: str) -> None:
    """Note that the daemon ``pid`` stopped (unless another one took over since)."""
    with storage_errors(), site.storage.write() as writer:
        writer.clear_daemon(pid, host)


def record_error(site: Site, message: str) -> None:
    """Keep ``message`` as the last error, for ``feeder status``."""
    with storage_errors(), site.storage.write() as writer:
        writer.record_error(message, site.now())


def build_holding_the_lock(site: Site, *, full: bool) -> BuildReport:
    """A build for a caller that already holds the publish lock (the daemon's worker)."""
    from feeder.publishing.build import run_build

    with storage_errors():
        return run_build(site.storage, site.config, now=site.now(), full=full)
