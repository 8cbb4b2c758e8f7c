"""What ``feeder run`` costs when idle, and how late scheduled articles go live.

    .venv/bin/python bench/bench_daemon.py [--sizes 1000,100000,1000000] [--samples 20]

For each size (SQLite, articles bulk-loaded with SQLAlchemy Core):

- **no-change tick**: the poll job's work when nothing changed (``BuildQueue.tick``:
  one statement reading the state row and the output directory's row by primary
  key), median and p99 over ``--ticks`` calls, next to a bare
  ``SELECT 1`` round trip on the same engine measured in the same run;
- **publication delay**: a real ``feeder run`` subprocess serves the site;
  ``--samples`` articles are scheduled one second apart, and the script polls
  ``/rss.xml`` over HTTP (conditional GETs) until each appears. The delay is
  the time from the article's ``published_at`` to the first response that
  contains it, median and max.

All three sizes take about two minutes; the 1,000,000-article database is
about 350 MB (in a temp directory, removed afterwards unless ``--keep``).
Only the feeds and the index are rendered for the bulk-loaded articles, not a
page per article: the figures are about the daemon, not the first full build.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text, update

from db.models import Article, State
from feeder import Site, _daemon
from feeder.publishing import outputs
from jobs import BuildQueue, InlineBuilder

FEEDER = str(Path(sys.executable).parent / "feeder")
BATCH = 20_000


def bulk_load(site: Site, count: int) -> None:
    """``count`` published articles in batched executemany inserts, then mark them built."""
    now = site.now()
    with site.storage.engine.begin() as connection:
        revision = connection.execute(
            update(State).values(revision=State.revision + 1).returning(State.revision)
        ).scalar_one()
        for start in range(0, count, BATCH):
            connection.execute(
                insert(Article),
                [
                    {
                        "uid": f"tag:bench.invalid,2026:/a/{i}",
                        "slug": f"article-{i}",
                        "title": f"Article {i}",
                        "summary": f"Summary of article {i}.",
                        "content": f"<p>The text of article {i}.</p>",
                        "published_at": now - timedelta(seconds=30 * (count - i)),
                        "updated_at": now - timedelta(seconds=30 * (count - i)),
                        "created_at": now,
                        "revision": revision,
                    }
                    for i in range(start, min(start + BATCH, count))
                ],
            )
    # As if a build had run: what the output directory got is recorded.
    with site.storage.write() as writer:
        writer.record_build(
            output=outputs.identify(site.config.output_dir),
            revision=revision,
            now=now,
            seconds=0.0,
            result="bulk load",
            fingerprint=None,
            error=None,
            stale_before=now - outputs.FORGET_AFTER,
        )
    site.build()  # the feeds and the index, which every build renders


def timings(call: object, count: int) -> tuple[float, float]:
    """Median and p99 of ``count`` calls, in microseconds."""
    assert callable(call)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.99)] * 1e6


def tick_cost(site: Site, count: int) -> tuple[tuple[float, float], tuple[float, float]]:
    publisher = BuildQueue(site, InlineBuilder(site))  # not started: a tick only reads

    def select_one() -> None:
        with site.storage.engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar()

    assert not _daemon.pending(site, publisher.output)
    timings(publisher.tick, 200)  # warm up the connection pool and statement cache
    timings(select_one, 200)
    return timings(publisher.tick, count), timings(select_one, count)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def publication_delays(site: Site, root: Path, samples: int) -> list[float]:
    port = free_port()
    env = {
        **os.environ,
        "FEEDER_CONFIG": str(root / "feeder.toml"),
        "FEEDER_SCHEDULE_POLL_INTERVAL": "0.5",
    }
    log = (root / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [FEEDER, "run", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log
    )
    url = f"http://127.0.0.1:{port}/rss.xml"
    try:
        with httpx.Client(headers={"Accept-Encoding": "identity"}, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get(url).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the daemon did not start; see {root / 'daemon.log'}")
                time.sleep(0.05)

            first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
            due = {}
            for n in range(samples):
                when = first + timedelta(seconds=n)
                site.add_article(f"Scheduled sample {n}", published=when)
                due[f"<title>Scheduled sample {n}</title>".encode()] = when
            seen: dict[bytes, float] = {}
            etag = ""
            deadline = time.monotonic() + samples + 30
            while len(seen) < samples and time.monotonic() < deadline:
                response = client.get(url, headers={"If-None-Match": etag} if etag else {})
                answered = datetime.now(UTC)
                if response.status_code == 200:
                    etag = response.headers["etag"]
                    for marker, when in due.items():
                        if marker not in seen and marker in response.content:
                            seen[marker] = (answered - when).total_seconds()
            if len(seen) < samples:
                raise RuntimeError(f"only {len(seen)} of {samples} samples appeared")
            return list(seen.values())
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        log.close()


def run(count: int, args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix=f"feeder-bench-{count}-"))
    try:
        with Site.init(root, title="Bench", base_url="http://127.0.0.1/") as site:
            started = time.perf_counter()
            bulk_load(site, count)
            loaded = time.perf_counter() - started
            (tick_median, tick_p99), (base_median, base_p99) = tick_cost(site, args.ticks)
            delays = publication_delays(site, root, args.samples)
        print(
            f"{count:>9,} | {loaded:6.1f} s | "
            f"{tick_median:6.0f} {tick_p99:6.0f} | {base_median:6.0f} {base_p99:6.0f} | "
            f"{statistics.median(delays) * 1000:6.0f} {max(delays) * 1000:6.0f}",
            flush=True,
        )
    finally:
        if args.keep:
            print(f"          kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1000,100000,1000000", help="comma-separated article counts"
    )
    parser.add_argument("--samples", type=int, default=20, help="scheduled articles per size")
    parser.add_argument("--ticks", type=int, default=5000, help="ticks timed per size")
    parser.add_argument("--keep", action="store_true", help="keep the temp sites")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    print(f"SQLite, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print("                       no-change tick (µs)   SELECT 1 (µs)     delay (ms)")
    print(" articles |   load   | median    p99 | median    p99 | median    max")
    for count in sizes:
        run(count, args)


if __name__ == "__main__":
    main()
