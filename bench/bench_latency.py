"""From ``feeder add`` returning to the change being served: NOTIFY against polling.

    .venv/bin/python bench/bench_latency.py [--tries 20] [--articles 200] [--db URL]
                                            [--poll-interval 2] [--via cli|api]

For each way a daemon learns about changes, a real ``feeder run`` subprocess
serves a site of ``--articles`` articles over HTTP, and ``--tries`` times in a
row an article is added (``feeder add`` in a subprocess, or ``Site.add_article``
in this process with ``--via api``) while a client polls ``/rss.xml`` with
conditional GETs until the new title is in it. The latency of a try runs from
the add returning to the first response carrying the title. Tries are spaced
by a random pause (up to the poll interval when polling), so they fall at every
phase of the poll timer.

- **PostgreSQL, NOTIFY**: ``schedule.listen = true``, with the poll interval
  raised to 30 s so that only the notification explains a fast build;
- **PostgreSQL, polling**: ``schedule.listen = false``, ``--poll-interval``;
- **SQLite, polling**: ``--poll-interval`` (SQLite has no notifications).

Beside each median and max: the poll interval, the target (NOTIFY: median
under 100 ms and max under 250 ms; polling: under the poll interval + 1 s),
and, measured in the same run, the daemon's own incremental build time (from
its log) and a bare conditional GET of the feed, which together are the floor
under any latency. ``--db`` takes a PostgreSQL URL (a schema is created in it
and dropped); without one, PostgreSQL rows are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from throwaway import postgres_schema

from feeder import Site

FEEDER = str(Path(sys.executable).parent / "feeder")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Case:
    label: str
    backend: str  # "sqlite" or "postgresql"
    listen: bool
    poll_interval: float

    @property
    def target(self) -> str:
        if self.listen:
            return "median < 100 ms, max < 250 ms"
        return f"< {(self.poll_interval + 1) * 1000:.0f} ms"

    def met(self, median: float, worst: float) -> bool:
        if self.listen:
            return median < 0.100 and worst < 0.250
        return worst < self.poll_interval + 1


@dataclass
class Result:
    latencies: list[float]
    builds: list[float]
    gets: list[float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def database(case: Case, base: str | None, directory: Path) -> Iterator[str | None]:
    """The site's database URL: None for SQLite (feeder.db in the site), or a new schema."""
    if case.backend == "sqlite":
        yield None
        return
    assert base is not None
    with postgres_schema(base, "bench_latency") as url:
        yield url


def environment(root: Path, case: Case, url: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FEEDER_")}
    env["FEEDER_CONFIG"] = str(root / "feeder.toml")
    env["FEEDER_SCHEDULE_POLL_INTERVAL"] = str(case.poll_interval)
    env["FEEDER_SCHEDULE_LISTEN"] = "true" if case.listen else "false"
    if url is not None:
        env["FEEDER_DATABASE_URL"] = url
    return env


def wait_until_served(client: httpx.Client, url: str, deadline: float) -> None:
    while True:
        try:
            if client.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing served at {url}")
        time.sleep(0.05)


def build_seconds(log: Path) -> list[float]:
    """The duration of each incremental build the daemon logged."""
    found = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "build" and not event.get("full"):
            found.append(float(event["seconds"]))
    return found


def measure(case: Case, args: argparse.Namespace) -> Result:
    root = Path(tempfile.mkdtemp(prefix="feeder-bench-latency-"))
    try:
        with database(case, args.db, root) as url:
            with Site.init(
                root, title="Bench", base_url="http://127.0.0.1/", database_url=url
            ) as site:
                for n in range(args.articles):
                    site.add_article(f"Article {n}", content=f"<p>Text {n}.</p>", tags=["bench"])
            env = environment(root, case, url)
            return _run_daemon(root, env, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_daemon(root: Path, env: dict[str, str], args: argparse.Namespace) -> Result:
    port = free_port()
    log_path = root / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [FEEDER, "run", "--port", str(port), "--log-format", "json"],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    feed = f"http://127.0.0.1:{port}/rss.xml"
    rng = random.Random(7)
    latencies: list[float] = []
    gets: list[float] = []
    try:
        with (
            httpx.Client(headers={"Accept-Encoding": "identity"}, timeout=10) as client,
            Site.open(root / "feeder.toml", database_url=env.get("FEEDER_DATABASE_URL")) as site,
        ):
            wait_until_served(client, feed, time.monotonic() + 60)
            time.sleep(1.0)  # the first build's bookkeeping, the listener's connection
            etag = client.get(feed).headers["etag"]
            # Polling: pauses spread over the whole poll interval, so adds fall at every
            # phase of the timer (a pause shorter than it would favour late phases).
            spread = max(args.spread, float(env["FEEDER_SCHEDULE_POLL_INTERVAL"]))
            if env["FEEDER_SCHEDULE_LISTEN"] == "true":
                spread = args.spread
            for n in range(args.tries):
                time.sleep(rng.uniform(0.2, 0.2 + spread))
                title = f"Latency try {n}"
                marker = f"<title>{title}</title>".encode()
                if args.via == "api":
                    site.add_article(title)
                else:
                    subprocess.run(
                        [FEEDER, "add", "--title", title],
                        env=env,
                        cwd=root,
                        check=True,
                        stdout=subprocess.DEVNULL,
                    )
                added = time.perf_counter()
                deadline = time.monotonic() + 120
                while True:
                    started = time.perf_counter()
                    response = client.get(feed, headers={"If-None-Match": etag})
                    answered = time.perf_counter()
                    if response.status_code == 304:
                        gets.append(answered - started)
                    elif response.status_code == 200:
                        etag = response.headers["etag"]
                        if marker in response.content:
                            latencies.append(answered - added)
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{title!r} was never served; see {root}")
                    time.sleep(0.002)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
    return Result(latencies, build_seconds(log_path), gets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--articles", type=int, default=200, help="articles on the site")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="seconds, when polling")
    parser.add_argument(
        "--spread", type=float, default=1.0, help="random pause between tries (NOTIFY), seconds"
    )
    parser.add_argument("--via", choices=("cli", "api"), default="cli")
    parser.add_argument(
        "--db",
        default=os.environ.get("FEEDER_TEST_POSTGRES_URL") or DEFAULT_POSTGRES,
        help="PostgreSQL URL ('' to skip PostgreSQL)",
    )
    args = parser.parse_args()
    cases = [
        Case("PostgreSQL, NOTIFY", "postgresql", True, 30.0),
        Case("PostgreSQL, polling", "postgresql", False, args.poll_interval),
        Case("SQLite, polling", "sqlite", False, args.poll_interval),
    ]
    if args.db:
        try:
            create_engine(args.db).connect().close()
        except Exception as exc:
            print(f"PostgreSQL skipped: {args.db} does not answer ({exc.__class__.__name__})")
            args.db = ""
    if not args.db:
        cases = [case for case in cases if case.backend == "sqlite"]
    print(
        f"add -> served over HTTP, {args.tries} tries, {args.articles} articles, "
        f"add via {args.via}; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(f"{'':21}| {'poll':>6} | {'latency (ms)':^15} | {'build (ms)':^10} | {'GET (ms)':^8} |")
    print(
        f"{'':21}| {'(s)':>6} | {'median':>7} {'max':>7} | {'median':>10} | {'median':>8} | target"
    )
    for case in cases:
        result = measure(case, args)
        median, worst = statistics.median(result.latencies), max(result.latencies)
        # No 304 at all: the change was served by the first request after the add.
        build = f"{statistics.median(result.builds) * 1000:10.1f}" if result.builds else "-"
        get = f"{statistics.median(result.gets) * 1000:8.2f}" if result.gets else "-"
        verdict = "met" if case.met(median, worst) else "MISSED"
        print(
            f"{case.label:21}| {case.poll_interval:6.1f} "
            f"| {median * 1000:7.0f} {worst * 1000:7.0f} "
            f"| {build:>10} | {get:>8} | {case.target}: {verdict}",
            flush=True,
        )


if __name__ == "__main__":
    main()
