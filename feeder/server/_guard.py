"""uvicorn's HTTP/1.1 protocol with the limits a server on the open internet needs.

uvicorn closes a keep-alive connection that stays idle after a response, but
not one that never sends a request, nor one that sends its headers a byte a
minute (slowloris): each holds a file descriptor forever, and once the
process runs out of them every reader is locked out and asyncio logs a
traceback per failed ``accept``. :func:`guarded_protocol` adds:

- a **request deadline**: the whole request (headers and body) must arrive
  within ``request_timeout`` seconds of the connection opening or of the
  previous response ending; data trickling in does not extend it;
- a **connection cap** below the open-file limit: when it is reached, a new
  connection takes the place of the oldest one that is not being served (an
  idle or half-sent one), so that clients that send a request at once are
  served even while someone holds hundreds of idle connections; only when
  every connection is busy is the newcomer refused;
- one **log line per interval** saying how many connections were closed and
  why, instead of a line (or a traceback) per connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["MAX_HEAD_BYTES", "GuardStats", "guarded_protocol"]

log = logging.getLogger("feeder.http")

#: A request's line and headers together (nginx allows 4 x 8 KiB by default).
MAX_HEAD_BYTES = 32 * 1024


@dataclass
class GuardStats:
    """What the guard did since it last said so (and in all, for tests and benchmarks).

    The first event of a quiet spell is logged at once; what follows within
    ``interval`` is counted and logged as one line when the interval ends (or
    when the server stops, :meth:`flush`).
    """

    interval: float = 60.0
    timed_out: int = 0
    evicted: int = 0
    refused: int = 0
    totals: dict[str, int] = field(
        default_factory=lambda: {"timed_out": 0, "evicted": 0, "refused": 0}
    )
    _last: float = field(default=float("-inf"))
    _pending: asyncio.TimerHandle | None = None

    def count(self, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        self.totals[what] += 1
        wait = self._last + self.interval - time.monotonic()
        if wait <= 0:
            self.flush()
        elif self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        """Log what was counted since the last line, if anything."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if not (self.timed_out or self.evicted or self.refused):
            return
        self._last = time.monotonic()
        log.warning(
            "http: closed %d connections that sent no complete request in time and %d "
            "idle ones to make room, refused %d (at most one such line per %.0f s)",
            self.timed_out,
            self.evicted,
            self.refused,
            self.interval,
        )
        self.timed_out = self.evicted = self.refused = 0


def guarded_protocol(
    *, max_connections: int, request_timeout: float, stats: GuardStats
) -> type[H11Protocol]:
    """An H11Protocol class with a request deadline and a connection cap shared by its instances."""
    # Oldest first; shared by every connection of one server.
    live: OrderedDict[GuardedH11, None] = OrderedDict()

    class GuardedH11(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _accepted = False
        _served = False  # answered a request: a keep-alive client, not a stray socket
        _head_bytes = 0  # of the request being received

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(live) >= max_connections and not _make_room():
                stats.count("refused")
                transport.abort()
                return
            self._accepted = True
            super().connection_made(transport)
            live[self] = None
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            live.pop(self, None)
            if self._accepted:
                super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:
                # Counted before parsing: h11 limits only a head still incomplete after
                # a read, so a big head that arrives in one read would pass.
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._refuse_head()
                    return
            super().data_received(data)
            if self._complete():
                self._disarm()  # the whole request is here; the response is up to us
                self._head_bytes = 0

        def _refuse_head(self) -> None:
            self._disarm()
            stats.count("refused")
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain"
                b"\r\ncontent-length: 32\r\nconnection: close\r\n\r\n"
                b"Request header fields too large\n"
            )
            self.transport.close()

        def on_response_complete(self) -> None:
            self._served = True
            super().on_response_complete()
            if not self.transport.is_closing() and not self._complete():
                self._arm()  # the next request on this connection gets its own deadline

        def _complete(self) -> bool:
            return self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED)

        def waiting(self) -> bool:
            """Whether no request is being served on this connection right now."""
            return self._deadline is not None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(request_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                stats.count("timed_out")
                self.transport.abort()

        def evict(self) -> None:
            self._disarm()
            stats.count("evicted")
            self.transport.abort()

    def _make_room() -> bool:
        # The oldest connection that never sent a whole request goes first; a client
        # that was answered and keeps its connection for the next one goes last.
        victim = next((c for c in live if c.waiting() and not c._served), None)
        if victim is None:
            victim = next((c for c in live if c.waiting()), None)
        if victim is None:
            return False
        live.pop(victim)
        victim.evict()
        return True

    return GuardedH11
