"""Helpers for tests/test_faults.py: real sites, real daemons, raw SQL, mounts, servers.

Everything here starts real processes (``feeder`` subprocesses, a throwaway
PostgreSQL server) or changes the machine (tmpfs mounts); each helper that does
is a context manager or a fixture-friendly object that undoes it in a
``finally``, so a failing test leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import create_engine, text

from feeder import Site
from tests.feedcheck import parse_feed
from tests.test_daemon import FEEDER, assert_complete, free_port, temp_files, wait_for

__all__ = [
    "FEEDER",
    "FaultDaemon",
    "FaultSite",
    "Snapshot",
    "ThrowawayPostgres",
    "assert_complete",
    "assert_stays",
    "blocked_reading_stdin",
    "feed_titles",
    "free_port",
    "hrefs",
    "make_site",
    "raw_request",
    "sqlite_time",
    "temp_files",
    "tmpfs",
    "wait_for",
]

FEEDS = ("rss.xml", "atom.xml")


# -- daemons ------------------------------------------------------------------------------


@dataclass
class FaultDaemon:
    """One ``feeder run`` subprocess; its stdout and stderr go to files."""

    process: subprocess.Popen[bytes]
    port: int
    logs: Path
    out: Path

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def log(self) -> str:
        return self.logs.read_text(encoding="utf-8", errors="replace")

    def log_lines(self) -> list[str]:
        return [line for line in self.log().splitlines() if line.strip()]

    def events(self) -> list[dict[str, Any]]:
        """The log as JSON objects (the daemon runs with ``--log-format json``)."""
        found = []
        for line in self.log_lines():
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    found.append(value)
        return found

    def alive(self) -> bool:
        return self.process.poll() is None

    def get(self, path: str = "rss.xml", **headers: str) -> httpx.Response | None:
        """``path`` as served, or None when the server does not answer."""
        try:
            return httpx.get(
                self.url(path), headers={"Accept-Encoding": "identity", **headers}, timeout=5
            )
        except httpx.TransportError:
            return None

    def body(self, path: str = "rss.xml") -> bytes | None:
        response = self.get(path)
        return response.content if response is not None and response.status_code == 200 else None

    def titles(self) -> list[str] | None:
        data = self.body("rss.xml")
        return None if data is None else sorted(e.title for e in parse_feed(data).entries)

    def serves(self, *wanted: str) -> Callable[[], bool]:
        """A check: rss.xml and atom.xml, as served, carry every title in ``wanted``."""

        def check() -> bool:
            for name in FEEDS:
                data = self.body(name)
                if data is None or not set(wanted) <= set(feed_titles(data)):
                    return False
            return True

        return check

    def stop(self, number: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(number)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)


@dataclass
class FaultSite:
    """A site made with ``feeder init`` on a known port, and the daemons started on it."""

    root: Path
    port: int
    env: dict[str, str]
    database_url: str
    daemons: list[FaultDaemon] = field(default_factory=list)
    output_dir: Path | None = None

    @property
    def public(self) -> Path:
        return self.output_dir or self.root / "public"

    def set_output_dir(self, path: Path) -> None:
        self.set_config(None, "output_dir", json.dumps(str(path)))
        self.output_dir = path

    @property
    def config_path(self) -> Path:
        return self.root / "feeder.toml"

    @property
    def db_file(self) -> Path | None:
        if not self.database_url.startswith("sqlite"):
            return None
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def backend(self) -> str:
        return "sqlite" if self.database_url.startswith("sqlite") else "postgresql"

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """``feeder ARGS`` in the site directory; the caller judges the outcome."""
        return subprocess.run(
            [FEEDER, *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            input=input,
            timeout=timeout,
        )

    def feeder(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"feeder {' '.join(args)}: {done.stderr}"
        return done.stdout

    def add(self, title: str, *, database_url: str | None = None, **fields: Any) -> str:
        """Add an article through the Python API; its slug once it is stored."""
        with Site.open(self.config_path, database_url=database_url or self._api_url) as site:
            return site.add_article(title, **fields).slug

    @property
    def _api_url(self) -> str | None:
        return None if self.backend == "sqlite" else self.database_url

    def start(
        self, *args: str, preexec_fn: Callable[[], None] | None = None, serve: bool = True
    ) -> FaultDaemon:
        n = len(self.daemons)
        logs, out = self.root / f"daemon-{n}.log", self.root / f"daemon-{n}.out"
        command = [FEEDER, "run", "--log-format", "json", *args]
        command += ["--port", str(self.port)] if serve else ["--no-serve"]
        with logs.open("wb") as err, out.open("wb") as std:
            process = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.env,
                stdout=std,
                stderr=err,
                preexec_fn=preexec_fn,
            )
        daemon = FaultDaemon(process, self.port, logs, out)
        self.daemons.append(daemon)
        return daemon

    def stop_all(self) -> None:
        for daemon in self.daemons:
            with contextlib.suppress(Exception):
                daemon.kill()

    def set_config(self, section: str | None, key: str, value: str) -> None:
        """Set ``key = value`` (TOML source text) at the top level or in ``[section]``."""
        lines = self.config_path.read_text(encoding="utf-8").splitlines()
        current: str | None = None
        after_header: int | None = None
        first_section: int | None = None
        for index, line in enumerate(lines):
            header = re.match(r"^\[([^\]]+)\]", line)
            if header:
                current = header.group(1)
                first_section = index if first_section is None else first_section
                if current == section:
                    after_header = index + 1
                continue
            if current == section and re.match(rf"^{re.escape(key)}\s*=", line):
                lines[index] = f"{key} = {value}"
                break
        else:
            if section is None:
                where = first_section if first_section is not None else len(lines)
                lines.insert(where, f"{key} = {value}")
            elif after_header is None:
                lines += ["", f"[{section}]", f"{key} = {value}"]
            else:
                lines.insert(after_header, f"{key} = {value}")
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    # -- raw SQL, behind feeder's back --------------------------------------------------

    @contextlib.contextmanager
    def raw(self) -> Iterator[Callable[..., list[Any]]]:
        """One transaction of raw SQL (``:name`` parameters); yields ``execute``."""
        path = self.db_file
        if path is not None:
            connection = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                connection.execute("BEGIN IMMEDIATE")

                def run_sqlite(statement: str, **params: Any) -> list[Any]:
                    return connection.execute(statement, params).fetchall()

                try:
                    yield run_sqlite
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
            finally:
                connection.close()
            return
        engine = create_engine(self.database_url)
        try:
            with engine.begin() as pg:

                def run_pg(statement: str, **params: Any) -> list[Any]:
                    result = pg.execute(text(statement), params)
                    return list(result.all()) if result.returns_rows else []

                yield run_pg
        finally:
            engine.dispose()

    def when(self, moment: datetime) -> Any:
        """A date as another tool would bind it: text on SQLite, a timestamptz on PostgreSQL."""
        return sqlite_time(moment) if self.backend == "sqlite" else moment

    def insert_article(
        self, execute: Callable[..., list[Any]], name: str, **columns: tuple[str, Any]
    ) -> int:
        """Insert one article row named ``name``; ``columns`` override values.

        Each override is ``(sql_expression, parameter)``: the expression may use
        ``:p`` for the parameter, e.g. ``slug=(":p", "../x")`` or
        ``title=("CAST(X'C328FF' AS TEXT)", None)``. Moves the revision counter,
        so the daemon notices. Returns the new row's primary key.
        """
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        values: dict[str, tuple[str, Any]] = {
            "uid": (":p", f"tag:example.org,2026:/raw/{name}"),
            "slug": (":p", f"raw-{name}"),
            "title": (":p", f"Raw {name}"),
            "link": ("NULL", None),
            "summary": (":p", f"summary of raw {name}"),
            "content": (":p", f"<p>content of raw {name}</p>"),
            "published_at": (":p", self.when(now)),
            "updated_at": (":p", self.when(now)),
            "created_at": (":p", self.when(now)),
        }
        values.update(columns)
        execute("UPDATE state SET revision = revision + 1")
        names, expressions, params = [], [], {}
        for index, (column, (expression, parameter)) in enumerate(values.items()):
            names.append(column)
            expressions.append(expression.replace(":p", f":p{index}"))
            if ":p" in expression:
                params[f"p{index}"] = parameter
        rows = execute(
            f"INSERT INTO articles ({', '.join(names)}, revision) "
            f"VALUES ({', '.join(expressions)}, (SELECT revision FROM state)) RETURNING pk",
            **params,
        )
        return int(rows[0][0])


def blocked_reading_stdin(pid: int) -> bool:
    """Whether process ``pid`` sits in read(0, ...) (Linux /proc; True where unknown)."""
    number = {"x86_64": "0", "aarch64": "63"}.get(os.uname().machine)
    if number is None:
        return True
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return True
    return len(fields) > 1 and fields[0] == number and int(fields[1], 16) == 0


def sqlite_time(moment: datetime) -> str:
    """How feeder stores an instant in SQLite: naive UTC text."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def make_site(
    root: Path,
    *,
    database_url: str | None = None,
    title: str = "Fault Site",
    poll_interval: str = "0.2",
    via_cli: bool = False,
) -> FaultSite:
    """A site in ``root`` whose base URL is the port its daemon will use.

    Made in this process (``Site.init`` is what ``feeder init`` runs): a subprocess
    per test would cost a second of interpreter start-up for nothing under test.
    """
    port = free_port()
    env = {**os.environ}
    for name in list(env):
        if name.startswith("FEEDER_"):
            del env[name]
    if database_url:
        env["FEEDER_DATABASE_URL"] = database_url
    if via_cli:
        db = ["--db", database_url] if database_url else []
        base = ["--base-url", f"http://127.0.0.1:{port}/", "--id-authority", "example.org"]
        done = subprocess.run(
            [FEEDER, *db, "init", str(root), "--title", title, *base],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"feeder init: {done.stderr}"
    else:
        with Site.init(
            root,
            title=title,
            base_url=f"http://127.0.0.1:{port}/",
            id_authority="example.org",
            database_url=database_url,
        ):
            pass
    site = FaultSite(
        root.resolve(), port, env, database_url or f"sqlite:///{(root / 'feeder.db').resolve()}"
    )
    site.set_config("schedule", "poll_interval", poll_interval)
    return site


# -- reading what is published --------------------------------------------------------------


def feed_titles(data: bytes) -> list[str]:
    return [entry.title for entry in parse_feed(data).entries]


def hrefs(data: bytes) -> list[str]:
    """Every href in an HTML page or a feed (attributes and Atom links)."""
    return [h.decode("utf-8", "replace") for h in re.findall(rb'href="([^"]*)"', data)]


def assert_parses_with_lxml_defaults(data: bytes) -> None:
    etree.fromstring(data, etree.XMLParser())  # no huge_tree: what a reader's defaults take


def assert_stays(what: str, check: Callable[[], bool], seconds: float) -> None:
    """``check`` holds on every poll for ``seconds`` (proving something does *not* happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), f"{what} stopped holding"
        time.sleep(0.05)


# -- files outside the output directory ------------------------------------------------------


@dataclass
class Snapshot:
    """Every file and directory under ``root`` but ``skip``: path -> (kind, size, mtime, hash)."""

    root: Path
    skip: tuple[Path, ...]
    entries: dict[str, tuple[str, int, int, int]] = field(default_factory=dict)

    @classmethod
    def take(cls, root: Path, *skip: Path) -> Snapshot:
        snapshot = cls(root, tuple(p.resolve() for p in skip))
        snapshot.entries = snapshot._scan()
        return snapshot

    def _skipped(self, path: Path) -> bool:
        resolved = path.resolve() if not path.is_symlink() else path
        return any(resolved == s or s in resolved.parents for s in self.skip)

    def _scan(self) -> dict[str, tuple[str, int, int, int]]:
        found: dict[str, tuple[str, int, int, int]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if not self._skipped(here / d)]
            for name in [*dirnames, *filenames]:
                path = here / name
                if self._skipped(path):
                    continue
                info = path.lstat()
                kind = "dir" if path.is_dir() and not path.is_symlink() else "file"
                digest = hash(path.read_bytes()) if kind == "file" and path.is_file() else 0
                found[str(path.relative_to(self.root))] = (
                    kind,
                    info.st_size if kind == "file" else 0,
                    info.st_mtime_ns if kind == "file" else 0,
                    digest,
                )
        return found

    def changes(self) -> list[str]:
        now = self._scan()
        return sorted(
            name for name in set(now) | set(self.entries) if now.get(name) != self.entries.get(name)
        )


# -- raw HTTP ---------------------------------------------------------------------------------


def raw_request(port: int, request: bytes, timeout: float = 5.0) -> tuple[int | None, bytes]:
    """Send ``request`` exactly as written; the status (None: no answer) and the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        data = b""
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(match.group(1)) if match else None), data


# -- mounts -----------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``where``; skips the test where mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(
            "needs a tmpfs mount (root in a namespace that may mount) to make an output "
            f"directory read-only or full; mount said: {done.stderr.strip() or done.returncode}"
        )
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount(where: Path, mode: str) -> None:
    done = subprocess.run(
        ["mount", "-o", f"remount,{mode}", str(where)], capture_output=True, text=True
    )
    assert done.returncode == 0, f"remount,{mode}: {done.stderr}"


# -- a PostgreSQL server of our own ----------------------------------------------------------


class ThrowawayPostgres:
    """A private PostgreSQL cluster on a free port, run as the ``postgres`` user.

    Never the shared server on 5432: its own data directory, port and socket directory.
    """

    def __init__(self) -> None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        bindir = next(
            (
                Path(c)
                for c in candidates
                if all((Path(c) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres"))
            ),
            None,
        )
        if bindir is None:
            pytest.skip("needs PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        if shutil.which("runuser") is None or os.geteuid() != 0:
            pytest.skip("needs root and runuser to run initdb as the postgres user")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("needs a 'postgres' system user to run the throwaway server")
        self.bindir = bindir
        # Under /tmp, not pytest's tmp_path: that is private to root, and initdb runs
        # as postgres.
        self.home = Path(tempfile.mkdtemp(prefix="feeder-pg-"))
        self.data = self.home / "data"
        self.sockets = self.home / "sockets"
        self.logfile = self.home / "server.log"
        self.port = free_port()
        self._started = False

    def _as_postgres(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self.sockets.mkdir()
        shutil.chown(self.home, "postgres", "postgres")
        shutil.chown(self.sockets, "postgres", "postgres")
        done = self._as_postgres(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        assert done.returncode == 0, f"initdb: {done.stderr}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        done = self._as_postgres(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.logfile),
            "-w",
            "-t",
            "30",
            "start",
        )
        assert done.returncode == 0, f"pg_ctl start: {done.stderr}{self.server_log()}"
        self._started = True

    def stop(self) -> None:
        if not self.data.exists():
            return
        self._as_postgres(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
        )
        self._started = False

    def server_log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)
