"""WebSub publishing against real HTTP hubs on 127.0.0.1 that record what they get.

A hub here is ``http.server`` in a thread: it records every request (path,
Content-Type, form) and answers as a test tells it to, one answer per request
(fail twice then succeed), by refusing, or by hanging until the test ends. Sites
are real (SQLite, and PostgreSQL where configured), feeds are read back with
feedparser, the CLI runs through CliRunner and a subprocess, the daemon as a
subprocess with real signals.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from click.testing import CliRunner

from feeder import Site
from feeder.cli import cli
from feeder.config import CONFIG_NAME, Config
from feeder.publishing.websub import PingPolicy, changed_topics
from feeder.server import OutputFiles, Server
from tests.conftest import FakeClock
from tests.feedcheck import parse_feed
from tests.test_daemon import FEEDER, SiteUnderTest, free_port, wait_for

# Retries within milliseconds, so that a test that fails twice takes no time.
FAST = PingPolicy(timeout=2.0, attempts=4, first_delay=0.01, max_delay=0.05)
SITE_FEEDS = ("rss.xml", "atom.xml", "feed.json")


@dataclass
class Received:
    at: float  # time.monotonic()
    path: str
    content_type: str
    form: list[tuple[str, str]]
    body: bytes


@dataclass
class Hub:
    """A WebSub hub that records each request and answers from a script."""

    #: One answer per request, in order: a status, or (status, headers, body).
    answers: list[Any] = field(default_factory=list)
    #: The answer once the script is used up.
    default: Any = 204
    #: Hold every request until ``release`` is set (or the test ends).
    hang: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}/hub"

    def topics(self) -> list[str]:
        with self.changed:
            return [dict(r.form)["hub.url"] for r in self.received]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"the hub got {len(self.received)} requests, not {count}")
                self.changed.wait(left)
            return list(self.received)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        with self.changed:
            given = self.answers.pop(0) if self.answers else self.default
        if isinstance(given, int):
            return given, {}, b""
        status, headers, body = given
        return int(status), dict(headers), bytes(body)


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real hubs do

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with hub.changed:
                hub.received.append(
                    Received(
                        time.monotonic(),
                        self.path,
                        self.headers.get("Content-Type", ""),
                        parse_qsl(body.decode("ascii"), keep_blank_values=True),
                        body,
                    )
                )
                hub.changed.notify_all()
            if hub.hang:
                hub.release.wait(60)
            status, headers, answer = hub.answer()
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the publisher gave up on this request

        def log_message(self, *_args: object) -> None:
            return None

    return Handler


@pytest.fixture
def make_hub() -> Iterator[Any]:
    started: list[Hub] = []

    def make(**settings: Any) -> Hub:
        hub = Hub(**settings)
        hub.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
        hub.server.daemon_threads = True
        threading.Thread(target=hub.server.serve_forever, daemon=True).start()
        started.append(hub)
        return hub

    yield make
    for hub in started:
        hub.release.set()
        assert hub.server is not None
        hub.server.shutdown()
        hub.server.server_close()


@pytest.fixture
def hub(make_hub: Any) -> Hub:
    hub: Hub = make_hub()
    return hub


_CLOCK = FakeClock()


def with_hubs(site: Site, *hubs: str, policy: PingPolicy = FAST, extra: str = "") -> Site:
    """``site`` reopened with ``hubs`` in its feeder.toml (and ``extra`` settings)."""
    path = site.config.root / CONFIG_NAME
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("websub_hub")]
    path.write_text(
        f"websub_hub = {json.dumps(list(hubs))}\n" + "\n".join(lines) + "\n" + extra,
        encoding="utf-8",
    )
    return Site.open(path, database_url=site.config.database_url, clock=_CLOCK, ping_policy=policy)


@pytest.fixture(autouse=True)
def _the_clock(clock: FakeClock) -> None:
    """Sites reopened by with_hubs share the test's clock (the fixtures' sites use it)."""
    global _CLOCK
    _CLOCK = clock


@pytest.fixture
def pinging(site: Site, hub: Hub) -> Iterator[Site]:
    """The test site (each backend) with ``hub`` as its hub."""
    with with_hubs(site, hub.url) as opened:
        yield opened


def feed_files(public: Path) -> list[str]:
    return sorted(
        str(path.relative_to(public))
        for path in public.rglob("*")
        if path.name in SITE_FEEDS and path.is_file()
    )


def invoke(site: Site, *args: str) -> Any:
    config = ["-c", str(site.config.root / CONFIG_NAME), "--db", site.config.database_url]
    return CliRunner().invoke(cli, [*config, *args])


# -- the rules --------------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = PingPolicy(first_delay=1.0, max_delay=60.0)
    rng = random.Random(7)
    for failures, backoff in [(1, 1), (2, 2), (3, 4), (4, 8), (6, 32), (7, 60), (30, 60)]:
        delays = [policy.delay(failures, rng) for _ in range(200)]
        assert all(backoff / 2 <= d <= backoff for d in delays), (failures, min(delays))
        assert max(delays) - min(delays) > backoff / 4  # jittered, not one fixed instant


def test_the_topics_are_the_public_urls_of_the_feeds_written() -> None:
    config = Config(base_url="https://example.org/blog/")
    written = [
        "articles/hello.html",
        "rss.xml",
        "index.html",
        "tags/news/atom.xml",
        "authors/bo/feed.json",
        "feeds.opml",
        "feed.xsl",
        "rss.xml",
        # Archive pages are fetched once by readers walking the history, never subscribed to.
        "archive/3/rss.xml",
        "tags/news/archive/12/atom.xml",
        # A tag named "archive" is a tag like any other.
        "tags/archive/rss.xml",
    ]
    assert changed_topics(config, written) == [
        "https://example.org/blog/rss.xml",
        "https://example.org/blog/tags/news/atom.xml",
        "https://example.org/blog/authors/bo/feed.json",
        "https://example.org/blog/tags/archive/rss.xml",
    ]


# -- discovery: the feeds and the server say where the hubs are ------------------------------


def test_every_feed_names_its_hubs_and_its_own_url(site: Site, make_hub: Any) -> None:
    first, second = make_hub(), make_hub()
    with with_hubs(site, first.url, second.url) as pinging:
        pinging.add_article("Hello", content="<p>x</p>", tags=["news"], author="Bo Writer")
        pinging.build()
        public = pinging.config.output_dir
        feeds = feed_files(public)
        assert len(feeds) == 9  # the site's, the tag's and the author's, in three formats
        for relative in feeds:
            own = pinging.config.url(relative)
            data = (public / relative).read_bytes()
            if relative.endswith(".json"):
                document = json.loads(data)
                assert document["hubs"] == [
                    {"type": "WebSub", "url": first.url},
                    {"type": "WebSub", "url": second.url},
                ]
                assert document["feed_url"] == own
                continue
            links = parse_feed(data).feed.links
            assert [link.href for link in links if link.rel == "hub"] == [first.url, second.url]
            # Exactly one self link, the exact URL the hubs are told about.
            assert [link.href for link in links if link.rel == "self"] == [own]
        pinging.wait_for_pings(10)
        for hub in (first, second):
            assert sorted(hub.topics()) == sorted(pinging.config.url(f) for f in feeds)


def test_adding_a_hub_rebuilds_every_feed_and_removing_it_restores_the_bytes(
    sqlite_site: Site, hub: Hub
) -> None:
    sqlite_site.add_article("Hello", content="<p>x</p>", tags=["news"])
    sqlite_site.build()
    public = sqlite_site.config.output_dir
    before = {name: (public / name).read_bytes() for name in feed_files(public)}
    with with_hubs(sqlite_site, hub.url) as pinging:
        report = pinging.build()
        assert report.full  # a setting that shapes every feed changed
        assert set(before) <= set(report.written)
        pinging.wait_for_pings(10)
    with with_hubs(sqlite_site) as plain:  # websub_hub = []
        assert plain.config.websub_hub == ()
        plain.build()
    assert {name: (public / name).read_bytes() for name in before} == before


def test_the_server_sends_link_headers_for_every_feed(sqlite_site: Site, hub: Hub) -> None:
    with with_hubs(sqlite_site, hub.url) as pinging:
        pinging.add_article("Hello", content="<p>x</p>", tags=["news"], author="Bo Writer")
        pinging.build()
        pinging.wait_for_pings(10)
        config = pinging.config
    files = OutputFiles(config.output_dir, hubs=config.websub_hub, base_url=config.base_url)
    server = Server(files, "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url(), headers={"Accept-Encoding": "gzip"}) as client:
            feeds = feed_files(config.output_dir)
            assert "tags/news/atom.xml" in feeds and "authors/bo-writer/feed.json" in feeds
            for relative in feeds:
                expected = f'<{hub.url}>; rel="hub", <{config.url(relative)}>; rel="self"'
                response = client.get(relative)
                assert response.status_code == 200
                assert response.headers["Link"] == expected
                assert client.head(relative).headers["Link"] == expected
                # A browser gets the readable page of a feed: the same topic all the same.
                page = client.get(relative, headers={"Accept": "text/html"})
                assert page.headers["Link"] == expected
                again = client.get(relative, headers={"If-None-Match": response.headers["ETag"]})
                assert again.status_code == 304 and again.headers["Link"] == expected
            for page_path in ("", "index.html", "tags/news/", "feeds.opml", "feed.xsl"):
                response = client.get(page_path)
                assert response.status_code == 200 and "Link" not in response.headers
        # The same files served for a site without hubs: no Link header at all.
        files.configure(config.output_dir)
        assert "Link" not in httpx.get(server.url("rss.xml")).headers
    finally:
        server.stop()


# -- pinging: exactly the feeds a build changed -----------------------------------------------


def test_exactly_the_feeds_a_build_changed_are_pinged(
    pinging: Site, hub: Hub, clock: FakeClock
) -> None:
    pinging.add_article("Python one", content="<p>1</p>", tags=["python"])
    pinging.add_article("Rust one", content="<p>2</p>", tags=["rust"])
    first = pinging.build()
    assert pinging.wait_for_pings(10).ok
    feeds = [f for f in first.written if f.rsplit("/", 1)[-1] in SITE_FEEDS]
    assert sorted(hub.topics()) == sorted(pinging.config.url(f) for f in feeds)
    for request in hub.received:
        assert request.path == "/hub"
        assert request.content_type == "application/x-www-form-urlencoded"
        assert [name for name, _value in request.form] == ["hub.mode", "hub.url"]
        assert dict(request.form)["hub.mode"] == "publish"

    hub.received.clear()
    clock.advance(minutes=1)
    pinging.edit_article("python-one", title="Python, edited")
    second = pinging.build()
    report = pinging.wait_for_pings(10)
    assert report.ok and report.hubs[0].delivered == 6
    base = pinging.config.base_url
    expected = [base + name for name in SITE_FEEDS] + [
        f"{base}tags/python/{name}" for name in SITE_FEEDS
    ]
    assert sorted(hub.topics()) == sorted(expected)  # not rust's, not a page
    assert {"index.html", "tags/python/index.html"} <= set(second.written)
    # The form carries the URL as the feeds write it, whatever its characters.
    assert hub.received[0].body == (
        b"hub.mode=publish&hub.url=https%3A%2F%2Fexample.org%2Fblog%2Frss.xml"
    )

    hub.received.clear()
    assert not pinging.build().written  # nothing changed: no ping
    assert pinging.wait_for_pings(10).ok
    assert hub.received == []


def test_a_hub_that_fails_twice_then_succeeds_gets_three_requests(
    site: Site, make_hub: Any
) -> None:
    hub: Hub = make_hub(answers=[503, (500, {}, b"try later")])
    policy = PingPolicy(timeout=2.0, attempts=5, first_delay=0.1, max_delay=1.0)
    one_feed = '[feeds]\nformats = ["atom"]\ntags = false\nauthors = false\n'
    with with_hubs(site, hub.url, policy=policy, extra=one_feed) as pinging:
        pinging.add_article("Hello", content="<p>x</p>")
        pinging.build()
        report = pinging.wait_for_pings(10)
        received = hub.wait_for(3)
        assert report.ok and report.hubs[0].delivered == 1
        assert len(received) == 3
        assert {dict(r.form)["hub.url"] for r in received} == {pinging.config.url("atom.xml")}
        # Exponential backoff with jitter: at least half of 0.1 s, then of 0.2 s.
        assert received[1].at - received[0].at >= 0.05
        assert received[2].at - received[1].at >= 0.1
        status = pinging.status().websub
    assert len(status) == 1 and status[0].hub == hub.url
    assert status[0].last_ok_topic == pinging.config.url("atom.xml")
    assert status[0].last_ok_at is not None
    assert status[0].last_error is None and status[0].owed == 0
    shown = invoke(pinging, "status")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    at = lines.index(f"websub hub:         {hub.url}")
    assert lines[at + 1 : at + 4] == [
        f"  last ping ok:     2026-11-26 12:00:00Z ({pinging.config.url('atom.xml')})",
        "  last failure:     -",
        "  pings owed:       0",
    ]


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ((400, {}, b"unknown topic\nmore"), "HTTP 400 Bad Request: unknown topic"),
        (403, "HTTP 403 Forbidden"),
        (
            (301, {"Location": "https://new.example/hub"}, b""),
            "moved to https://new.example/hub; set websub_hub to it",
        ),
    ],
    ids=["400", "403", "moved"],
)
def test_a_refusal_is_not_retried_and_status_shows_it(
    sqlite_site: Site, make_hub: Any, answer: Any, shown: str
) -> None:
    hub: Hub = make_hub(default=answer)
    with with_hubs(sqlite_site, hub.url) as pinging:
        pinging.add_article("Hello", content="<p>x</p>")
        pinging.build()
        report = pinging.wait_for_pings(10)
        assert report.done and not report.ok
        assert len(report.hubs[0].refused) == 3
        # One request each: a retried ping would have kept the wait going to the last attempt.
        assert len(hub.received) == 3
        text = invoke(pinging, "status").output
        data = json.loads(invoke(pinging, "status", "--json").output)
    assert shown in text
    (websub,) = data["websub"]
    assert websub["hub"] == hub.url and shown in websub["last_failure"]
    assert websub["owed"] == 0  # refused for good: nothing to send again
    assert websub["last_ok"] is None


def test_a_hanging_hub_delays_neither_the_build_nor_other_hubs(
    sqlite_site: Site, make_hub: Any
) -> None:
    hanging: Hub = make_hub(hang=True)
    working: Hub = make_hub()
    policy = PingPolicy()  # the real timeout: 5 s per request
    with with_hubs(sqlite_site, hanging.url, working.url, policy=policy) as pinging:
        pinging.add_article("Hello", content="<p>x</p>")
        started = time.monotonic()
        pinging.build()
        built = time.monotonic() - started
        hanging.wait_for(1)  # the ping is on its way, and stuck
        assert built < policy.timeout / 5
        assert len(working.wait_for(3)) == 3
        assert time.monotonic() - started < policy.timeout / 2
        stopped = time.monotonic()
        pings = pinging.stop_pings(0.1)  # what a script's close does after its wait
        assert time.monotonic() - stopped < 1.5
        by_hub = {hub.hub: hub for hub in pings.hubs}
        assert by_hub[working.url].ok and by_hub[working.url].delivered == 3
        assert by_hub[hanging.url].undelivered == 3
        (owed,) = [h.owed for h in pinging.status().websub if h.hub == hanging.url]
    assert owed == 3  # left to the next build


def test_pings_left_undelivered_are_sent_by_the_next_build(
    sqlite_site: Site, make_hub: Any
) -> None:
    hub: Hub = make_hub(default=503)
    policy = PingPolicy(timeout=2.0, attempts=3, first_delay=0.01, max_delay=0.05)
    with with_hubs(sqlite_site, hub.url, policy=policy) as pinging:
        pinging.add_article("Hello", content="<p>x</p>")
        pinging.build()
        report = pinging.wait_for_pings(10)
        assert report.done and not report.ok  # given up after three attempts each
        assert report.hubs[0].undelivered == 3
        assert report.hubs[0].error == "HTTP 503 Service Unavailable"
        assert len(hub.received) == 9
        (status,) = pinging.status().websub
        assert status.owed == 3 and status.last_error == "HTTP 503 Service Unavailable"
    hub.default = 204
    hub.received.clear()
    with with_hubs(sqlite_site, hub.url, policy=policy) as later:
        assert not later.build().written
        assert later.wait_for_pings(10).ok
        assert sorted(hub.topics()) == sorted(later.config.url(f) for f in SITE_FEEDS)
        (status,) = later.status().websub
    assert status.owed == 0 and status.last_error is None and status.last_ok_at is not None


def test_retry_after_is_honoured(sqlite_site: Site, make_hub: Any) -> None:
    hub: Hub = make_hub(answers=[(429, {"Retry-After": "1"}, b"slow down")])
    policy = PingPolicy(timeout=2.0, attempts=3, first_delay=0.01, max_delay=0.3)
    one_feed = '[feeds]\nformats = ["rss"]\ntags = false\nauthors = false\n'
    with with_hubs(sqlite_site, hub.url, policy=policy, extra=one_feed) as pinging:
        pinging.add_article("Hello", content="<p>x</p>")
        pinging.build()
        assert pinging.wait_for_pings(10).ok
    first, second = hub.received
    assert second.at - first.at >= 0.3  # Retry-After, capped at max_delay


def test_an_unreachable_hub_is_reported_and_owed(sqlite_site: Site) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/hub"  # nothing listens there
    with with_hubs(sqlite_site, nobody) as pinging:
        pinging.add_article("Hello", content="<p>x</p>")
    result = invoke(pinging, "build", "--ping-wait", "0.3")
    assert result.exit_code == 0, result.output  # the build itself went fine
    lines = [line for line in result.stderr.splitlines() if line]
    assert lines == [
        f"warning: websub: {nobody}: 3 pings not delivered (connection refused); "
        "the next build sends them again"
    ]
    data = json.loads(invoke(pinging, "status", "--json").output)
    assert data["websub"][0]["owed"] == 3
    assert data["websub"][0]["last_failure"] == "connection refused"


def test_build_json_says_what_the_hubs_made_of_it(sqlite_site: Site, hub: Hub) -> None:
    with with_hubs(sqlite_site, hub.url) as pinging:
        pinging.add_article("Hello", content="<p>x</p>")
    result = invoke(pinging, "build", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["websub"] == [
        {"hub": hub.url, "delivered": 3, "refused": [], "undelivered": 0, "error": None}
    ]
    assert result.stderr == ""


def test_close_waits_for_pings_on_their_way(sqlite_site: Site, make_hub: Any) -> None:
    hub: Hub = make_hub(hang=True)
    with with_hubs(sqlite_site, hub.url) as pinging:
        pinging.add_article("Hello", content="<p>x</p>")
        pinging.build()
        hub.wait_for(1)
        threading.Timer(0.2, hub.release.set).start()
    # Closing the site waited for the hub's answers and stored them.
    with with_hubs(sqlite_site, hub.url) as reopened:
        (status,) = reopened.status().websub
    assert status.owed == 0 and status.last_ok_at is not None
    assert len(hub.received) == 3


def test_a_site_without_hubs_pings_nothing_and_shows_no_websub(sqlite_site: Site) -> None:
    sqlite_site.add_article("Hello", content="<p>x</p>")
    sqlite_site.build()
    assert sqlite_site.wait_for_pings(0).hubs == ()
    assert sqlite_site.status().websub == ()
    text = invoke(sqlite_site, "status").output
    assert "websub" not in text
    assert "websub" not in json.loads(invoke(sqlite_site, "status", "--json").output)
    built = invoke(sqlite_site, "build", "--json")
    assert "websub" not in json.loads(built.stdout)


def test_a_bad_hub_url_is_one_line_naming_the_key(sqlite_site: Site) -> None:
    path = sqlite_site.config.root / CONFIG_NAME
    path.write_text('websub_hub = "hub.example"\n' + path.read_text(encoding="utf-8"))
    result = invoke(sqlite_site, "build")
    assert result.exit_code == 78
    assert result.stderr == (
        f"error: {path}: websub_hub: 'hub.example' is not an absolute http(s) URL; "
        "use e.g. 'https://pubsubhubbub.appspot.com/'\n"
    )


# -- processes: feeder build and feeder run ---------------------------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[SiteUnderTest]:
    root = tmp_path / "site"
    with Site.init(root, title="Live Site", base_url="https://example.org/live/"):
        pass
    env = {
        **os.environ,
        "FEEDER_CONFIG": str(root / "feeder.toml"),
        "FEEDER_SCHEDULE_POLL_INTERVAL": "0.2",
    }
    env.pop("FEEDER_DATABASE_URL", None)
    env.pop("FEEDER_WEBSUB_HUB", None)
    site = SiteUnderTest(root, env)
    yield site
    for daemon in site.daemons:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(5)


@pytest.mark.slow
def test_feeder_build_waits_for_a_hanging_hub_only_as_long_as_asked(
    live: SiteUnderTest, make_hub: Any
) -> None:
    hub: Hub = make_hub(hang=True)
    live.env["FEEDER_WEBSUB_HUB"] = hub.url
    live.feeder("add", "--title", "Hello")
    started = time.monotonic()
    done = subprocess.run(
        [FEEDER, "build", "--ping-wait", "1"],
        cwd=live.root,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert took < 4.5, took  # not the 5 s request timeout, let alone the retries
    assert done.stdout.startswith("full build: ")
    assert done.stderr == (
        f"warning: websub: {hub.url}: 3 pings not delivered (no answer yet); "
        "the next build sends them again\n"
    )
    assert live.status()["websub"][0]["owed"] == 3


@pytest.mark.slow
def test_the_daemon_pings_exactly_the_changed_feeds_and_serves_link_headers(
    live: SiteUnderTest, hub: Hub
) -> None:
    live.env["FEEDER_WEBSUB_HUB"] = hub.url
    daemon = live.start()
    base = "https://example.org/live/"
    hub.wait_for(3)  # the first build: the site's feeds
    assert sorted(hub.topics()) == sorted(base + name for name in SITE_FEEDS)
    live.feeder("add", "--title", "Hello", "--tag", "news", "--author", "Bo Writer")
    received = hub.wait_for(3 + 9)
    expected = [
        f"{base}{directory}{name}"
        for directory in ("", "tags/news/", "authors/bo-writer/")
        for name in SITE_FEEDS
    ]
    assert sorted(dict(r.form)["hub.url"] for r in received[3:]) == sorted(expected)
    response = httpx.get(daemon.url("tags/news/atom.xml"))
    assert response.headers["Link"] == (
        f'<{hub.url}>; rel="hub", <{base}tags/news/atom.xml>; rel="self"'
    )
    assert "Link" not in httpx.get(daemon.url("index.html")).headers
    wait_for("the pings to be stored", lambda: live.status()["websub"][0]["last_ok"])
    assert daemon.stop() == 0
    assert len(hub.received) == 12


@pytest.mark.slow
def test_a_hanging_hub_does_not_delay_the_daemons_stop(live: SiteUnderTest, make_hub: Any) -> None:
    hub: Hub = make_hub(hang=True)
    live.env["FEEDER_WEBSUB_HUB"] = hub.url
    daemon = live.start()
    hub.wait_for(1)  # the first build's ping hangs
    wait_for("the first build", lambda: (live.public / "index.html").exists())
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - started < 5
    assert "3 pings to " in daemon.log() and "not delivered" in daemon.log()
    assert live.status()["websub"][0]["owed"] == 3
