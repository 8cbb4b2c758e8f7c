"""The embedded HTTP server: uvicorn on a socket bound here, with limits.

uvicorn runs the output directory's app (feeder.server._files) with
feeder.server._guard's limits on connections and request time, so idle and
half-sent connections cannot lock readers out, and with one log line per
interval for floods of bad clients.

Production sites can serve the directory with nginx instead (``--no-serve``);
see examples/nginx.conf.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from feeder.config import Config
from feeder.errors import ConfigError
from feeder.server._files import OutputFiles, create_app

if TYPE_CHECKING:
    import uvicorn

    from feeder.server._guard import GuardStats

__all__ = ["Server", "ThrottleFilter"]

# asyncio accepts up to this many connections per turn of its loop, and a connection
# reaches the guard (which closes another to make room) a few turns later: the cap
# leaves room for four such bursts in flight, plus files for the database, the
# output, the build worker and the logs.
_ACCEPT_BURST = 16
# How many connections the kernel queues while the event loop is busy (capped by
# net.core.somaxconn): a short stall must not make clients wait a second to retry.
_LISTEN_QUEUE = 4096
_RESERVED_FILES = 64 + 4 * _ACCEPT_BURST


class Server:
    """uvicorn on a socket bound here, so that a busy port is an error on the spot."""

    def __init__(
        self,
        files: OutputFiles,
        host: str,
        port: int,
        *,
        max_connections: int = 1000,
        request_timeout: float = 10.0,
        keep_alive: float = 5.0,
    ) -> None:
        self.files = files
        self._host = host
        self._port = port
        self._max_connections = max_connections
        self._request_timeout = request_timeout
        self._keep_alive = keep_alive
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.stats: GuardStats | None = None
        #: The connection cap in force (``max_connections``, lowered to fit the open-file limit).
        self.connection_cap = max_connections

    @classmethod
    def for_config(cls, files: OutputFiles, config: Config) -> Server:
        server = config.server
        return cls(
            files,
            server.host,
            server.port,
            max_connections=server.max_connections,
            request_timeout=server.request_timeout,
        )

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> tuple[str, int]:
        """The host and port actually listened on (the port may have been 0)."""
        assert self._socket is not None, "the server is not started"
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def url(self, path: str = "") -> str:
        host, port = self.address
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/{path.lstrip('/')}"

    def start(self, timeout: float = 10.0) -> None:
        # uvicorn pulls in click for its own command line: load it only to serve.
        import uvicorn

        from feeder.server._guard import GuardStats, guarded_protocol

        _quiet_floods()
        self.connection_cap = min(self._max_connections, _open_file_room())
        self.stats = GuardStats()
        self._socket = _bind(self._host, self._port)
        config = uvicorn.Config(
            create_app(self.files),
            http=guarded_protocol(
                max_connections=self.connection_cap,
                request_timeout=self._request_timeout,
                stats=self.stats,
            ),
            log_config=None,
            access_log=True,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=max(1, round(self._keep_alive)),
            backlog=_ACCEPT_BURST,
            server_header=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name="http", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise ConfigError(f"server: could not start on {self._host}:{self._port}")
            time.sleep(0.01)
        # asyncio called listen() with the accept burst; a deeper kernel queue keeps
        # a burst of new clients waiting in order instead of dropping their SYNs.
        self._socket.listen(_LISTEN_QUEUE)
        self._server, self._thread = server, thread

    def begin_stop(self) -> None:
        """Stop accepting connections; requests in flight get up to a second to finish."""
        if self._server is not None:
            self._server.should_exit = True

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the server and wait for its thread (forcing it after ``timeout``)."""
        self.begin_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True  # drop the connections still open
                self._thread.join(0.5)
        if self._socket is not None:
            self._socket.close()
        if self.stats is not None:
            self.stats.flush()  # what the guard counted and did not say yet
        self._server = self._thread = None


def _open_file_room() -> int:
    """How many connections fit under the open-file limit, raised to the hard limit first.

    systemd gives services a soft limit of 1,024 and a far higher hard limit:
    a server may raise its own soft limit, and should.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    wanted = min(wanted, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 16
    return max(8, int(soft) - in_use - _RESERVED_FILES)


def _quiet_floods() -> None:
    """One line per interval for messages a flood of bad clients repeats per connection."""
    for name in ("asyncio", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ThrottleFilter) for f in logger.filters):
            logger.addFilter(ThrottleFilter())


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(
            f"server.host: cannot listen on {host!r}: {exc.strerror or exc}; use --host"
        ) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_ACCEPT_BURST)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"server.port: cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another with --port, or publish only with --no-serve"
        ) from None
    sock.set_inheritable(False)
    return sock


class ThrottleFilter(logging.Filter):
    """Lets each distinct message through once per ``every`` seconds, with a count.

    For loggers that a flood of bad clients would otherwise fill with one line
    (or one traceback) per connection: asyncio's "accept() out of system
    resource", uvicorn's "Invalid HTTP request received".
    """

    def __init__(self, every: float = 60.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._every = every
        self._clock = clock
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{str(record.msg).partition(chr(10))[0]}"
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self._every:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if len(self._seen) > 1000:  # a message with varying text would grow this forever
            self._seen.clear()
        repeated = last[1] if last is not None else 0
        self._seen[key] = (now, 0)
        if repeated:
            record.msg = (
                f"{record.msg} (and {repeated} more like it in the last {self._every:.0f} s)"
            )
        # The traceback of the first one says all there is; the rest only repeat it.
        if repeated or last is not None:
            record.exc_info = None
            record.exc_text = None
        return True
