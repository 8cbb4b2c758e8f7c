"""WebSub publishing: tell the site's hubs which feeds a build changed.

Every feed names its hubs (``websub_hub``) next to its own URL, in the feed and
in HTTP ``Link`` headers (W3C WebSub, section 4). After a build, each hub gets a
``hub.mode=publish&hub.url=<feed>`` form POST for every feed whose bytes changed
(the recommendation leaves publishing to the hub; this is the form the common
hubs take). One request per feed, on one kept-alive connection per hub per round:
hubs differ in whether they take several ``hub.url`` in one request, and one
answer per feed says which feed a refusal is about.

Pings never hold up a build. A :class:`Pinger` sends them from one thread per
hub, so a hub that hangs delays no other, with a timeout per request. A ping
that fails for a reason that may pass (no answer, a 5xx, 429) is sent again
after a growing, jittered delay, a bounded number of times; a 4xx refusal is
final. What the hubs took, refused or are still owed is stored per hub and feed
(db.pings) for ``feeder status``; a ping still owed when the process ends (or
gives up) is sent again by the next build, so a change is never lost to a hub
that was down.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

from db import HubRecord, PingOutcome, Storage, StorageFailure
from db.pings import Outcome

if TYPE_CHECKING:
    from http.client import HTTPConnection

    from feeder.config import Config

__all__ = [
    "HubReport",
    "HubStatus",
    "PingPolicy",
    "PingReport",
    "Pinger",
    "changed_topics",
]

log = logging.getLogger("feeder.websub")

USER_AGENT = "feeder (WebSub publisher)"
# What is read of a hub's answer: enough for its reason, never a flood.
_ANSWER_BYTES = 64 * 1024
# How long stopping may spend noting in the database what is still owed.
_RECORD_ON_STOP_SECONDS = 0.5


@dataclass(frozen=True)
class PingPolicy:
    """How hard a ping is tried before it is left to the next build."""

    #: Seconds one request may take to connect, and then between bytes of the answer.
    timeout: float = 5.0
    #: Attempts per change of a feed in this process (the first one included).
    attempts: int = 8
    #: The delay after the first failure; it doubles after each one, up to ``max_delay``.
    first_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, failures: int, rng: random.Random) -> float:
        """Seconds before the next attempt: half the backoff, plus up to as much again.

        The jitter keeps the sites that a hub turned away at once from all coming
        back at the same instant.
        """
        backoff = min(self.max_delay, self.first_delay * 2.0 ** max(0, failures - 1))
        return backoff / 2 + rng.random() * backoff / 2


def changed_topics(config: Config, written: Iterable[str]) -> list[str]:
    """The public URLs of the feeds among ``written`` (paths in the output directory).

    A feed is a file named as a format names its feeds (rss.xml, atom.xml,
    feed.json), wherever it is: the rule the server serves feed media types by.
    Pages, the OPML list and stylesheets are not WebSub topics, nor are archive
    pages (RFC 5005): nobody subscribes to them, readers fetch them once.
    """
    from feeder.publishing.archives import is_subscription_feed

    return list(dict.fromkeys(config.url(p) for p in written if is_subscription_feed(p)))


@dataclass(frozen=True)
class HubStatus:
    """One hub as ``feeder status`` shows it, from what was stored."""

    hub: str
    #: Feeds whose last change has not reached the hub yet.
    owed: int
    last_ok_at: datetime | None
    last_ok_topic: str | None
    #: The latest failure not made good since (a later success for the same feed clears it).
    last_error: str | None
    last_error_at: datetime | None
    last_error_topic: str | None

    @classmethod
    def of(cls, record: HubRecord) -> HubStatus:
        return cls(
            hub=record.hub,
            owed=record.owed,
            last_ok_at=record.last_ok_at,
            last_ok_topic=record.last_ok_topic,
            last_error=record.last_error,
            last_error_at=record.last_error_at,
            last_error_topic=record.last_error_topic,
        )


@dataclass(frozen=True)
class HubReport:
    """What one hub made of the pings since the last report."""

    hub: str
    delivered: int = 0
    #: Feeds the hub turned down for good, each with its answer.
    refused: tuple[tuple[str, str], ...] = ()
    #: Pings not taken yet: still being tried, or left to the next build.
    undelivered: int = 0
    #: How many of those were still being tried when the report was made.
    trying: int = 0
    #: Why the last attempt that may work later failed.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.refused and not self.undelivered

    def describe(self) -> str:
        """One line saying how it went."""
        if self.ok:
            return f"websub: {self.hub} took {_pings(self.delivered)}"
        parts = []
        if self.refused:
            parts.append(f"refused {_pings(len(self.refused))} ({self.refused[-1][1]})")
        if self.undelivered:
            parts.append(
                f"{_pings(self.undelivered)} not delivered ({self.error or 'no answer yet'}); "
                "the next build sends them again"
            )
        return f"websub: {self.hub}: " + "; ".join(parts)


def _pings(count: int) -> str:
    return f"{count} ping" + ("" if count == 1 else "s")


@dataclass(frozen=True)
class PingReport:
    """What the hubs made of the pings since the last report."""

    hubs: tuple[HubReport, ...] = ()

    @property
    def done(self) -> bool:
        """Whether no ping is being tried any more (each was taken, refused or given up on)."""
        return all(hub.trying == 0 for hub in self.hubs)

    @property
    def ok(self) -> bool:
        return all(hub.ok for hub in self.hubs)

    def failures(self) -> list[str]:
        """One line per hub that refused a ping or has not taken one yet."""
        return [hub.describe() for hub in self.hubs if not hub.ok]


# -- sending ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    kind: Literal["ok", "retry", "refused"]
    error: str | None = None
    #: No HTTP answer at all (refused connection, timeout): the hub is down for now.
    unreachable: bool = False
    retry_after: float | None = None


_OUTCOMES: dict[str, Outcome] = {"ok": "ok", "retry": "failed", "refused": "refused"}
_RETRY_STATUSES = {408, 425, 429}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _reason(status: int, reason: str, body: bytes) -> str:
    """``HTTP 400 Bad Request: <the first line of the hub's answer>``."""
    text = f"HTTP {status} {reason}".rstrip()
    for line in body.decode("utf-8", "replace").splitlines():
        line = _CONTROL.sub(" ", line).strip()
        if line:
            return f"{text}: {line[:200]}"
    return text


def _transport_error(exc: BaseException, timeout: float, host: str) -> str:
    import socket
    import ssl

    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {host}: {exc.strerror or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {getattr(exc, 'verify_message', None) or exc.reason or exc}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return f"unreadable answer ({type(exc).__name__})"


def _retry_after(value: str | None, cap: float) -> float | None:
    """RFC 9110 section 10.2.3: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(cap, float(value))
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(cap, max(0.0, when.timestamp() - time.time()))


class _Connection:
    """Requests to one hub over one kept-alive connection, opened when first needed."""

    def __init__(self, hub: str, timeout: float, max_delay: float) -> None:
        parts = urlsplit(hub)
        self.host = parts.hostname or ""
        self._port = parts.port
        self._https = parts.scheme == "https"
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._max_delay = max_delay
        self._connection: HTTPConnection | None = None

    def _open(self) -> HTTPConnection:
        import http.client

        if self._https:
            import ssl

            return http.client.HTTPSConnection(
                self.host, self._port, timeout=self._timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self._port, timeout=self._timeout)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def publish(self, topic: str) -> _Answer:
        import http.client

        body = urlencode([("hub.mode", "publish"), ("hub.url", topic)]).encode("ascii")
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": USER_AGENT,
        }
        # A hub may close a kept-alive connection between requests: one more try on a
        # new connection then, which is not an attempt that failed.
        for reused in (self._connection is not None, False):
            if self._connection is None:
                self._connection = self._open()
            try:
                self._connection.request("POST", self._target, body, headers)
                response = self._connection.getresponse()
                answer = response.read(_ANSWER_BYTES + 1)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused:
                    continue
                return _Answer("retry", _transport_error(exc, self._timeout, self.host), True)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                return _Answer("retry", _transport_error(exc, self._timeout, self.host), True)
            if len(answer) > _ANSWER_BYTES or response.will_close:
                self.close()
            return self._judge(response.status, response.reason, answer, response.headers)
        raise AssertionError("unreachable")

    def _judge(self, status: int, reason: str, body: bytes, headers: Any) -> _Answer:
        if 200 <= status < 300:
            return _Answer("ok")
        error = _reason(status, reason, body)
        if status in _RETRY_STATUSES or status >= 500:
            wait = _retry_after(headers.get("Retry-After"), self._max_delay)
            return _Answer("retry", error, retry_after=wait)
        if 300 <= status < 400:
            where = headers.get("Location")
            if where:
                error = f"{error} (moved to {_CONTROL.sub('', where)[:200]}; set websub_hub to it)"
        return _Answer("refused", error)


# -- the pinger ------------------------------------------------------------------------


@dataclass
class _Ping:
    topic: str
    changed_at: datetime
    failures: int = 0
    due: float = 0.0  # time.monotonic()
    # The feed changed again while this ping was on its way: send one more after it.
    again: bool = False


@dataclass
class _Hub:
    url: str
    pending: dict[str, _Ping] = field(default_factory=dict)
    flying: dict[str, _Ping] = field(default_factory=dict)
    load_owed: bool = False
    loading: bool = False
    thread: threading.Thread | None = None
    # Since the last report:
    delivered: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    gave_up: int = 0
    error: str | None = None
    # What was logged last, so that a failure is logged once and not on every retry.
    failing: str | None = None
    refusing: str | None = None

    @property
    def busy(self) -> bool:
        return bool(self.pending or self.flying or self.load_owed or self.loading)

    def report(self) -> HubReport:
        trying = len(self.pending) + len(self.flying)
        report = HubReport(
            hub=self.url,
            delivered=self.delivered,
            refused=tuple(self.refused),
            undelivered=trying + self.gave_up,
            trying=trying,
            error=self.error,
        )
        self.delivered, self.refused, self.gave_up = 0, [], 0
        if not self.pending and not self.flying:
            self.error = None
        return report


Clock = Callable[[], datetime]


class Pinger:
    """Sends WebSub pings in the background; :meth:`submit` returns at once.

    One thread per hub, started with its first ping. Outcomes are stored through
    ``storage`` for ``feeder status``; a ping that cannot be sent stays owed there
    and a later :meth:`submit` (the next build) sends it again.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        clock: Clock,
        policy: PingPolicy | None = None,
        seed: int | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self.policy = policy or PingPolicy()
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._hubs: dict[str, _Hub] = {}
        self._stopping = False
        self._record_failing: str | None = None

    # -- asking ----------------------------------------------------------------------

    def submit(self, hubs: Sequence[str], topics: Sequence[str]) -> None:
        """Ping each of ``hubs`` about each of ``topics`` (feed URLs), and send what is owed.

        Returns at once; the pings go out on the hubs' threads.
        """
        if not hubs:
            return
        now = self._clock()
        with self._cond:
            if self._stopping:
                stopped = True
            else:
                stopped = False
                for url in hubs:
                    hub = self._hub(url)
                    for topic in topics:
                        self._add(hub, topic, now)
                    hub.load_owed = True
                self._cond.notify_all()
        if stopped:  # too late to send: leave them to the next build
            self._record(
                [PingOutcome(url, topic, "owed", now, now) for url in hubs for topic in topics]
            )

    def _hub(self, url: str) -> _Hub:
        hub = self._hubs.get(url)
        if hub is None:
            hub = self._hubs[url] = _Hub(url)
        if hub.thread is None:
            hub.thread = threading.Thread(
                target=self._run, args=(hub,), name=f"websub {url}", daemon=True
            )
            hub.thread.start()
        return hub

    @staticmethod
    def _add(hub: _Hub, topic: str, changed_at: datetime) -> None:
        if topic in hub.flying:
            hub.flying[topic].again = True
        elif topic not in hub.pending:
            # A ping already waiting covers this change too: it is sent after it.
            hub.pending[topic] = _Ping(topic, changed_at)

    # -- waiting -----------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> PingReport:
        """Wait until every ping asked for so far is taken, refused or given up on.

        Returns what became of the pings since the last report, whether or not
        the wait timed out (see :attr:`PingReport.done`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while any(hub.busy for hub in self._hubs.values()):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            return PingReport(tuple(hub.report() for hub in self._hubs.values()))

    def stop(self, wait: float = 0.0) -> PingReport:
        """Wait up to ``wait`` seconds for the pings on their way, then stop.

        What is not delivered by then is stored as owed (the next build sends
        it) and logged; a request in flight is abandoned, not waited for.
        """
        report = self.wait(wait)
        now = self._clock()
        with self._cond:
            self._stopping = True
            left = [
                (hub.url, ping)
                for hub in self._hubs.values()
                for ping in (*hub.flying.values(), *hub.pending.values())
            ]
            self._cond.notify_all()
        if left:
            by_hub: dict[str, int] = {}
            for url, _ping in left:
                by_hub[url] = by_hub.get(url, 0) + 1
            for url, count in by_hub.items():
                log.warning(
                    "websub: stopping with %s to %s not delivered; the next build sends them",
                    _pings(count),
                    url,
                    extra={"fields": {"event": "websub-owed", "hub": url, "pings": count}},
                )
            outcomes = [PingOutcome(url, p.topic, "owed", now, p.changed_at) for url, p in left]
            recorder = threading.Thread(
                target=self._record, args=(outcomes,), name="websub owed", daemon=True
            )
            recorder.start()
            recorder.join(_RECORD_ON_STOP_SECONDS)
        return report

    # -- the hubs' threads -------------------------------------------------------------

    def _run(self, hub: _Hub) -> None:
        connection = _Connection(hub.url, self.policy.timeout, self.policy.max_delay)
        try:
            while True:
                due = self._next(hub)
                if due is None:
                    return
                try:
                    if due:
                        self._settle(hub, self._send(hub, connection, due))
                    else:
                        self._load_owed(hub)
                except Exception:  # a bug: keep the traceback, leave the pings owed
                    log.exception("websub: pinging %s failed; the next build tries again", hub.url)
                    self._abandon(hub)
                    return
        finally:
            connection.close()

    def _abandon(self, hub: _Hub) -> None:
        now = self._clock()
        with self._cond:
            left = [*hub.flying.values(), *hub.pending.values()]
            hub.flying.clear()
            hub.pending.clear()
            hub.load_owed = hub.loading = False
            hub.gave_up += len(left)
            hub.thread = None  # the next submit starts another
            self._cond.notify_all()
        with contextlib.suppress(Exception):
            self._record([PingOutcome(hub.url, p.topic, "owed", now, p.changed_at) for p in left])

    def _next(self, hub: _Hub) -> list[_Ping] | None:
        """The pings to send now ([] to load what is owed first); None when stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                due = [p for p in hub.pending.values() if p.due <= now]
                if due:
                    for ping in due:
                        del hub.pending[ping.topic]
                        hub.flying[ping.topic] = ping
                    return due
                if hub.load_owed:
                    hub.load_owed, hub.loading = False, True
                    return []
                wake = min((p.due for p in hub.pending.values()), default=None)
                self._cond.wait(None if wake is None else wake - now)
            return None

    def _send(
        self, hub: _Hub, connection: _Connection, pings: list[_Ping]
    ) -> list[tuple[_Ping, _Answer]]:
        answers: list[tuple[_Ping, _Answer]] = []
        try:
            for index, ping in enumerate(pings):
                if self._stopping:
                    break  # stop() has noted the rest as owed
                answer = connection.publish(ping.topic)
                answers.append((ping, answer))
                if answer.unreachable:
                    # The hub is down: the rest would only wait for the same timeout.
                    answers += [(rest, answer) for rest in pings[index + 1 :]]
                    break
        finally:
            connection.close()
        return answers

    def _settle(self, hub: _Hub, answers: list[tuple[_Ping, _Answer]]) -> None:
        """Store what the hub said, then let waiters see it (so a status read after a wait
        shows it), and schedule what is tried again."""
        now = self._clock()
        outcomes: list[PingOutcome] = []
        retry: list[tuple[_Ping, _Answer]] = []
        for ping, answer in answers:
            if answer.kind == "retry":
                ping.failures += 1
                retry.append((ping, answer))
            outcomes.append(
                PingOutcome(
                    hub.url, ping.topic, _OUTCOMES[answer.kind], now, ping.changed_at, answer.error
                )
            )
        if self._stopping:
            return  # stop() stored these as owed; the site may be closed by now
        self._record(outcomes)
        with self._cond:
            if self._stopping:
                return
            # One delay for the round: pings that failed together are tried again together.
            failures = max((ping.failures for ping, _answer in retry), default=0)
            due = time.monotonic() + self.policy.delay(failures, self._rng)
            for ping, answer in answers:
                hub.flying.pop(ping.topic, None)
                again = ping.again
                if answer.kind == "ok":
                    hub.delivered += 1
                elif answer.kind == "refused":
                    hub.refused.append((ping.topic, answer.error or "refused"))
                elif ping.failures >= self.policy.attempts:
                    hub.gave_up += 1
                    hub.error = answer.error
                else:
                    hub.error = answer.error
                    ping.due, ping.again = due, False
                    if answer.retry_after is not None:
                        ping.due = max(due, time.monotonic() + answer.retry_after)
                    hub.pending[ping.topic] = ping
                    continue
                if again:
                    self._add(hub, ping.topic, ping.changed_at)
            self._cond.notify_all()
        self._log(hub, answers, retry)

    def _log(
        self,
        hub: _Hub,
        answers: list[tuple[_Ping, _Answer]],
        retry: list[tuple[_Ping, _Answer]],
    ) -> None:
        """Each failure once: not on every retry of it, and again when it changes."""
        delivered = sum(1 for _ping, answer in answers if answer.kind == "ok")
        if delivered:
            recovered = hub.failing is not None
            hub.failing = None
            log.info(
                "websub: %s %s %s",
                hub.url,
                "answers again and took" if recovered else "took",
                _pings(delivered),
                extra={"fields": {"event": "websub-ok", "hub": hub.url, "pings": delivered}},
            )
        refused = [(ping, answer) for ping, answer in answers if answer.kind == "refused"]
        if refused and refused[-1][1].error != hub.refusing:
            hub.refusing = refused[-1][1].error
            log.error(
                "websub: %s refused %s: %s (e.g. %s)",
                hub.url,
                _pings(len(refused)),
                hub.refusing,
                refused[-1][0].topic,
                extra={
                    "fields": {"event": "websub-refused", "hub": hub.url, "error": hub.refusing}
                },
            )
        elif delivered and not refused:
            hub.refusing = None
        given_up = [ping for ping, _answer in retry if ping.failures >= self.policy.attempts]
        trying = [(p, answer) for p, answer in retry if p.failures < self.policy.attempts]
        if trying and trying[-1][1].error != hub.failing:
            hub.failing = trying[-1][1].error
            log.warning(
                "websub: %s: %s; trying again (%s, at most %d attempts each)",
                hub.url,
                hub.failing,
                _pings(len(trying)),
                self.policy.attempts,
                extra={"fields": {"event": "websub-failed", "hub": hub.url, "error": hub.failing}},
            )
        if given_up:
            log.warning(
                "websub: %s: gave up on %s after %d attempts (%s); the next build sends them",
                hub.url,
                _pings(len(given_up)),
                self.policy.attempts,
                retry[-1][1].error,
                extra={"fields": {"event": "websub-gave-up", "hub": hub.url}},
            )

    def _load_owed(self, hub: _Hub) -> None:
        """Add what earlier builds left owed to this hub (a ping already here covers it)."""
        try:
            with self._storage.read() as reader:
                owed = reader.owed_pings(hub.url)
        except StorageFailure as exc:
            self._storage_failed(f"cannot read the pings owed to hubs: {exc}")
            owed = []
        with self._cond:
            hub.loading = False
            for topic, since in owed:
                self._add(hub, topic, since)
            self._cond.notify_all()

    def _record(self, outcomes: list[PingOutcome]) -> None:
        if not outcomes:
            return
        try:
            with self._storage.write() as writer:
                writer.record_pings(outcomes)
        except StorageFailure as exc:
            self._storage_failed(f"cannot record the pings: {exc}")
        else:
            self._record_failing = None

    def _storage_failed(self, message: str) -> None:
        if message != self._record_failing:
            self._record_failing = message
            log.warning("websub: %s", message)
