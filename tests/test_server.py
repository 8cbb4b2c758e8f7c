"""The HTTP server for the output directory, over real HTTP to uvicorn on a free port."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from feeder.config import Config
from feeder.errors import ConfigError
from feeder.publishing.files import write_if_changed
from feeder.server import OutputFiles, Server, accepts_gzip

RSS = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n<rss version=\"2.0\"><channel><title>T</title>"
    + b"<item><title>An entry with a long enough body to be worth compressing</title></item>" * 8
    + b"</channel></rss>\n"
)
ATOM = b"<?xml version='1.0' encoding='UTF-8'?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"/>\n"
INDEX = b"<!DOCTYPE html>\n<title>Index</title>\n" + b"<p>Index page text.</p>\n" * 20
PAGE = b"<!DOCTYPE html>\n<title>Page</title>\n"
SECRET = b"database password: hunter2\n"


@pytest.fixture
def output(tmp_path: Path) -> Path:
    public = tmp_path / "public"
    (public / "articles").mkdir(parents=True)
    (public / "rss.xml").write_bytes(RSS)
    (public / "atom.xml").write_bytes(ATOM)
    (public / "index.html").write_bytes(INDEX)
    (public / "articles" / "hello.html").write_bytes(PAGE)
    # What must never be served: an in-flight temp file, dotfiles, anything outside.
    (public / ".rss.xml.1a2b3c4d.tmp").write_bytes(RSS[:50])
    (public / ".htpasswd").write_bytes(SECRET)
    (public / "articles" / ".draft.html").write_bytes(SECRET)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (public / "articles" / "escape.html").symlink_to(tmp_path / "secret.txt")
    # Editor and backup files, and anything else that is not a published type.
    for name in ("rss.xml~", "index.html.bak", "articles/hello.html.orig", "#index.html#"):
        (public / name).write_bytes(SECRET)
    (public / "notes.swp").write_bytes(SECRET)
    (public / "feeder.toml").write_bytes(SECRET)
    return public


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    empty = tmp_path_factory.mktemp("empty")
    started = Server(OutputFiles(empty), "127.0.0.1", 0)
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def server(running: Server, output: Path) -> Server:
    """The module's server, pointed at this test's output directory."""
    running.files.configure(output)
    return running


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    # No Accept-Encoding unless a test asks: httpx would otherwise always offer gzip.
    with httpx.Client(base_url=server.url(), headers={"Accept-Encoding": "identity"}) as opened:
        yield opened


def raw_get(server: Server, target: str) -> tuple[int, bytes]:
    """Send ``target`` exactly as written (httpx would normalise the dots away)."""
    host, port = server.address
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    ("path", "media_type", "body"),
    [
        ("/rss.xml", "application/rss+xml", RSS),
        ("/atom.xml", "application/atom+xml", ATOM),
        ("/", "text/html", INDEX),
        ("/articles/hello.html", "text/html", PAGE),
    ],
)
def test_files_are_served_with_their_media_types(
    client: httpx.Client, path: str, media_type: str, body: bytes
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.content == body


def test_conditional_get_is_304_until_the_file_changes(client: httpx.Client, output: Path) -> None:
    first = client.get("/rss.xml")
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    again = client.get("/rss.xml", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    by_date = client.get("/rss.xml", headers={"If-Modified-Since": modified})
    assert by_date.status_code == 304

    changed = RSS.replace(b"<title>T</title>", b"<title>T2</title>")
    write_if_changed(output / "rss.xml", changed)
    after = client.get("/rss.xml", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.content == changed
    assert after.headers["etag"] != etag


def test_etag_follows_the_bytes_not_the_file(client: httpx.Client, output: Path) -> None:
    etag = client.get("/atom.xml").headers["etag"]
    # A full rebuild may replace a file with identical bytes (a new inode and mtime).
    temp = output / ".atom.xml.00000000.tmp"
    temp.write_bytes(ATOM)
    os.replace(temp, output / "atom.xml")
    assert client.get("/atom.xml", headers={"If-None-Match": etag}).status_code == 304


def test_head_sends_the_headers_of_get_without_a_body(client: httpx.Client) -> None:
    get = client.get("/rss.xml")
    head = client.head("/rss.xml")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(RSS))
    for name in ("etag", "last-modified", "content-type"):
        assert head.headers[name] == get.headers[name]


def test_gzip_for_clients_that_accept_it_with_its_own_etag(client: httpx.Client) -> None:
    plain = client.get("/rss.xml")
    with client.stream("GET", "/rss.xml", headers={"Accept-Encoding": "gzip"}) as zipped:
        raw = b"".join(zipped.iter_raw())
    assert zipped.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in zipped.headers["vary"].lower()
    assert gzip.decompress(raw) == RSS
    assert int(zipped.headers["content-length"]) == len(raw) < len(RSS)
    # Different bytes, different representation: a different ETag.
    assert zipped.headers["etag"] != plain.headers["etag"]

    revalidated = client.get(
        "/rss.xml", headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]}
    )
    assert revalidated.status_code == 304
    refused = client.get("/rss.xml", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    assert refused.content == RSS


@pytest.mark.parametrize(
    "path",
    [
        "/.rss.xml.1a2b3c4d.tmp",
        "/.htpasswd",
        "/articles/.draft.html",
        "/articles/",
        "/articles",
        "/articles/escape.html",
        "/missing.xml",
        "/rss.xml~",
        "/index.html.bak",
        "/articles/hello.html.orig",
        "/%23index.html%23",
        "/notes.swp",
        "/feeder.toml",
    ],
)
def test_hidden_files_listings_and_escapes_are_not_found(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert SECRET not in response.content


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/articles/../../secret.txt",
        "/articles/%2E%2E/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "//etc/passwd",
    ],
)
def test_paths_out_of_the_directory_are_refused(server: Server, target: str) -> None:
    status, body = raw_get(server, target)
    assert status in (400, 404)
    assert SECRET not in body
    assert b"root:" not in body


def test_only_get_and_head_are_allowed(client: httpx.Client, output: Path) -> None:
    response = client.post("/rss.xml", content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert client.delete("/rss.xml").status_code == 405
    assert (output / "rss.xml").read_bytes() == RSS


def test_before_the_first_build_every_path_is_not_found(tmp_path: Path) -> None:
    server = Server(OutputFiles(tmp_path / "not-built-yet"), "127.0.0.1", 0)
    server.start()
    try:
        assert httpx.get(server.url("rss.xml")).status_code == 404
        assert httpx.get(server.url()).status_code == 404
    finally:
        server.stop()


def test_a_busy_port_is_a_one_line_error(output: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(OutputFiles(output), "127.0.0.1", port)
        with pytest.raises(ConfigError, match=rf"server.port: .*127.0.0.1:{port}.*--port"):
            server.start()


def test_the_default_address_is_loopback(output: Path) -> None:
    server = Server(OutputFiles(output), Config().server.host, 0)
    server.start()
    try:
        assert server.address[0] == "127.0.0.1"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("*;q=0", False),
        ("identity", False),
        ("br", False),
        ("", False),
    ],
)
def test_accept_encoding_is_read_with_its_qualities(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


@pytest.mark.parametrize(
    "date",
    [
        "Sat, 01 Jan 99999 00:00:00 GMT",
        "Sat, 01 Jan 0000 00:00:00 GMT",
        "garbage",
        "Mon, 99 Foo 2026 99:99:99 GMT",
        "",
    ],
)
def test_an_unreadable_if_modified_since_is_ignored(client: httpx.Client, date: str) -> None:
    response = client.get("/rss.xml", headers={"If-Modified-Since": date})
    assert response.status_code == 200
    assert response.content == RSS


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("tags/python/rss.xml", "application/rss+xml; charset=utf-8"),
        ("authors/ann/atom.xml", "application/atom+xml; charset=utf-8"),
        ("tags/python/feed.json", "application/feed+json; charset=utf-8"),
        ("feeds.opml", "text/x-opml; charset=utf-8"),
        ("style.xsl", "text/xsl; charset=utf-8"),
        ("media/episode.mp3", "audio/mpeg"),
    ],
)
def test_media_types_follow_the_name_wherever_the_file_is(
    client: httpx.Client, output: Path, path: str, media_type: str
) -> None:
    (output / path).parent.mkdir(parents=True, exist_ok=True)
    (output / path).write_bytes(b"x" * 10)
    response = client.get("/" + path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


_SERVE = """
import sys, time
from pathlib import Path
from feeder.server import OutputFiles, Server
server = Server(OutputFiles(Path(sys.argv[1])), "127.0.0.1", 0)
server.start()
print(server.address[1], flush=True)
sys.stdin.read()
"""


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_big_files_are_streamed_and_memory_does_not_follow_file_sizes(output: Path) -> None:
    big = os.urandom(1024 * 1024) * 50  # 50 MiB each, as in a podcast's media folder
    for n in range(4):
        write_if_changed(output / f"big{n}.mp3", big)
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(output)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/rss.xml").status_code == 200
            before = _peak_rss_kib(process.pid)
            for n in range(4):
                with client.stream("GET", f"/big{n}.mp3") as response:
                    assert response.status_code == 200
                    assert response.headers["content-length"] == str(len(big))
                    digest = hashlib.sha256()
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                assert digest.digest() == hashlib.sha256(big).digest()
                again = client.get(
                    f"/big{n}.mp3", headers={"If-None-Match": response.headers["etag"]}
                )
                assert again.status_code == 304
            grown = _peak_rss_kib(process.pid) - before
        # 200 MiB went out; the server's peak grew by a few buffers, not by a file.
        assert grown < 20 * 1024, f"peak RSS grew by {grown} KiB"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


def test_the_cache_is_bounded_in_bytes(server: Server, output: Path) -> None:
    files = server.files
    body = os.urandom(4 * 1024 * 1024)  # cacheable (under the per-file limit)
    with httpx.Client(base_url=server.url(), headers={"Accept-Encoding": "identity"}) as client:
        for n in range(40):  # 160 MiB in all
            write_if_changed(output / f"blob{n}.png", body + bytes([n]))
            assert client.get(f"/blob{n}.png").status_code == 200
            assert files.cached_bytes <= 64 * 1024 * 1024


@pytest.fixture
def guarded(output: Path) -> Iterator[Server]:
    started = Server(OutputFiles(output), "127.0.0.1", 0, max_connections=8, request_timeout=1)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def _connect(server: Server, send: bytes = b"") -> socket.socket:
    sock = socket.create_connection(server.address, timeout=5)
    if send:
        sock.sendall(send)
    return sock


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        while data := sock.recv(65536):
            if b"HTTP/1.1 200" in data:
                return False
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def test_idle_and_half_sent_connections_are_closed_after_the_request_timeout(
    guarded: Server,
) -> None:
    idle = _connect(guarded)
    slow = _connect(guarded, b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n")  # headers never end
    trickle = _connect(guarded, b"GET /rss.xml HTTP/1.1\r\n")
    try:
        for _ in range(4):  # a byte now and then does not buy more time
            time.sleep(0.3)
            trickle.sendall(b"X")
        for sock in (idle, slow, trickle):
            assert _closed_by_server(sock, within=3.0)
        assert guarded.stats is not None and guarded.stats.totals["timed_out"] >= 3
    finally:
        for sock in (idle, slow, trickle):
            sock.close()


def test_a_slow_request_body_is_cut_off_too(guarded: Server) -> None:
    sock = _connect(guarded, b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
    try:
        data = b""
        sock.settimeout(3.0)
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pytest.fail("the server kept a connection whose body never arrived")
        except OSError:
            pass
    finally:
        sock.close()


def test_well_behaved_clients_are_served_while_idle_connections_fill_the_cap(
    guarded: Server,
) -> None:
    held = [_connect(guarded) for _ in range(30)]  # far over max_connections=8
    try:
        with httpx.Client(base_url=guarded.url()) as client:
            for _ in range(10):
                assert client.get("/rss.xml", headers={"Connection": "close"}).status_code == 200
        assert guarded.stats is not None and guarded.stats.totals["evicted"] > 0
    finally:
        for sock in held:
            sock.close()


def test_a_keep_alive_client_between_requests_still_gets_answers(guarded: Server) -> None:
    with httpx.Client(base_url=guarded.url()) as client:
        for _ in range(3):
            assert client.get("/rss.xml").status_code == 200
            time.sleep(0.2)


def test_absurd_headers_are_refused_without_harm(server: Server) -> None:
    host, port = server.address
    for request in (
        b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n" + b"X-H: v\r\n" * 20_000 + b"\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 100,  # a TLS hello
    ):
        with socket.create_connection((host, port), timeout=5) as sock:
            try:
                sock.sendall(request)
                answer = sock.recv(100)
            except OSError:
                answer = b""
            assert not answer.startswith(b"HTTP/1.1 200")
    assert httpx.get(server.url("rss.xml")).status_code == 200


def _request(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < len(RSS):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_served_keep_alive_client_is_the_last_to_make_room(guarded: Server) -> None:
    keeper = _connect(guarded)
    try:
        assert _request(keeper).startswith(b"HTTP/1.1 200")
        held = [_connect(guarded) for _ in range(30)]  # strays that never send a request
        try:
            time.sleep(0.2)  # let the server accept them all (it evicts as they come)
            assert _request(keeper).startswith(b"HTTP/1.1 200")
        finally:
            for sock in held:
                sock.close()
    finally:
        keeper.close()


def test_what_the_guard_did_is_logged_in_one_line_even_at_the_end(
    output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server(OutputFiles(output), "127.0.0.1", 0, max_connections=4, request_timeout=1)
    server.start()
    with caplog.at_level(logging.WARNING, logger="feeder.http"):
        held = [_connect(server) for _ in range(40)]
        time.sleep(0.3)
        for sock in held:
            sock.close()
        server.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "feeder.http"]
    assert 1 <= len(lines) <= 2, lines  # the first at once, the rest when the server stops
    assert server.stats is not None
    evicted = server.stats.totals["evicted"]
    assert evicted >= 30
    told = sum(int(line.split(" and ")[1].split()[0]) for line in lines)
    assert told == evicted
