"""How long an output directory goes unpublished when its builder dies, beside a cold start.

    .venv/bin/python bench/bench_handover.py [--runs 5] [--articles 2000] [--postgres URL]

Real ``feeder run`` processes share one output directory; every file operation
of every build is traced (``FEEDER_WRITE_TRACE``, monotonic times), so each
figure is from one event to the first file written after it:

- **cold start**: a new daemon on an idle site, from its start to its first build's
  first file (the baseline: what a restart by systemd would cost);
- **idle handover**: two daemons; the leader, idle, is killed with ``kill -9`` and an
  article is stored at once; from the kill to the standby writing it;
- **mid-build handover**: ``--articles`` articles are stored and the leader is killed
  once it has written 30 pages; from the kill to the standby's first file (it waits
  out the fence, ``FENCE_SECONDS``, since the killed build did not finish).

Median and max over ``--runs``, on SQLite and, with ``--postgres``, PostgreSQL (a
schema of its own, dropped afterwards). The standby's poll and the fence are
printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, update
from throwaway import postgres_schema

from db.models import Article, State
from feeder import Site
from feeder.publishing.fence import FENCE_SECONDS, TRACE_ENV
from jobs.daemon import STANDBY_POLL_SECONDS

FEEDER = str(Path(sys.executable).parent / "feeder")
POLL = 0.5


def wait(what: str, check: Callable[[], object], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Bench:
    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        self.public = root / "public"
        self.trace = root / "writes.jsonl"
        self.url = database_url
        self.env = {
            **os.environ,
            "FEEDER_CONFIG": str(root / "feeder.toml"),
            "FEEDER_DATABASE_URL": database_url,
            "FEEDER_SCHEDULE_POLL_INTERVAL": str(POLL),
            TRACE_ENV: str(self.trace),
        }
        self.daemons: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.root / f"daemon-{len(self.daemons)}.log").open("wb")
        process = subprocess.Popen(
            [FEEDER, "run", "--no-serve"], env=self.env, stdout=subprocess.DEVNULL, stderr=log
        )
        self.daemons.append(process)
        return process

    def writes(self) -> list[dict[str, object]]:
        if not self.trace.exists():
            return []
        return [json.loads(line) for line in self.trace.read_text().splitlines() if line]

    def first_write_after(self, moment: float, not_by: str | None = None) -> float | None:
        times = [
            float(w["at"])  # type: ignore[arg-type]
            for w in self.writes()
            if float(w["at"]) > moment and w["writer"] != not_by  # type: ignore[arg-type]
        ]
        return min(times) if times else None

    def store(self, count: int, prefix: str) -> None:
        """``count`` published articles in one transaction, as another program might."""
        with Site.open(self.root / "feeder.toml", database_url=self.url) as site:
            now = site.now()
            with site.storage.engine.begin() as connection:
                revision = connection.execute(
                    update(State).values(revision=State.revision + 1).returning(State.revision)
                ).scalar_one()
                connection.execute(
                    insert(Article),
                    [
                        {
                            "uid": f"tag:bench.invalid,2026:/{prefix}/{i}",
                            "slug": f"{prefix}-{i}",
                            "title": f"{prefix} {i}",
                            "summary": "s",
                            "content": f"<p>{prefix} {i}</p>" * 20,
                            "published_at": now - timedelta(seconds=count - i),
                            "updated_at": now - timedelta(seconds=count - i),
                            "created_at": now,
                            "revision": revision,
                        }
                        for i in range(count)
                    ],
                )

    def stop(self) -> None:
        for process in self.daemons:
            if process.poll() is None:
                process.kill()
            process.wait(10)
        self.daemons.clear()


def writer_of(process: subprocess.Popen[bytes]) -> str:
    import socket

    return f"feeder run pid {process.pid} on {socket.gethostname()} (build worker)"


def run_once(database_url: str | None, articles: int) -> tuple[float, float, float]:
    root = Path(tempfile.mkdtemp(prefix="feeder-handover-"))
    database_url = database_url or f"sqlite:///{root / 'feeder.db'}"
    try:
        Site.init(
            root, title="Bench", base_url="http://127.0.0.1/", database_url=database_url
        ).close()
        bench = Bench(root, database_url)
        try:
            started = time.monotonic()
            first = bench.start()
            wait("the first build", lambda: bench.first_write_after(started) is not None)
            cold = bench.first_write_after(started)
            assert cold is not None
            standby = bench.start()
            time.sleep(STANDBY_POLL_SECONDS * 4)  # the standby is waiting for the lock

            first.kill()
            killed = time.monotonic()
            bench.store(1, "idle")
            wait("the idle handover", lambda: bench.first_write_after(killed, writer_of(first)))
            idle = bench.first_write_after(killed, writer_of(first))
            assert idle is not None
            third = bench.start()  # the next standby
            time.sleep(STANDBY_POLL_SECONDS * 4)

            mark = time.monotonic()
            bench.store(articles, "bulk")
            articles_dir = bench.public / "articles"
            wait(
                "the long build to be under way",
                lambda: sum(1 for _ in articles_dir.glob("bulk-*.html")) > 30,
            )
            standby.kill()
            killed_mid = time.monotonic()
            wait(
                "the mid-build handover",
                lambda: bench.first_write_after(killed_mid, writer_of(standby)),
            )
            mid = bench.first_write_after(killed_mid, writer_of(standby))
            assert mid is not None and mark < killed_mid and third.poll() is None
            return cold - started, idle - killed, mid - killed_mid
        finally:
            bench.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(name: str, runs: list[tuple[float, float, float]]) -> None:
    for label, index in (("cold start", 0), ("idle handover", 1), ("mid-build handover", 2)):
        values = [run[index] for run in runs]
        print(
            f"{name:<10} {label:<19} median {statistics.median(values):5.2f} s   "
            f"max {max(values):5.2f} s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--articles", type=int, default=2000, help="for the mid-build case")
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL to measure too")
    args = parser.parse_args()
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; poll_interval {POLL} s, "
        f"standby poll {STANDBY_POLL_SECONDS} s, fence {FENCE_SECONDS} s"
    )
    runs = [run_once(None, args.articles) for _ in range(args.runs)]
    report("SQLite", runs)
    if args.postgres:
        runs = []
        for _ in range(args.runs):
            with postgres_schema(args.postgres) as url:
                runs.append(run_once(url, args.articles))
        report("PostgreSQL", runs)


if __name__ == "__main__":
    main()
