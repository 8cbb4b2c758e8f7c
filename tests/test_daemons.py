"""Several daemons on one database: each output directory kept current by exactly one.

Two deployments, both with real ``feeder run`` subprocesses:

(a) every host has an output directory of its own: each daemon leads its own
    directory and keeps it current (PostgreSQL, two and three daemons);
(b) the daemons share one directory: exactly one builds it, the others stand by
    and take over when it is killed (``kill -9``) or cut off from the database
    (``pg_terminate_backend`` of its lock sessions; on SQLite, its lock files
    deleted), within a bound that is measured and asserted, and no two of them
    ever write the directory at the same time.

"At the same time" is checked from a write trace: every build appends a line
just before and just after each rename or removal in the output directory
(``FEEDER_WRITE_TRACE``, with ``CLOCK_MONOTONIC`` times that all processes on
this host share); the windows of different builds must never overlap.

The fast tests at the end cover the pieces in-process: output identities, build
state per output directory, the lease and the fence, scoped locks, and
migrations run by several processes at once.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from db import migrate
from feeder import LockedError, NotFoundError, PublishError, Site
from feeder.cli import cli
from feeder.publishing import outputs
from feeder.publishing.build import run_build
from feeder.publishing.exclusive import publish_lock
from feeder.publishing.fence import (
    CONFIRM_SECONDS,
    FENCE_SECONDS,
    LEASE_SECONDS,
    PAUSE_MARGIN_SECONDS,
    TRACE_ENV,
    Keeper,
    Lease,
    LockLost,
    Turn,
)
from jobs.daemon import STANDBY_POLL_SECONDS
from tests.conftest import FakeClock
from tests.faults_support import FaultDaemon
from tests.feedcheck import parse_feed
from tests.test_daemon import (
    FEEDER,
    assert_complete,
    bulk_load,
    free_port,
    process_gone,
    temp_files,
    wait_for,
    worker_of,
)

# Under pytest-xdist (make test) the daemon tests run one after another in one worker:
# they assert how soon daemons take over, stop or publish, and two at once slow each
# other down.
pytestmark = pytest.mark.xdist_group("daemons")

REPO = Path(__file__).resolve().parent.parent
POLL = 0.5  # the daemons' poll_interval in these tests
#: How long a standby may take to write after the builder died or lost its lock: it
#: notices within STANDBY_POLL_SECONDS, starts its build worker (a Python process:
#: up to a few seconds on a busy machine), and waits FENCE_SECONDS when the builder
#: was interrupted in the middle of a build.
TAKEOVER_BOUND = POLL + STANDBY_POLL_SECONDS + FENCE_SECONDS + 5.0
SLOW = 60.0  # seconds: a deadline for builds of many pages on a busy machine


# -- a site and its daemons ----------------------------------------------------------------


@dataclass
class Cluster:
    """One site (feeder.toml and a database) and the daemons started on it."""

    root: Path
    env: dict[str, str]
    trace: Path
    daemons: list[FaultDaemon] = field(default_factory=list)

    def start(self, output_dir: Path | None, *, serve: bool = False) -> FaultDaemon:
        """A daemon publishing ``output_dir`` (None: the one feeder.toml names)."""
        port = free_port()
        n = len(self.daemons)
        logs, out = self.root / f"daemon-{n}.log", self.root / f"daemon-{n}.out"
        args = [FEEDER, "run", "--log-format", "json", "--port", str(port)]
        if not serve:
            args.append("--no-serve")
        env = dict(self.env)
        if output_dir is not None:
            env["FEEDER_OUTPUT_DIR"] = str(output_dir)
        with logs.open("wb") as err, out.open("wb") as std:
            process = subprocess.Popen(args, cwd=self.root, env=env, stdout=std, stderr=err)
        daemon = FaultDaemon(process, port, logs, out)
        self.daemons.append(daemon)
        return daemon

    def feeder(self, *args: str, output_dir: Path | None = None) -> str:
        env = dict(self.env)
        if output_dir is not None:
            env["FEEDER_OUTPUT_DIR"] = str(output_dir)
        done = subprocess.run(
            [FEEDER, *args], cwd=self.root, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"feeder {' '.join(args)}: {done.stderr}"
        return done.stdout

    def status(self, output_dir: Path | None = None) -> dict[str, Any]:
        env = dict(self.env)
        if output_dir is not None:
            env["FEEDER_OUTPUT_DIR"] = str(output_dir)
        done = subprocess.run(
            [FEEDER, "status", "--json"], cwd=self.root, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    def running(self, role: str) -> list[int]:
        """Pids of the running daemons in ``role``, as ``feeder status`` reports them."""
        return sorted(
            d["pid"] for d in self.status()["daemons"] if d["running"] and d["role"] == role
        )

    def writes(self) -> list[dict[str, Any]]:
        if not self.trace.exists():
            return []
        # A writer may be appending a line right now: what follows the last newline is
        # not a line yet.
        complete = self.trace.read_text().rpartition("\n")[0]
        return [json.loads(line) for line in complete.splitlines() if line]

    def by(self, daemon: FaultDaemon) -> str:
        """How ``daemon``'s build worker signs what it writes (and its lock session)."""
        return f"{self.name(daemon)} (build worker)"

    def name(self, daemon: FaultDaemon) -> str:
        """How ``daemon`` names itself (and its lock session)."""
        return f"feeder run pid {daemon.process.pid} on {socket.gethostname()}"


@pytest.fixture
def cluster(tmp_path: Path, database_url: str) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, database_url)


@pytest.fixture
def pg_cluster(tmp_path: Path, postgres_url: str) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, postgres_url)


@pytest.fixture
def sqlite_cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, f"sqlite:///{tmp_path / 'site' / 'feeder.db'}")


def _cluster(tmp_path: Path, database_url: str) -> Iterator[Cluster]:
    root = tmp_path / "site"
    with Site.init(
        root, title="Shared", base_url="https://example.org/", database_url=database_url
    ):
        pass
    env = {
        **os.environ,
        "FEEDER_CONFIG": str(root / "feeder.toml"),
        "FEEDER_DATABASE_URL": database_url,
        "FEEDER_SCHEDULE_POLL_INTERVAL": str(POLL),
        TRACE_ENV: str(tmp_path / "writes.jsonl"),
    }
    running = Cluster(root, env, tmp_path / "writes.jsonl")
    try:
        yield running
    finally:
        for daemon in running.daemons:
            daemon.kill()


def titles_in(directory: Path, name: str = "rss.xml") -> list[str] | None:
    try:
        data = (directory / name).read_bytes()
    except FileNotFoundError:
        return None
    return sorted(entry.title for entry in parse_feed(data).entries)


def holds(directory: Path, *wanted: str) -> Callable[[], bool]:
    return lambda: titles_in(directory) == sorted(wanted)


@dataclass(frozen=True)
class Window:
    """When one build renamed and removed files: its first and last file operation."""

    token: str
    writer: str
    start: float
    end: float
    paths: frozenset[str]


def windows(writes: list[dict[str, Any]]) -> list[Window]:
    """The write windows of each build in the trace, in the order they began.

    An operation that began and never ended (its process was killed during it)
    counts until its beginning: a rename that the kernel started completes then.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    for line in writes:
        found.setdefault(line["token"], []).append(line)
    built = [
        Window(
            token,
            lines[0]["writer"],
            min(line["at"] for line in lines),
            max(line["at"] for line in lines),
            frozenset(line["path"] for line in lines),
        )
        for token, lines in found.items()
    ]
    return sorted(built, key=lambda window: window.start)


def assert_never_two_writers(writes: list[dict[str, Any]]) -> list[Window]:
    """No two builds ever wrote the directory at the same time; their windows."""
    seen = windows(writes)
    for earlier, later in itertools.pairwise(seen):
        assert earlier.end < later.start, (
            f"{later.writer} began writing {later.start - earlier.end:+.3f} s after "
            f"{earlier.writer} last wrote: two writers at once"
        )
    return seen


def terminate(cluster: Cluster, name: str, *, everything: bool = False) -> int:
    """End the PostgreSQL sessions named ``name`` (``everything``: and those it begins)."""
    engine = create_engine(cluster.env["FEEDER_DATABASE_URL"])
    try:
        with engine.begin() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :name "
                        "OR (:everything AND starts_with(application_name, :name))"
                    ),
                    {"name": name[:63], "everything": everything},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def first_write_after(writes: list[dict[str, Any]], moment: float, *, not_by: str) -> float:
    return min(w["at"] for w in writes if w["at"] > moment and w["writer"] != not_by)


# -- (a) an output directory per host ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("count", [2, 3])
def test_each_daemon_keeps_its_own_directory_current(
    pg_cluster: Cluster, tmp_path: Path, count: int
) -> None:
    cluster = pg_cluster
    directories = [tmp_path / f"host-{n}" / "public" for n in range(count)]
    daemons = [cluster.start(directory, serve=True) for directory in directories]
    for daemon in daemons:
        wait_for("every daemon to serve its directory", lambda d=daemon: d.titles() == [], SLOW)

    cluster.feeder("add", "--title", "First")
    cluster.feeder("add", "--title", "Second", "--tag", "news")
    for daemon in daemons:
        wait_for("each directory to get the adds", daemon.serves("First", "Second"))
    cluster.feeder("edit", "first", "--title", "First, edited")
    cluster.feeder("delete", "second")
    for daemon, directory in zip(daemons, directories, strict=True):
        wait_for("each to serve the edit", lambda d=daemon: d.titles() == ["First, edited"])
        wait_for(
            "each to drop the deleted page",
            lambda p=directory: not (p / "articles" / "second.html").exists(),
        )
        hidden = daemon.get(outputs.OUTPUT_FILE)
        assert hidden is not None and hidden.status_code == 404, "the identity is never served"

    ids = [outputs.read(directory) for directory in directories]
    assert None not in ids and len(set(ids)) == count, "each directory has an identity of its own"
    status = cluster.status(directories[0])
    assert sorted(d["pid"] for d in status["daemons"] if d["role"] == "leader") == sorted(
        d.process.pid for d in daemons
    )
    assert {d["output"] for d in status["daemons"]} == set(ids)
    assert status["daemon_pid"] == daemons[0].process.pid  # this config's directory's leader
    wait_for(
        "every output to report its last build",
        lambda: (
            all(
                not o["pending_changes"] and o["last_error"] is None
                for o in cluster.status()["outputs"]
            )
            and len(cluster.status()["outputs"]) == count
        ),
    )

    # Each directory was written by its own daemon only, and each daemon wrote only its own.
    for daemon, directory in zip(daemons, directories, strict=True):
        writers = {w["writer"] for w in cluster.writes() if w["path"].startswith(str(directory))}
        assert writers == {cluster.by(daemon)}
    for daemon in daemons:
        assert daemon.stop() == 0
    assert all(temp_files(directory) == [] for directory in directories)
    assert cluster.status()["daemons"] == []


# -- (b) one directory shared by several daemons ------------------------------------------


def start_three_sharing(cluster: Cluster, public: Path) -> tuple[FaultDaemon, list[FaultDaemon]]:
    """Three daemons on one directory; the one that leads, and the two standing by."""
    daemons = [cluster.start(public) for _ in range(3)]
    wait_for("the directory's first build", lambda: titles_in(public) == [], SLOW)
    wait_for("one leader and two standbys", lambda: len(cluster.running("standby")) == 2)
    (leader,) = cluster.running("leader")
    builder = next(d for d in daemons if d.process.pid == leader)
    return builder, [d for d in daemons if d is not builder]


#: Articles of a bulk load whose build is still under way once its first files appear
#: (they appear a batch of a thousand at a time): a build of several seconds.
BULK = 4000


def in_the_middle_of_a_build(
    cluster: Cluster, builder: FaultDaemon, public: Path, count: int = BULK
) -> None:
    """Load enough articles for a long build by ``builder``, and wait until it is under way."""
    bulk_load(cluster.root, count, cluster.env["FEEDER_DATABASE_URL"])
    articles = public / "articles"
    wait_for(
        "the build to be under way",
        lambda: articles.is_dir() and len(list(articles.glob("*.html"))) > 30,
        timeout=SLOW,
    )
    assert {w["writer"] for w in cluster.writes()} == {cluster.by(builder)}


def finished(cluster: Cluster, public: Path, count: int) -> Callable[[], bool]:
    def check() -> bool:
        shown = titles_in(public)
        articles = public / "articles"
        return (
            shown is not None
            and len(shown) == 50  # max_items: the newest, all of them bulk-loaded
            and articles.is_dir()
            and len([n for n in os.listdir(articles) if n.endswith(".html")]) >= count
        )

    return check


@pytest.mark.slow
def test_three_daemons_share_a_directory_and_one_takes_over_from_a_killed_builder(
    cluster: Cluster, tmp_path: Path
) -> None:
    public = tmp_path / "shared" / "public"
    builder, standbys = start_three_sharing(cluster, public)
    cluster.feeder("add", "--title", "Built by one")
    wait_for("the add", holds(public, "Built by one"))
    assert {w["writer"] for w in cluster.writes()} == {cluster.by(builder)}, "exactly one builds"
    for standby in standbys:
        assert not [e for e in standby.events() if e.get("event") == "build"]

    in_the_middle_of_a_build(cluster, builder, public)
    worker = wait_for("the build worker", lambda: worker_of(builder))
    killed = time.monotonic()
    builder.process.kill()
    builder.process.wait(5)

    wait_for(
        "another daemon to write",
        lambda: any(w["writer"] != cluster.by(builder) for w in cluster.writes()),
        timeout=TAKEOVER_BOUND + 5,
    )
    took = first_write_after(cluster.writes(), killed, not_by=cluster.by(builder)) - killed
    print(f"handover after kill -9 in the middle of a build: {took:.2f} s")
    # The builder was interrupted: the new one waited out its lease before writing.
    assert FENCE_SECONDS <= took < TAKEOVER_BOUND
    wait_for("the worker to die with its daemon", lambda: process_gone(worker))

    wait_for("the bulk load to be published", finished(cluster, public, BULK), timeout=SLOW)
    (leader,) = cluster.running("leader")
    assert leader in [s.process.pid for s in standbys]
    assert len(cluster.running("standby")) == 1
    seen = assert_never_two_writers(cluster.writes())
    assert {w.writer for w in seen} == {
        cluster.by(builder),
        f"feeder run pid {leader} on {socket.gethostname()} (build worker)",
    }

    for daemon in standbys:
        assert daemon.stop() == 0
    assert temp_files(public) == []
    assert_complete(public)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_builder_cut_off_from_the_database_steps_down_and_another_takes_over(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = pg_cluster
    public = tmp_path / "shared" / "public"
    builder, _standbys = start_three_sharing(cluster, public)
    in_the_middle_of_a_build(cluster, builder, public)

    # The builder's lock sessions (the daemon's, and its worker's publish lock) end, as
    # when its connection drops or the server restarts; its process lives on.
    cut = time.monotonic()
    ended = terminate(cluster, cluster.name(builder), everything=True)
    assert ended == 2, "the daemon lock's session and the build worker's"

    wait_for("the builder to step down", lambda: "stepping down" in builder.log())
    wait_for(
        "another daemon to write",
        lambda: any(w["writer"] != cluster.by(builder) for w in cluster.writes()),
        timeout=TAKEOVER_BOUND + 5,
    )
    took = first_write_after(cluster.writes(), cut, not_by=cluster.by(builder)) - cut
    print(f"handover after the builder's connection was dropped: {took:.2f} s")
    assert took < TAKEOVER_BOUND
    wait_for("the bulk load to be published", finished(cluster, public, BULK), timeout=SLOW)

    assert builder.alive(), "it lost its lock, not its life"
    wait_for(
        "the old builder to stand by", lambda: builder.process.pid in cluster.running("standby")
    )
    (leader,) = cluster.running("leader")
    assert leader != builder.process.pid
    # The worker stopped writing when its lease ran out, before anyone else began.
    seen = assert_never_two_writers(cluster.writes())
    last_by_builder = max(w.end for w in seen if w.writer == cluster.by(builder))
    assert last_by_builder < cut + LEASE_SECONDS + PAUSE_MARGIN_SECONDS
    # Its worker noticed on its own, or was stopped when the daemon stepped down.
    assert any(
        line in builder.log()
        for line in ("the publish lock was lost", "build abandoned", "abandoning the running build")
    )

    for daemon in cluster.daemons:
        assert daemon.stop() == 0
    assert temp_files(public) == []
    assert_complete(public)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_cut_off_mid_build_stops_writing_before_a_build_by_hand_starts(
    pg_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the worker's publish lock is lost: its daemon still leads and never notices,
    and a build by hand (a script) takes the free lock at once. The worker's lease
    runs out and it stops writing before the build by hand writes anything."""
    cluster = pg_cluster
    public = tmp_path / "shared" / "public"
    builder = cluster.start(public)
    wait_for("the first build", lambda: titles_in(public) == [], SLOW)
    with Site.open(
        cluster.root / "feeder.toml", database_url=cluster.env["FEEDER_DATABASE_URL"]
    ) as site:
        by_hand = at(site, public)
        # Long enough that the worker, left alone, would still be writing after the wait.
        in_the_middle_of_a_build(cluster, builder, public)
        cut = time.monotonic()
        assert terminate(cluster, cluster.by(builder)) == 1, "the worker's session only"
        monkeypatch.setenv(TRACE_ENV, str(cluster.trace))
        assert by_hand.build(full=True).written

    seen = assert_never_two_writers(cluster.writes())
    assert any(w.writer.startswith(f"feeder build pid {os.getpid()}") for w in seen)
    interrupted = seen[0]
    assert interrupted.writer == cluster.by(builder) and interrupted.start < cut
    assert interrupted.end < cut + LEASE_SECONDS + PAUSE_MARGIN_SECONDS
    wait_for("the daemon's retry", finished(cluster, public, 4000), timeout=SLOW)
    assert "the publish lock was lost" in builder.log()
    assert "stepping down" not in builder.log(), "its daemon lock was never lost"
    assert builder.stop() == 0
    assert_complete(public)


@pytest.mark.slow
def test_a_builder_whose_lock_files_were_deleted_steps_down(
    sqlite_cluster: Cluster, tmp_path: Path
) -> None:
    """SQLite's locks are files next to the database; a clean-up job may delete them."""
    cluster = sqlite_cluster
    public = tmp_path / "shared" / "public"
    builder, _standbys = start_three_sharing(cluster, public)
    in_the_middle_of_a_build(cluster, builder, public)
    output = outputs.read(public)
    locks = sorted(cluster.root.glob(f"feeder.db-*-{output}.lock"))
    assert [p.name.split("-")[1] for p in locks] == ["daemon", "publish"]
    cut = time.monotonic()
    for path in locks:
        path.unlink()

    wait_for("the builder to step down", lambda: "stepping down" in builder.log())
    # Its worker may still finish the bulk load within its lease; what comes next is
    # published by the daemon that took over.
    cluster.feeder("add", "--title", "After the lock files went")
    wait_for("the bulk load to be published", finished(cluster, public, BULK + 1), timeout=SLOW)
    wait_for(
        "the new article",
        lambda: "After the lock files went" in (titles_in(public) or []),
        timeout=SLOW,
    )
    (leader,) = cluster.running("leader")
    assert leader != builder.process.pid
    seen = assert_never_two_writers(cluster.writes())
    assert len({w.writer for w in seen}) == 2
    took = first_write_after(cluster.writes(), cut, not_by=cluster.by(builder)) - cut
    print(f"handover after the lock files were deleted: {took:.2f} s")
    assert took < TAKEOVER_BOUND
    for daemon in cluster.daemons:
        assert daemon.stop() == 0
    assert_complete(public)


@pytest.mark.slow
def test_a_standby_sharing_the_directory_takes_over_at_once_from_an_idle_leader(
    cluster: Cluster, tmp_path: Path
) -> None:
    public = tmp_path / "shared" / "public"
    builder, standbys = start_three_sharing(cluster, public)
    assert builder.stop() == 0  # a clean stop leaves no mark: nothing to wait out
    wait_for("a standby to lead", lambda: len(cluster.running("leader")) == 1)
    adding = time.monotonic()
    cluster.feeder("add", "--title", "After the handover")  # a process: a second or so
    wait_for("the takeover", holds(public, "After the handover"))
    took = first_write_after(cluster.writes(), adding, not_by=cluster.by(builder)) - adding
    print(f"from an add to its publication after a clean handover: {took:.2f} s")
    assert took < POLL + 5.0
    assert not any("did not finish" in standby.log() for standby in standbys), "no fence wait"
    assert_never_two_writers(cluster.writes())


@pytest.mark.slow
def test_a_daemon_told_to_publish_another_directory_moves_there(
    sqlite_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = sqlite_cluster
    first, moved = tmp_path / "first", tmp_path / "moved"
    config = cluster.root / "feeder.toml"
    original = config.read_text()
    config.write_text(original.replace('output_dir = "public"', f'output_dir = "{first}"'))
    daemon = cluster.start(None)
    wait_for("the first directory", lambda: titles_in(first) == [], SLOW)

    config.write_text(original.replace('output_dir = "public"', f'output_dir = "{moved}"'))
    daemon.process.send_signal(signal.SIGHUP)
    wait_for("the new directory's first build", lambda: titles_in(moved) == [], SLOW)
    cluster.feeder("add", "--title", "Published in the new place")
    wait_for("the add", holds(moved, "Published in the new place"))
    assert titles_in(first) == [], "the old directory is left as it was"
    (shown,) = cluster.status()["daemons"]
    assert (shown["role"], shown["output"]) == ("leader", outputs.read(moved))
    assert daemon.stop() == 0


# -- migrations when several processes start at once ------------------------------------

UPGRADER = textwrap.dedent(
    """
    import sys
    from db import create_engine, migrate
    engine = create_engine(sys.argv[1], create=True)
    print(migrate.upgrade(engine))
    engine.dispose()
    """
)


def upgrade_at_once(database_url: str, count: int = 3) -> list[str]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADER, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(out.strip())
    return results


def test_three_processes_starting_on_a_new_database_migrate_it_once(database_url: str) -> None:
    assert sorted(upgrade_at_once(database_url)) == ["False", "False", "True"]
    engine = create_engine(database_url)
    try:
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()


def test_three_processes_upgrading_an_old_database_migrate_it_once(
    database_url: str, tmp_path: Path
) -> None:
    from alembic import command

    from db import create_engine as feeder_engine

    engine = feeder_engine(database_url, create=True)
    try:
        config = migrate._config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
    finally:
        engine.dispose()
    assert sorted(upgrade_at_once(database_url)) == ["False", "False", "True"]
    # ... and the daemons, the CLI and the API all work on the result.
    site_dir = tmp_path / "site"
    with Site.init(site_dir, database_url=database_url) as site:
        site.add_article("After the upgrade")
        assert site.build().full


# -- output directories: identity ---------------------------------------------------------


def test_an_output_directory_gets_one_identity_and_keeps_it(tmp_path: Path) -> None:
    public = tmp_path / "new" / "public"
    made = outputs.identify(public)
    assert outputs.identify(public) == made == outputs.read(public)
    assert outputs.identify(tmp_path / "other") != made
    assert outputs.read(tmp_path / "missing") is None
    assert not list(public.glob("*.tmp")), "no temp file left behind"


IDENTIFIER = textwrap.dedent(
    """
    import sys, time
    from feeder.publishing import outputs
    start = float(sys.argv[2])
    while time.time() < start:
        pass
    print(outputs.identify(__import__("pathlib").Path(sys.argv[1])))
    """
)


def test_daemons_starting_at_once_on_an_empty_directory_agree_on_its_identity(
    tmp_path: Path,
) -> None:
    for attempt in range(3):
        public = tmp_path / f"public-{attempt}"
        start = str(time.time() + 1.0)  # every process is ready by then
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", IDENTIFIER, str(public), start],
                stdout=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
            for _ in range(4)
        ]
        ids = {proc.communicate(timeout=60)[0].strip() for proc in procs}
        assert ids == {outputs.read(public)}


def test_a_damaged_identity_is_one_line_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    tmp_path.joinpath(outputs.OUTPUT_FILE).write_text("not an id\n")
    with pytest.raises(PublishError) as caught:
        outputs.read(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and outputs.OUTPUT_FILE in message and "delete it" in message


def test_a_wiped_directory_gets_its_identity_back_from_its_holder(tmp_path: Path) -> None:
    public = tmp_path / "public"
    made = outputs.identify(public)
    shutil.rmtree(public)
    assert outputs.ensure(public, made) is True
    assert outputs.read(public) == made
    assert outputs.ensure(public, made) is False
    with pytest.raises(outputs.OutputChanged):
        outputs.ensure(public, "0" * 32)


# -- build state per output directory -------------------------------------------------------


def at(site: Site, directory: Path) -> Site:
    """The same site publishing into ``directory`` (another host's output directory)."""
    import dataclasses

    return site.with_config(dataclasses.replace(site.config, output_dir=directory))


def test_each_output_directory_is_built_from_what_it_last_got(site: Site, tmp_path: Path) -> None:
    one, two = at(site, tmp_path / "one"), at(site, tmp_path / "two")
    site.add_article("First")
    assert one.build().full
    site.add_article("Second")
    joined = two.build()
    assert joined.full, "a directory joining an existing site gets a full build"
    assert titles_in(tmp_path / "two") == ["First", "Second"]
    caught_up = one.build()
    assert not caught_up.full and "articles/second.html" in caught_up.written
    assert "articles/first.html" not in caught_up.written
    assert titles_in(tmp_path / "one") == ["First", "Second"]
    assert not two.build().written, "nothing new for the second directory"

    output_one = outputs.read(tmp_path / "one")
    status = one.status()
    assert status.output_id == output_one
    assert {o.id for o in status.outputs} == {output_one, outputs.read(tmp_path / "two")}
    assert all(not o.pending and o.writer is None for o in status.outputs)
    site.add_article("Third")
    assert [o.pending for o in one.status().outputs] == [True, True]


def _changes(site: Site) -> int:
    with site.storage.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM selection_changes")).scalar_one())


def test_bookkeeping_is_kept_until_every_output_directory_built_past_it(
    site: Site, tmp_path: Path, clock: FakeClock
) -> None:
    one, two = at(site, tmp_path / "one"), at(site, tmp_path / "two")
    site.add_article("Tagged", tags=["news", "old"])
    one.build()
    two.build()
    site.edit_article("tagged", tags=["news"])  # the article leaves the tag 'old'
    kept = _changes(site)
    assert kept > 0
    one.build()
    assert _changes(site) == kept, "the second directory has not built past it yet"
    report = two.build()
    assert not report.full and "tags/old/rss.xml" in report.removed
    assert _changes(site) == 0

    # A directory not built for longer than FORGET_AFTER stops holding it back...
    site.edit_article("tagged", tags=[])
    clock.advance(days=outputs.FORGET_AFTER.days + 1)
    one.build()
    assert _changes(site) == 0
    # ... and gets a full build when it comes back, so it misses nothing.
    back = two.build()
    assert back.full and "tags/news/rss.xml" in back.removed


def test_a_forgotten_output_directory_is_gone_from_status_and_rebuilt_in_full(
    site: Site, tmp_path: Path
) -> None:
    gone = at(site, tmp_path / "gone")
    gone.build()
    output = outputs.read(tmp_path / "gone")
    assert output is not None
    site.forget_output(output)
    assert site.status().outputs == ()
    with pytest.raises(NotFoundError, match="'feeder status' lists them"):
        site.forget_output(output)
    assert gone.build().full


def test_forget_output_on_the_command_line(sqlite_site: Site) -> None:
    sqlite_site.build()
    output = outputs.read(sqlite_site.config.output_dir)
    assert output is not None
    config = str(sqlite_site.config.root / "feeder.toml")
    done = CliRunner().invoke(cli, ["-c", config, "forget-output", output])
    assert done.exit_code == 0 and done.output == f"forgot output {output}\n"
    again = CliRunner().invoke(cli, ["-c", config, "forget-output", output])
    assert again.exit_code == 66
    assert again.output.count("\n") == 1 and again.output.startswith("error: output: no output")


def test_status_lists_every_output_directory_and_daemon(sqlite_site: Site, tmp_path: Path) -> None:
    at(sqlite_site, tmp_path / "elsewhere").build()
    sqlite_site.add_article("Pending here")
    config = str(sqlite_site.config.root / "feeder.toml")
    shown = json.loads(CliRunner().invoke(cli, ["-c", config, "status", "--json"]).output)
    assert shown["output"] is None, "nothing published here yet"
    assert [o["path"] for o in shown["outputs"]] == [str(tmp_path / "elsewhere")]
    assert shown["outputs"][0]["pending_changes"] is True
    text_output = CliRunner().invoke(cli, ["-c", config, "status"]).output
    assert f"{tmp_path / 'elsewhere'} on {socket.gethostname()}" in text_output
    assert "changes pending" in text_output


# -- fencing ----------------------------------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_timing_constants_keep_the_argument_true() -> None:
    # A lease is renewed several times before it runs out, and the wait after an
    # interrupted build outlasts any lease that was granted before the lock was lost.
    assert CONFIRM_SECONDS * 4 <= LEASE_SECONDS
    assert FENCE_SECONDS >= LEASE_SECONDS + PAUSE_MARGIN_SECONDS


def test_a_lease_runs_out_unless_the_lock_is_confirmed(site: Site, tmp_path: Path) -> None:
    clock = FakeMonotonic()
    lock = site.storage.lock("publish", "feeder build pid 1 on test", site.config.root)
    assert lock.try_acquire()
    try:
        lease = Lease(tmp_path, clock=clock)
        keeper = Keeper(lock, lease, clock=clock)
        with pytest.raises(LockLost):
            lease.check()  # never confirmed: no right to write
        assert keeper.confirm()
        clock.now += LEASE_SECONDS - 0.01
        lease.check()
        clock.now += 0.01
        with (
            pytest.raises(LockLost, match="publish lock was lost"),
            lease.fenced(tmp_path / "rss.xml"),
        ):
            pytest.fail("a write after the lease ran out")
        assert keeper.confirm()  # confirmed again: renewed from when the check started
        lease.check()
    finally:
        lock.close()


@pytest.mark.postgres
def test_a_lost_advisory_lock_revokes_the_lease_at_once(postgres_url: str, tmp_path: Path) -> None:
    with Site.init(tmp_path / "site", database_url=postgres_url) as site:
        lock = site.storage.lock("publish", "feeder build pid 7 on fence-test", site.config.root)
        assert lock.try_acquire()
        try:
            lease = Lease(tmp_path)
            keeper = Keeper(lock, lease)
            assert keeper.confirm()
            with site.storage.engine.begin() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'feeder build pid 7 on fence-test'"
                    )
                )
            assert not keeper.confirm()
            with pytest.raises(LockLost):
                lease.check()
        finally:
            lock.close()


def test_a_build_without_a_lease_renames_nothing_into_place(site: Site) -> None:
    site.add_article("Never published")
    output = outputs.identify(site.config.output_dir)
    expired = Lease(site.config.output_dir)  # never renewed
    with pytest.raises(LockLost):
        run_build(
            site.storage, site.config, now=site.now(), turn=Turn(output, None, expired.fenced)
        )
    left = [p.name for p in site.config.output_dir.rglob("*") if p.is_file()]
    assert left == [outputs.OUTPUT_FILE], "no file renamed into place, no temp file left"
    assert site.status().built_at is None


def test_a_build_that_finds_an_unfinished_build_waits_out_its_lease(site: Site) -> None:
    output = outputs.identify(site.config.output_dir)
    with site.storage.write() as writer:  # what a worker killed mid-build leaves behind
        writer.claim_output(
            output, writer="feeder run pid 9 on gone", token="t" * 32, path="/x", host="gone",
            now=site.now(),
        )  # fmt: skip
    assert site.status().outputs[0].writer == "feeder run pid 9 on gone"
    started = time.monotonic()
    site.build()
    assert time.monotonic() - started >= FENCE_SECONDS
    assert site.status().outputs[0].writer is None, "a build that ended clears its mark"
    started = time.monotonic()
    site.build()
    assert time.monotonic() - started < FENCE_SECONDS, "no mark: no wait"


def test_a_build_taken_over_meanwhile_does_not_record_itself(site: Site) -> None:
    output = outputs.identify(site.config.output_dir)
    for writer, token in (("first", "a" * 32), ("second", "b" * 32)):  # the second took over
        with site.storage.write() as marker:
            marker.claim_output(
                output, writer=writer, token=token, path="/p", host="h", now=site.now()
            )
    run_build(site.storage, site.config, now=site.now(), turn=Turn(output, "a" * 32, None))
    (status,) = site.status().outputs
    assert (status.writer, status.built_at) == ("second", None)


def test_a_failed_build_clears_its_mark(site: Site) -> None:
    site.add_article("Blocked")
    (site.config.output_dir / "rss.xml").mkdir(parents=True)
    with pytest.raises(PublishError):
        site.build()
    (status,) = site.status().outputs
    assert status.writer is None and status.last_error is None
    assert site.status().built_at is None


def test_feeder_build_waits_for_the_lock_of_its_own_directory_only(
    site: Site, tmp_path: Path
) -> None:
    other = at(site, tmp_path / "other")
    here = publish_lock(
        site.storage, site.config, "feeder run pid 1 on test",
        outputs.identify(site.config.output_dir),
    )  # fmt: skip
    assert here.try_acquire()
    try:
        assert other.build().full, "another directory's lock is another lock"
        with pytest.raises(LockedError, match="feeder run pid 1 on test"):
            site.build(wait=0.2)
    finally:
        here.close()


def test_locks_of_one_scope_exclude_each_other_and_of_two_do_not(site: Site) -> None:
    def lock(scope: str, who: str) -> Any:
        return site.storage.lock("daemon", who, site.config.root, scope=scope)

    first, second, elsewhere = lock("a" * 32, "one"), lock("a" * 32, "two"), lock("b" * 32, "3")
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert second.holder() == "one"
        assert elsewhere.try_acquire()
    finally:
        for held in (first, second, elsewhere):
            held.close()
    with pytest.raises(ValueError, match="letters, digits"):
        site.storage.lock("daemon", "x", site.config.root, scope="../etc")
