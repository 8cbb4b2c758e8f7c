"""Writing the served directory: atomic replacement, untouched when unchanged, clear errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feeder import PublishError
from feeder.publishing.files import TEMP_SUFFIX, is_temp, remove, sweep_temp, write_if_changed


def temp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*") if is_temp(p.name)]


def test_a_new_file_is_written_whole_and_no_temp_file_is_left(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "rss.xml"
    assert write_if_changed(target, b"<rss/>") is True
    assert target.read_bytes() == b"<rss/>"
    assert temp_files(tmp_path) == []
    assert oct(target.stat().st_mode & 0o777) != "0o600"  # readable by a web server


def test_an_unchanged_file_is_not_touched(tmp_path: Path) -> None:
    target = tmp_path / "atom.xml"
    write_if_changed(target, b"same bytes")
    before = target.stat()
    assert write_if_changed(target, b"same bytes") is False
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_ctime_ns,
    )


def test_a_changed_file_is_replaced_by_rename(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    write_if_changed(target, b"old")
    held = target.open("rb")  # a reader that opened the old file keeps the old bytes
    try:
        old_inode = target.stat().st_ino
        # Same size, different bytes: the size shortcut must not skip the write.
        assert write_if_changed(target, b"new") is True
        assert target.read_bytes() == b"new"
        assert target.stat().st_ino != old_inode
        assert held.read() == b"old"
    finally:
        held.close()
    assert temp_files(tmp_path) == []


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "big.xml"
    versions = [bytes([65 + i]) * 300_000 for i in range(4)]
    write_if_changed(target, versions[0])
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(target.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _round in range(5):
            for data in versions:
                write_if_changed(target, data)
    finally:
        stop.set()
        reader.join()
    assert seen <= set(versions)


def test_sweep_removes_only_stale_temp_files(tmp_path: Path) -> None:
    (tmp_path / "articles").mkdir()
    stale = tmp_path / "articles" / f".a.html.dead{TEMP_SUFFIX}"
    fresh = tmp_path / f".rss.xml.live{TEMP_SUFFIX}"
    served = tmp_path / "notes.tmp"  # not hidden: not ours
    for path in (stale, fresh, served):
        path.write_bytes(b"x")
    hour_ago = time.time() - 7200
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(served, (hour_ago, hour_ago))
    assert sweep_temp(tmp_path) == 1
    assert not stale.exists()
    assert fresh.exists()  # may belong to a writer that is running right now
    assert served.exists()
    assert sweep_temp(tmp_path / "missing") == 0


def test_remove_reports_whether_anything_was_there(tmp_path: Path) -> None:
    target = tmp_path / "gone.html"
    target.write_bytes(b"x")
    assert remove(target) is True
    assert remove(target) is False


def test_an_unwritable_directory_is_a_publish_error_naming_the_path(tmp_path: Path) -> None:
    # Root can write anywhere, so use a path that cannot be a directory at all.
    blocker = tmp_path / "public"
    blocker.write_bytes(b"a file where the output directory should be")
    target = blocker / "rss.xml"
    with pytest.raises(PublishError) as caught:
        write_if_changed(target, b"<rss/>")
    message = str(caught.value)
    assert str(target) in message
    assert "cannot be written" in message and "writable" in message
    assert "\n" not in message
    assert isinstance(caught.value, OSError)
    assert caught.value.exit_code != 0
    assert temp_files(tmp_path) == []


def test_a_directory_in_the_way_is_a_publish_error(tmp_path: Path) -> None:
    target = tmp_path / "rss.xml"
    target.mkdir()
    with pytest.raises(PublishError, match=r"rss\.xml"):
        write_if_changed(target, b"<rss/>")
    assert temp_files(tmp_path) == []


UNPRIVILEGED_WRITE = """
import os, sys
from pathlib import Path
from feeder import PublishError
from feeder.publishing.files import write_if_changed
os.setgid(65534)
os.setuid(65534)
try:
    write_if_changed(Path(sys.argv[1]) / "rss.xml", b"x")
except PublishError as exc:
    print(exc)
    sys.exit(3)
"""


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A directory that an unprivileged user can reach (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="feeder-publish-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_a_read_only_directory_is_a_publish_error(reachable_dir: Path) -> None:
    public = reachable_dir / "public"
    public.mkdir()
    public.chmod(0o555)
    if os.geteuid() == 0:
        # Root ignores permissions: try as nobody, the way a web server user would.
        done = subprocess.run(
            [sys.executable, "-c", UNPRIVILEGED_WRITE, str(public)],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert done.returncode == 3, done.stderr
        message = done.stdout.strip()
    else:
        with pytest.raises(PublishError) as caught:
            write_if_changed(public / "rss.xml", b"x")
        message = str(caught.value)
    public.chmod(0o755)
    assert message.startswith(str(public / "rss.xml"))
    assert "cannot be written" in message and "Permission denied" in message
    assert "\n" not in message
    assert list(public.iterdir()) == []
