"""Writing the served directory: atomic replacement, untouched when unchanged, clear errors."""

from __future__ import annotations

import errno
import os
import random
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
from feeder.publishing.files import (
    TEMP_SUFFIX,
    FileBatch,
    is_temp,
    remove,
    sweep_temp,
    write_if_changed,
)


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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is Unix's")
def test_a_forked_process_names_its_temp_files_apart_from_its_parent(tmp_path: Path) -> None:
    from feeder.publishing import files

    page = str(tmp_path / "rss.xml")
    parent = files._temp_for(page)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its first temp name, to the parent
        os.write(writer, files._temp_for(page).encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    theirs = os.read(reader, 4096).decode()
    os.close(reader)
    ours = files._temp_for(page)
    assert is_temp(os.path.basename(theirs)) and is_temp(os.path.basename(ours))
    # The same count follows in both; the random part tells them apart.
    assert theirs.rsplit(".", 2)[1][:8] != ours.rsplit(".", 2)[1][:8]
    assert parent.rsplit(".", 2)[1][:8] == ours.rsplit(".", 2)[1][:8]


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


# -- batches: durable together, each file complete before it is served ----------------


def test_a_batch_writes_every_changed_file_and_leaves_unchanged_ones_alone(
    tmp_path: Path,
) -> None:
    (tmp_path / "same.html").write_bytes(b"kept")
    before = (tmp_path / "same.html").stat()
    outcomes: list[tuple[str, bool]] = []
    with FileBatch(files=7) as batch:  # several commits, most in the background
        batch.write(tmp_path / "same.html", b"kept", lambda c: outcomes.append(("same", c)))
        for n in range(50):
            batch.write(
                tmp_path / "articles" / f"{n}.html",
                b"page %d" % n,
                lambda c, n=n: outcomes.append((str(n), c)),
            )
    after = (tmp_path / "same.html").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert {p.name: p.read_bytes() for p in (tmp_path / "articles").iterdir()} == {
        f"{n}.html": b"page %d" % n for n in range(50)
    }
    assert outcomes == [("same", False)] + [(str(n), True) for n in range(50)]  # in order
    assert temp_files(tmp_path) == []


def test_folders_a_batch_makes_hold_its_last_write_of_each_path(tmp_path: Path) -> None:
    outcomes: list[tuple[str, bool]] = []
    page = tmp_path / "tags" / "news" / "archive" / "1" / "rss.xml"
    with FileBatch(files=3) as batch:  # the same path again, in a later commit and in one
        for n in range(5):
            batch.write(page, b"version %d" % n, lambda c, n=n: outcomes.append((str(n), c)))
        batch.write(page, b"version 4", lambda c: outcomes.append(("again", c)))
    assert page.read_bytes() == b"version 4"
    assert [name for name, _changed in outcomes] == ["0", "1", "2", "3", "4", "again"]
    assert temp_files(tmp_path) == []
    with FileBatch() as batch:  # the next build finds it as it should be
        batch.write(page, b"version 4", lambda c: outcomes.append(("next build", c)))
    assert outcomes[-1] == ("next build", False)


@pytest.mark.parametrize("sync", ["fsync", "syncfs"])
def test_each_way_of_syncing_gives_the_same_files(tmp_path: Path, sync: str) -> None:
    if sync == "syncfs" and not sys.platform.startswith("linux"):
        pytest.skip("syncfs() is Linux's")
    with FileBatch(sync=sync) as batch:  # type: ignore[arg-type]
        for n in range(20):
            batch.write(tmp_path / f"{n}.xml", b"<x/>" * n)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.xml" for n in range(20))
    assert temp_files(tmp_path) == []


def test_nothing_is_served_before_the_batch_is_committed(tmp_path: Path) -> None:
    with FileBatch() as batch:
        batch.write(tmp_path / "rss.xml", b"<rss/>")
        assert not (tmp_path / "rss.xml").exists()
        batch.flush()
        assert (tmp_path / "rss.xml").read_bytes() == b"<rss/>"
    assert temp_files(tmp_path) == []


def test_a_failure_between_sync_and_renames_serves_only_the_old_files(tmp_path: Path) -> None:
    old = {f"{n}.html": b"old %d</html>\n" % n for n in range(30)}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)

    def crash() -> None:
        raise RuntimeError("the power went out")

    with pytest.raises(RuntimeError, match="power"), FileBatch(after_sync=crash) as batch:
        for name in old:
            batch.write(tmp_path / name, b"new, longer bytes</html>\n")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old
    assert temp_files(tmp_path) == []


def test_a_failed_background_commit_stops_the_batch_and_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()  # a directory where a file should go: its rename fails
    (tmp_path / "taken" / "child").write_bytes(b"x")
    with pytest.raises(PublishError, match="taken"), FileBatch(files=2) as batch:
        batch.write(tmp_path / "a.html", b"a")
        batch.write(tmp_path / "taken", b"b")  # the second file: the commit starts
        for n in range(1000):
            batch.write(tmp_path / f"more-{n}.html", b"m")
    assert temp_files(tmp_path) == []


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from feeder.publishing.files import FileBatch

root, mode = Path(sys.argv[1]), sys.argv[2]
names = [f"page-{n}.html" for n in range(200)]


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


version = 0
while True:
    version += 1
    body = (b"version %d " % version) * (1 + version % 7) + b"</html>\\n"
    hook = die if mode == "between" and version == 3 else None
    with FileBatch(files=64, after_sync=hook) as batch:
        for name in names:
            batch.write(root / name, body)
    print(version, flush=True)
"""


def _whole_versions(root: Path) -> set[bytes]:
    found = set()
    for path in root.iterdir():
        if is_temp(path.name):
            continue
        data = path.read_bytes()
        assert data.endswith(b"</html>\n"), f"{path.name} is cut short"
        words = data.split(b" ")
        assert data == (words[0] + b" " + words[1] + b" ") * (data.count(b"version")) + (
            b"</html>\n"
        ), f"{path.name} mixes versions"
        found.add(words[1])
    return found


def test_killed_between_the_sync_and_the_renames_every_served_file_is_whole(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path), "between"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr
    assert done.stdout.split() == ["1", "2"]
    assert _whole_versions(tmp_path) == {b"2"}  # version 3 was durable, never renamed
    # Its first commit's 64 files (the next ones were still queued in memory): hidden,
    # then swept.
    assert len(temp_files(tmp_path)) == 64
    assert sweep_temp(tmp_path, older_than=0) == 64
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("seed", range(3))
def test_killed_at_random_points_every_served_file_is_whole(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path), "random"],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert writer.stdout is not None
    with writer.stdout:
        for _round in range(1 + rng.randrange(3)):
            writer.stdout.readline()  # a batch was committed: the files exist
        time.sleep(rng.uniform(0, 0.05))  # where the kill lands: the fault, not a wait
        writer.kill()
        writer.wait(10)
    assert _whole_versions(tmp_path)
    assert len([p for p in tmp_path.iterdir() if not is_temp(p.name)]) == 200


def test_a_system_that_forbids_syncfs_gets_an_fsync_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feeder.publishing import files

    if not files._syncfs_works:
        pytest.skip("no syncfs() here: every batch uses fsync already")
    refused: list[str] = []

    def forbidden(directory: str) -> None:  # what a seccomp sandbox answers
        refused.append(directory)
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(files, "_syncfs", forbidden)
    monkeypatch.setattr(files, "_syncfs_works", True)
    for round_ in range(2):
        with FileBatch() as batch:
            for n in range(files.SYNCFS_FROM):
                batch.write(tmp_path / f"{n}.html", b"round %d" % round_)
    assert len(refused) == 1  # asked once, then never again
    assert {p.read_bytes() for p in tmp_path.iterdir()} == {b"round 1"}
    assert temp_files(tmp_path) == []


def test_a_failed_sync_fails_the_batch_and_serves_the_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feeder.publishing import files

    (tmp_path / "a.html").write_bytes(b"old")

    def failing(path: Path | str, flags: int = os.O_RDONLY) -> None:  # the disk said EIO
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(files, "_fsync_path", failing)
    with pytest.raises(PublishError, match="cannot be written to disk"), FileBatch() as batch:
        batch.write(tmp_path / "a.html", b"new")
    assert (tmp_path / "a.html").read_bytes() == b"old"
    assert temp_files(tmp_path) == []
