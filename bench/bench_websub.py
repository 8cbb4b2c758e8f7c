"""How soon a WebSub hub hears of a build, and what pinging costs the build.

    .venv/bin/python bench/bench_websub.py [--articles 100] [--samples 20]

A hub on 127.0.0.1 (``http.server``, HTTP/1.1, answering 204) records when each
ping arrives. Each sample adds an article with a tag (so a build changes the
site's feeds and the tag's) and builds:

- **Site.build() -> ping**: from ``Site.build()`` returning to the hub receiving
  the first ping of that build, and the last one; next to the **baseline**, one
  bare form POST to the same hub with ``http.client`` on a new connection, from
  the call to the hub receiving it, measured in the same run between samples;
- **feeder run -> ping**: a ``feeder run`` subprocess builds after each change;
  from its log line for the build (written as the report comes back from the
  build worker; its timestamp has millisecond resolution) to the first ping;
- **build time**: ``Site.build()`` on three copies of the site, interleaved:
  without a hub, with the recording hub, and with a hub that never answers (the
  pings wait on it in the background; the build must not).

SQLite, in a temp directory removed afterwards. Median and max of ``--samples``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

from feeder import Site
from feeder.publishing.websub import changed_topics

FEEDER = str(Path(sys.executable).parent / "feeder")


class RecordingHub:
    """Records the arrival (monotonic and wall clock) of every ping."""

    def __init__(self, *, hang: bool = False) -> None:
        self.arrivals: list[tuple[float, float, str]] = []
        self.changed = threading.Condition()
        self.release = threading.Event()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived, wall = time.monotonic(), time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hub.changed:
                    hub.arrivals.append((arrived, wall, body.decode()))
                    hub.changed.notify_all()
                if hang:
                    hub.release.wait(120)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hub"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[float, float, str]]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.arrivals) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"the hub got {len(self.arrivals)} pings, not {count}")
                self.changed.wait(left)
            return list(self.arrivals)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def make_site(root: Path, hub: str | None, articles: int) -> Site:
    Site.init(root, title="Bench", base_url="https://bench.example/", id_authority="bench.example")
    if hub:
        path = root / "feeder.toml"
        path.write_text(f'websub_hub = "{hub}"\n' + path.read_text(encoding="utf-8"))
    site = Site.open(root / "feeder.toml")
    for n in range(articles):
        site.add_article(f"Article {n}", content=f"<p>Text {n}.</p>", tags=[f"tag{n % 10}"])
    site.build()
    site.wait_for_pings(30)
    return site


def bare_post(hub: RecordingHub) -> float:
    """Seconds from starting a POST on a new connection to the hub receiving it."""
    before = len(hub.arrivals)
    started = time.monotonic()
    connection = HTTPConnection("127.0.0.1", hub.server.server_port, timeout=5)
    body = urlencode({"hub.mode": "publish", "hub.url": "https://bench.example/rss.xml"})
    connection.request("POST", "/hub", body, {"Content-Type": "application/x-www-form-urlencoded"})
    connection.getresponse().read()
    connection.close()
    return hub.wait_for(before + 1)[before][0] - started


def api_samples(root: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    hub, hanging = RecordingHub(), RecordingHub(hang=True)
    sites = {
        "none": make_site(root / "plain", None, args.articles),
        "hub": make_site(root / "hub", hub.url, args.articles),
    }
    sites["hanging"] = make_site(root / "hanging", None, args.articles)
    # The hanging hub is set after the first build, which would otherwise wait on it.
    path = root / "hanging" / "feeder.toml"
    path.write_text(f'websub_hub = "{hanging.url}"\n' + path.read_text(encoding="utf-8"))
    sites["hanging"].close()
    sites["hanging"] = Site.open(path)
    sites["hanging"].build(full=True)  # the new hub is a new setting: one full build
    figures: dict[str, list[float]] = {
        "first": [],
        "last": [],
        "bare": [],
        "build none": [],
        "build hub": [],
        "build hanging": [],
    }
    try:
        for n in range(args.samples):
            figures["bare"].append(bare_post(hub))
            for name, site in sites.items():
                site.add_article(f"Sample {n}", content="<p>New.</p>", tags=["tag0"])
                before = len(hub.arrivals)
                started = time.monotonic()
                report = site.build()
                returned = time.monotonic()
                figures[f"build {name}"].append(returned - started)
                if name == "hub":
                    feeds = changed_topics(site.config, report.written)  # not archive pages
                    arrivals = hub.wait_for(before + len(feeds))[before:]
                    figures["first"].append(min(a[0] for a in arrivals) - returned)
                    figures["last"].append(max(a[0] for a in arrivals) - returned)
                    site.wait_for_pings(30)
    finally:
        sites["hanging"].stop_pings(0)
        for site in sites.values():
            site.close()
        hub.close()
        hanging.close()
    return figures


def _log_lines(path: Path, start: int) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8", errors="replace") as log:
        for line in log.readlines()[start:]:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def daemon_samples(root: Path, args: argparse.Namespace) -> list[float]:
    hub = RecordingHub()
    site = make_site(root / "daemon", hub.url, args.articles)
    log_path = root / "daemon.log"
    env = {
        **os.environ,
        "FEEDER_CONFIG": str(root / "daemon" / "feeder.toml"),
        "FEEDER_SCHEDULE_POLL_INTERVAL": "0.1",
    }
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [FEEDER, "run", "--no-serve", "--log-format", "json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    delays = []
    try:
        builds = 0
        deadline = time.monotonic() + 60
        while builds == 0:  # the start-up build
            builds = sum(1 for r in _log_lines(log_path, 0) if r.get("event") == "build")
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise RuntimeError(f"the daemon did not build; see {log_path}")
            time.sleep(0.05)
        for n in range(args.samples):
            seen = len(hub.arrivals)
            site.add_article(f"Daemon sample {n}", content="<p>New.</p>", tags=["tag0"])
            record = None
            deadline = time.monotonic() + 30
            while record is None:
                found = [r for r in _log_lines(log_path, 0) if r.get("event") == "build"]
                if len(found) > builds and found[-1].get("written"):
                    record = found[-1]
                elif time.monotonic() > deadline:
                    raise RuntimeError(f"no build for sample {n}; see {log_path}")
                else:
                    time.sleep(0.02)
            builds = len(found)
            first = hub.wait_for(seen + 1)[seen][1]
            built = datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00"))
            delays.append(first - built.timestamp())
            hub.wait_for(seen + 6)  # the site's feeds and tag0's, before the next sample
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        site.close()
        hub.close()
    return delays


def row(name: str, values: list[float]) -> str:
    return f"{name:<34}{statistics.median(values) * 1000:9.2f}{max(values) * 1000:9.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100, help="articles in each site")
    parser.add_argument("--samples", type=int, default=20, help="builds timed")
    parser.add_argument("--keep", action="store_true", help="keep the temp sites")
    args = parser.parse_args()
    # The hanging hub's pings are given up on at the end, by design: not news here.
    logging.getLogger("feeder.websub").addHandler(logging.NullHandler())
    root = Path(tempfile.mkdtemp(prefix="feeder-bench-websub-"))
    try:
        figures = api_samples(root, args)
        daemon = daemon_samples(root, args)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"SQLite, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{args.articles} articles, {args.samples} samples"
    )
    print(f"{'':<34}{'median':>9}{'max':>9}   (ms)")
    print(row("Site.build() returned -> 1st ping", figures["first"]))
    print(row("Site.build() returned -> last ping", figures["last"]))
    print(row("  baseline: one bare POST", figures["bare"]))
    print(row("feeder run build logged -> 1st ping", daemon))
    print(row("Site.build(), no hub", figures["build none"]))
    print(row("Site.build(), recording hub", figures["build hub"]))
    print(row("Site.build(), hub never answers", figures["build hanging"]))
    ratio = statistics.median(figures["first"]) / statistics.median(figures["bare"])
    print(f"first ping / bare POST (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
