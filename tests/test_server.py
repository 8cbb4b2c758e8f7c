"""The HTTP server for the output directory, over real HTTP to uvicorn on a free port."""

from __future__ import annotations

import gzip
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from feeder.config import Config
from feeder.errors import ConfigError
from feeder.publish import write_if_changed
from jobs.server import OutputFiles, Server, accepts_gzip, media_types

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
    return public


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    empty = tmp_path_factory.mktemp("empty")
    started = Server(OutputFiles(empty, {}), "127.0.0.1", 0)
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def server(running: Server, output: Path) -> Server:
    """The module's server, pointed at this test's output directory."""
    running.files.configure(output, media_types(Config()))
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
    server = Server(OutputFiles(tmp_path / "not-built-yet", {}), "127.0.0.1", 0)
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
        server = Server(OutputFiles(output, {}), "127.0.0.1", port)
        with pytest.raises(ConfigError, match=rf"server.port: .*127.0.0.1:{port}.*--port"):
            server.start()


def test_the_default_address_is_loopback(output: Path) -> None:
    server = Server(OutputFiles(output, {}), Config().server.host, 0)
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
