"""``feeder run``: the daemon's life, from standby to leading to a clean exit.

1. Load the settings; a bad config stops it here, before anything starts.
2. Identify the output directory (its ``.feeder-output`` id, made if new; see
   feeder.publishing.outputs). The daemon and publish locks are that
   directory's: daemons publishing different directories from one database
   each lead their own, daemons sharing a directory take turns.
3. Standby until it holds the directory's daemon lock (another daemon for the
   same directory waits here, and takes over within ``STANDBY_POLL_SECONDS``
   of the first one dying or losing its lock).
4. Lead: start the HTTP server, the publisher thread and the timers, build at
   once (publishing whatever came due while no daemon ran), then wait for
   signals. SIGHUP reloads feeder.toml; a broken file is logged and the old
   settings kept. The lock and the directory's id are confirmed every
   ``poll_interval`` (at most every second): a daemon that lost either steps
   down, stops its build worker, waits ``STEP_DOWN_SECONDS`` to let another
   daemon take over, and stands by again. (Its worker stops writing on its
   own before the next one starts: see feeder.publishing.fence.)
5. On SIGTERM or SIGINT: stop the timers, let the running build finish or
   abandon it (no temp file is left either way), give up WebSub pings still on
   their way (noting them as owed to the next build), stop the server, exit 0,
   all within ``STOP_SECONDS``.

Each daemon keeps a row of its own in the database (role, output directory,
heartbeat, last error) for ``feeder status`` (see :func:`daemon_info`), so
heartbeats never contend with the writes that move the site's revision.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from db import DaemonRecord, Lock, LockUnavailable, StorageFailure, owner
from feeder import _daemon
from feeder.config import CONFIG_NAME, Config
from feeder.config import load as load_config
from feeder.errors import ConfigError, FeederError, PublishError
from feeder.publishing import outputs
from feeder.publishing.exclusive import publish_lock
from feeder.publishing.feeds import site_feeds
from feeder.publishing.outputs import OutputChanged
from feeder.publishing.websub import Pinger
from feeder.server import OutputFiles, Server
from feeder.site import DaemonStatus, Site, SiteStatus
from jobs.build_process import ProcessBuilder, describe_error
from jobs.build_queue import BuildQueue
from jobs.logs import LogSettings, Throttle, configure
from jobs.scheduler import HEARTBEAT_SECONDS, Schedule, schedule_publisher
from jobs.signals import Signals
from jobs.watcher import ChangeWatcher

# What taking a lock or talking to the database raises when it fails.
_UNAVAILABLE = (FeederError, StorageFailure, LockUnavailable)

__all__ = [
    "STALE_AFTER_SECONDS",
    "STEP_DOWN_SECONDS",
    "Daemon",
    "DaemonInfo",
    "RunOptions",
    "daemon_alive",
    "daemon_info",
    "load_settings",
]

log = logging.getLogger("feeder.daemon")

STANDBY_POLL_SECONDS = 0.5
# How long a daemon that lost its lock leaves it to the others before competing again.
STEP_DOWN_SECONDS = 2.0
# How long SIGTERM waits for a running build before abandoning it; the whole
# stop (timers, build, server, bookkeeping) stays under five seconds.
BUILD_GRACE_SECONDS = 2.0
STALE_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS


@dataclass(frozen=True)
class RunOptions:
    """What ``feeder run`` was asked to do."""

    config: str | None = None  # feeder.toml (None: $FEEDER_CONFIG or ./feeder.toml)
    database_url: str | None = None
    host: str | None = None
    port: int | None = None
    serve: bool = True
    logs: LogSettings = dataclasses.field(default_factory=LogSettings)


def load_settings(options: RunOptions) -> Config:
    """feeder.toml, then FEEDER_* variables, then the command line."""
    return load_config(
        options.config,
        overrides={
            "database_url": options.database_url,
            "server.host": options.host,
            "server.port": options.port,
        },
    )


class Daemon:
    """One ``feeder run`` process."""

    def __init__(self, options: RunOptions, *, out: Callable[[str], None] = print) -> None:
        self.options = options
        self.signals = Signals()
        self._out = out
        self._pid = os.getpid()
        self._host = socket.gethostname()
        self._owner = owner("feeder run")
        # How the build worker names its lock session and its mark: apart from the
        # daemon's own session, so that each can be told apart in pg_stat_activity.
        self._worker = f"{self._owner} (build worker)"
        self._id = secrets.token_hex(8)
        self._started = datetime.now(UTC)
        self._lost = threading.Event()  # the lock or the directory is no longer ours
        self._moved = threading.Event()  # output_dir changed on reload
        self._db_errors = Throttle()
        self._lock_errors = Throttle()
        self._error: tuple[str, datetime] | None = None
        self._heard: float | None = None  # when the row was last written (monotonic)
        self.site: Site | None = None
        # The server started while waiting for the database, handed to the leader.
        self._server: Server | None = None
        self._serve_failed = False

    def run(self) -> int:
        """Run until asked to stop; the exit status (0)."""
        configure(self.options.logs)
        config = load_settings(self.options)
        self.signals.install()
        try:
            self.site = self._open(config)
            if self.site is None:
                return 0
            try:
                self._publish()
            finally:
                self._forget(self.site)
                self.site.close()
        finally:
            if self._server is not None:
                self._server.stop(timeout=1.0)
            self.signals.restore()
        log.info("stopped")
        return 0

    def _publish(self) -> None:
        """Stand by for the output directory and lead it, again and again, until stopped."""
        assert self.site is not None
        while not self.signals.stopping.is_set():
            output = self._identify()
            if output is None:
                return
            lock = self.site.storage.lock(
                "daemon", self._owner, self.site.config.root, scope=output
            )
            try:
                if self._standby(lock, output):
                    self._lead(lock, output)
            finally:
                lock.close()
            self._moved.clear()
            if self._lost.is_set():
                self._lost.clear()
                self._beat("standby", output, force=True)
                # Let a daemon that stood by take over; alone, this one leads again.
                self.signals.wait(STEP_DOWN_SECONDS)

    def _identify(self) -> str | None:
        """The output directory's id (made if it is new); None when asked to stop first."""
        assert self.site is not None
        errors = Throttle()
        while not self.signals.stopping.is_set():
            if self.signals.take_reload():
                self._reload(None)
            try:
                output = outputs.identify(self.site.config.output_dir)
            except PublishError as exc:
                line = errors.failed(describe_error(exc))
                if line:
                    log.error("cannot use the output directory, waiting: %s", line)
                    self._note_error(f"output directory: {line}")
                    self._beat("standby", None, force=True)
            else:
                if errors.recovered():
                    log.info("the output directory can be used again")
                return output
            self.signals.wait(max(STANDBY_POLL_SECONDS, self.site.config.schedule.poll_interval))
        return None

    # -- waiting for the database ------------------------------------------------

    def _open(self, config: Config) -> Site | None:
        """The site, once its database can be opened; None when asked to stop first.

        A database that is missing (moved away, a volume not mounted yet) or a server
        that does not answer is waited for, never replaced by a new empty one; the
        output directory is served meanwhile, so readers keep the last good feeds.
        """
        errors = Throttle()
        delay = STANDBY_POLL_SECONDS
        while not self.signals.stopping.is_set():
            if self.signals.take_reload():
                try:
                    config = load_settings(self.options)
                except ConfigError as exc:
                    log.error("reload failed, keeping the previous settings: %s", exc)
            try:
                site = Site.open(config)
            except FeederError as exc:
                line = errors.failed(describe_error(exc))
                if line:
                    log.error("cannot open the database, waiting for it: %s", line)
                self._serve_while_waiting(config)
            else:
                if errors.recovered():
                    log.info("the database answers again")
                return site
            self.signals.wait(delay)
            delay = min(delay * 2, max(STANDBY_POLL_SECONDS, config.schedule.poll_interval))
        return None

    def _serve_while_waiting(self, config: Config) -> None:
        if self._server is not None or not self.options.serve or self._serve_failed:
            return
        server = Server.for_config(_output_files(config), config)
        try:
            server.start()
        except ConfigError as exc:
            self._serve_failed = True
            log.warning("not serving the last published files meanwhile: %s", exc)
            return
        self._server = server
        self._out(f"feeder: serving the last published files at {server.url()}")

    # -- standby -----------------------------------------------------------------

    def _standby(self, lock: Lock, output: str) -> bool:
        """Wait for the output directory's daemon lock; False when asked to stop first,
        or to identify the directory again (it changed, or ``output_dir`` did)."""
        assert self.site is not None
        announced = False
        errors = Throttle()
        while not self.signals.stopping.is_set():
            if self.signals.take_reload():
                self._reload(None)
            if self._moved.is_set() or not self._still_named(output):
                return False
            try:
                if lock.try_acquire():
                    if self._still_named(output):
                        return True
                    lock.release()  # the directory changed meanwhile: identify it again
                    return False
            except _UNAVAILABLE as exc:
                line = errors.failed(describe_error(exc))
                if line:
                    log.error("cannot take the daemon lock: %s", line)
                    self._note_error(f"cannot take the daemon lock: {line}")
            else:
                if not announced:
                    log.info(
                        "standby: %s is published by %s; waiting to take over",
                        self.site.config.output_dir,
                        lock.holder() or "another daemon",
                    )
                    announced = True
            self._beat("standby", output)
            self.signals.wait(STANDBY_POLL_SECONDS)
        return False

    def _still_named(self, output: str) -> bool:
        """Whether the output directory still has the id ``output`` (or none for now:
        a wiped directory gets its id back from whoever leads it)."""
        assert self.site is not None
        try:
            found = outputs.read(self.site.config.output_dir)
        except PublishError:
            return True  # damaged: the leader's builds report it
        return found in (None, output)

    # -- leading -------------------------------------------------------------------

    def _lead(self, lock: Lock, output: str) -> None:
        assert self.site is not None
        site, config = self.site, self.site.config
        log.info(
            "publishing %s into %s (output %s)",
            config.root / CONFIG_NAME,
            config.output_dir,
            output,
        )
        server: Server | None = None
        if self._server is not None:
            server, self._server = self._server, None
            files = server.files
            files.configure(config.output_dir, hubs=config.websub_hub, base_url=config.base_url)
        else:
            files = _output_files(config)
            if self.options.serve:
                server = Server.for_config(files, config)
        pinger = Pinger(site.storage, clock=site.now)
        publisher = BuildQueue(
            site,
            ProcessBuilder(self.options.logs, self._worker),
            output=output,
            publish_lock=publish_lock(site.storage, config, self._owner, output),
            writer=self._worker,
            pinger=pinger,
        )
        schedule = schedule_publisher(
            publisher,
            heartbeat=lambda: self._beat("leader", output, force=True),
            confirm=lambda: self._confirm(lock, output, publisher),
        )
        watcher: ChangeWatcher | None = None
        try:
            if server is not None and not server.running:
                server.start()
            self._beat("leader", output, force=True)
            publisher.start()
            # An incremental build publishes everything that came due while no daemon
            # ran; a missing index means the output directory is new or was wiped.
            missing = not (config.output_dir / "index.html").exists()
            publisher.request(full=missing, reason="start")
            watcher = self._watch(site, publisher)
            schedule.start(
                poll_interval=config.schedule.poll_interval,
                rebuild_interval=config.schedule.rebuild_interval,
            )
            self._announce(config, server)
            while not (
                self.signals.stopping.is_set() or self._lost.is_set() or self._moved.is_set()
            ):
                self.signals.wait(1.0)
                if self.signals.take_reload():
                    self._reload((publisher, schedule, files))
                    watcher = self._rewatch(watcher, publisher)
        finally:
            if watcher is not None:
                watcher.stop()
            schedule.shutdown()
            if server is not None:
                server.begin_stop()
            publisher.stop(BUILD_GRACE_SECONDS)
            pinger.stop()
            if server is not None:
                server.stop(timeout=1.0)
            if watcher is not None:
                watcher.join(0.3)  # told to stop first thing; a stuck connect is left behind
            lock.release()

    def _watch(self, site: Site, publisher: BuildQueue) -> ChangeWatcher | None:
        """Build as soon as a change commits, where the database says so (PostgreSQL)."""
        if not site.config.schedule.listen:
            return None
        listener = site.storage.listener(owner("feeder run listener"))
        if listener is None:
            if site.storage.backend == "postgresql":
                log.info("polling only: listening for changes needs the psycopg (3) driver")
            return None  # SQLite: the poll job finds every change
        watcher = ChangeWatcher(listener, publisher)
        watcher.start()
        return watcher

    def _rewatch(
        self, watcher: ChangeWatcher | None, publisher: BuildQueue
    ) -> ChangeWatcher | None:
        """Start or stop listening when a reload turned ``schedule.listen`` on or off."""
        assert self.site is not None
        if watcher is not None and not self.site.config.schedule.listen:
            watcher.stop()
            watcher.join(1.0)
            log.info("no longer listening for changes: polling only (schedule.listen = false)")
            return None
        if watcher is None:
            return self._watch(self.site, publisher)
        return watcher

    def _announce(self, config: Config, server: Server | None) -> None:
        if server is not None:
            self._out(f"feeder: serving {config.output_dir} at {server.url()}")
        else:
            self._out(f"feeder: publishing into {config.output_dir} (--no-serve)")
        feeds = site_feeds(config)
        width = max(len(spec.format.label) for spec in feeds) + 2
        for spec in feeds:
            url = server.url(spec.path) if server is not None else config.url(spec.path)
            self._out(f"  {spec.format.label + ':':<{width}}{url}")

    def _confirm(self, lock: Lock, output: str, publisher: BuildQueue) -> None:
        """Step down unless the daemon lock and the output directory are still ours.

        A lock lost with the database (an outage) is kept in mind, not given up:
        nobody publishes without the database, and this daemon keeps serving the
        last files. Once the database answers, the lock is taken again at once if
        no other daemon stands by for the directory; otherwise this one steps down
        and leaves it to them.
        """
        assert self.site is not None
        if not lock.still_held() and not self._take_again(lock, output):
            return
        self._lock_errors.recovered()
        try:
            if outputs.ensure(self.site.config.output_dir, output):
                log.warning(
                    "%s lost its %s file (wiped?); it was made again: a full build follows",
                    self.site.config.output_dir,
                    outputs.OUTPUT_FILE,
                )
                publisher.request(full=True, reason="output wiped")
        except OutputChanged as exc:
            log.error("%s; stepping down", exc)
            self._step_down()
        except PublishError as exc:  # unwritable: the builds fail and say so
            log.debug("cannot check the output directory: %s", exc)

    def _take_again(self, lock: Lock, output: str) -> bool:
        """After the lock was lost: True when this daemon holds it again and leads on."""
        assert self.site is not None
        where = self.site.config.output_dir
        try:
            others = _daemon.standbys(self.site, output, but=self._id)
            taken = not others and lock.try_acquire()
        except _UNAVAILABLE as exc:
            line = self._lock_errors.failed(describe_error(exc))
            if line:
                log.warning(
                    "cannot confirm the daemon lock of %s: %s; serving the last files until "
                    "the database is back",
                    where,
                    line,
                )
            return False
        if taken:
            log.warning(
                "the daemon lock of %s was lost (connection closed?) and taken again", where
            )
            return True
        log.error(
            "lost the daemon lock of %s (database connection closed?); stepping down for %s",
            where,
            ", ".join(others) or "the daemon that holds it now",
        )
        self._note_error("lost the daemon lock; stepped down")
        self._step_down()
        return False

    def _step_down(self) -> None:
        self._lost.set()
        self.signals.wake.set()

    def _note_error(self, message: str) -> None:
        self._error = (message, datetime.now(UTC))

    def _beat(self, role: str, output: str | None, *, force: bool = False) -> None:
        """Write this daemon's row: its role, output directory and a heartbeat.

        A standby calls this on every poll; it writes every ``HEARTBEAT_SECONDS``.
        """
        assert self.site is not None
        recent = self._heard is not None and time.monotonic() - self._heard < HEARTBEAT_SECONDS
        if recent and not force:
            return
        error, at = self._error or (None, None)
        record = DaemonRecord(
            id=self._id,
            output_id=output,
            output_dir=str(self.site.config.output_dir),
            host=self._host,
            pid=self._pid,
            role=role,
            version=_version(),
            started_at=self._started,
            heartbeat=self.site.now(),
            last_error=error,
            last_error_at=at,
        )
        self._heard = time.monotonic()
        try:
            _daemon.record_daemon(self.site, record)
        except FeederError as exc:
            line = self._db_errors.failed(describe_error(exc))
            if line:
                log.warning("cannot record the heartbeat: %s", line)
        else:
            self._db_errors.recovered()

    def _forget(self, site: Site) -> None:
        """Remove the daemon's row from the database, giving up after half a second."""

        def clear() -> None:
            with contextlib.suppress(FeederError):  # else the heartbeat goes stale
                _daemon.clear_daemon(site, self._id)

        thread = threading.Thread(target=clear, name="forget", daemon=True)
        thread.start()
        thread.join(0.5)

    # -- reloading -----------------------------------------------------------------

    def _reload(self, running: tuple[BuildQueue, Schedule, OutputFiles] | None) -> None:
        assert self.site is not None
        old = self.site.config
        try:
            new = load_settings(self.options)
        except ConfigError as exc:
            log.error("reload failed, keeping the previous settings: %s", exc)
            return
        if new.database_url != old.database_url:
            log.warning("database_url changed: restart feeder run to use the new database")
            new = dataclasses.replace(new, database_url=old.database_url)
        if new.server != old.server and self.options.serve:
            log.warning("server.host and server.port changes take effect on restart")
        self.site = self.site.with_config(new)
        if new.output_dir != old.output_dir:
            log.warning(
                "output_dir changed from %s to %s: publishing the new directory",
                old.output_dir,
                new.output_dir,
            )
            self._moved.set()  # its locks are another directory's: identify it first
            self.signals.wake.set()
            log.info("reloaded %s", new.root / CONFIG_NAME)
            return
        if running is not None:
            publisher, schedule, files = running
            publisher.site = self.site
            schedule.set_intervals(
                poll_interval=new.schedule.poll_interval,
                rebuild_interval=new.schedule.rebuild_interval,
            )
            files.configure(new.output_dir, hubs=new.websub_hub, base_url=new.base_url)
            publisher.request(full=True, reason="reload")
        log.info("reloaded %s", new.root / CONFIG_NAME)


def _output_files(config: Config) -> OutputFiles:
    """The output directory to serve, feeds with their WebSub Link headers."""
    return OutputFiles(config.output_dir, hubs=config.websub_hub, base_url=config.base_url)


@dataclass(frozen=True)
class DaemonInfo:
    """Whether a daemon publishes the site, as far as the database can tell."""

    running: bool
    pid: int | None
    host: str | None
    heartbeat: datetime | None

    def describe(self, now: datetime) -> str:
        if self.pid is None or self.heartbeat is None:
            return "not running"
        age = max(0, int((now - self.heartbeat).total_seconds()))
        where = f"pid {self.pid} on {self.host}"
        if self.running:
            return f"running ({where}, alive {age} s ago)"
        return f"not running (last seen: {where}, {age} s ago)"


def daemon_info(status: SiteStatus, now: datetime) -> DaemonInfo:
    """Running means a fresh heartbeat, and on this host also a live process."""
    pid, host, heartbeat = status.daemon_pid, status.daemon_host, status.daemon_heartbeat
    if pid is None or heartbeat is None:
        return DaemonInfo(False, None, None, None)
    running = now - heartbeat <= timedelta(seconds=STALE_AFTER_SECONDS)
    if running and host == socket.gethostname():
        running = _process_exists(pid)
    return DaemonInfo(running, pid, host, heartbeat)


def daemon_alive(daemon: DaemonStatus, now: datetime) -> bool:
    """Whether a daemon of ``feeder status``'s list still runs, as :func:`daemon_info` judges."""
    running = now - daemon.heartbeat <= timedelta(seconds=STALE_AFTER_SECONDS)
    if running and daemon.host == socket.gethostname():
        running = _process_exists(daemon.pid)
    return running


def _version() -> str:
    import feeder

    return str(feeder.__version__)[:40]


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
