"""Worker processes: results in other processes, errors passed back, dead workers survived."""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from feeder import Site
from feeder._processes import BATCH_THRESHOLD, WorkerGone, Workers, rare_collections
from feeder.importing import importer
from feeder.importing.sources import drafts_from_paths

HERE = f"{__name__}:"


def scaled(batch: list[int], factor: int) -> tuple[int, list[int]]:
    """What the workers compute in these tests: their pid, and the batch times ``factor``."""
    return os.getpid(), [n * factor for n in batch]


def refuse(batch: list[int], _context: Any) -> None:
    raise ValueError(f"refused {batch}")


def test_workers_compute_in_other_processes_in_parallel() -> None:
    with Workers(HERE + "scaled", 3, count=2) as workers, ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(workers.run, [[n, n + 1] for n in range(20)]))
    assert [values for _, values in answers] == [[3 * n, 3 * n + 3] for n in range(20)]
    pids = {pid for pid, _ in answers}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def big_answer(size: int, _context: Any) -> tuple[int, bytes]:
    """An answer of ``size`` bytes in many small pieces, as a chunk of rendered pages is,
    and the page faults this worker has taken so far."""
    answer = [bytes([n % 256]) * 4000 for n in range(size // 4000)]
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt, b"".join(answer)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc settings")
def test_big_answers_reuse_the_workers_memory() -> None:
    # Pickling megabytes per answer: memory the worker keeps serves every next answer,
    # rather than being mapped from the kernel (a fault per 4 KB page) each time.
    with Workers(HERE + "big_answer", None, count=1) as workers:
        faults = [workers.run(8_000_000)[0] for _ in range(12)]
    later = faults[-1] - faults[4]  # 7 answers of 8 MB each, once warm
    assert later < 7 * 8_000_000 // 4096 // 4, faults


def test_an_error_in_a_worker_is_raised_in_the_caller_and_the_worker_goes_on() -> None:
    with Workers(HERE + "refuse", None, count=1) as workers:
        for _ in range(2):
            with pytest.raises(ValueError, match=r"refused \[1, 2\]"):
                workers.run([1, 2])


def test_a_dead_worker_is_reported_and_the_last_one_gone_never_hangs() -> None:
    workers = Workers(HERE + "scaled", 1, count=2)
    try:
        for process in workers._processes:
            process.kill()
            process.wait()
        for _ in range(4):  # two notice a dead worker, the rest find none left
            with pytest.raises(WorkerGone):
                workers.run([1])
    finally:
        workers.close()


def test_close_ends_every_worker() -> None:
    workers = Workers(HERE + "scaled", 1, count=2)
    assert workers.run([5])[1] == [5]
    workers.close()
    assert all(process.returncode == 0 for process in workers._processes)


def busy(_batch: Any, _context: Any) -> None:
    """A batch that takes far longer than any test: its worker is killed before it ends."""
    time.sleep(600)


KILLED_MID_BATCH = """
import sys, threading
from feeder._processes import Workers
workers = Workers("tests.test_workers:busy", None, count=2)
print(" ".join(str(p.pid) for p in workers._processes), flush=True)
threading.Thread(target=workers.run, args=([1],), daemon=True).start()
workers.run([2])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_caller_killed_in_the_middle_of_a_batch() -> None:
    caller = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_BATCH],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert caller.stdout is not None
    with caller.stdout:
        pids = [int(pid) for pid in caller.stdout.readline().split()]
    assert len(pids) == 2
    caller.kill()
    caller.wait(10)
    deadline = time.monotonic() + 10
    while not all(_stopped(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(_stopped(pid) for pid in pids), "a worker outlived the process that started it"


def _stopped(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet (it runs no more)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_workers_that_cannot_start_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with Workers(HERE + "scaled", 1, count=2) as workers, pytest.raises(WorkerGone):
        workers.run([1])


# -- in a bulk import ----------------------------------------------------------------


def _records(count: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [
        {
            "title": f"Post {n} ’quoted’",
            "tags": [f"tag {n % 7}"],
            "author": f"Author {n % 3}",
            "published": f"2026-0{1 + n % 9}-1{n % 10}T08:00:00Z",
            "content": f'<p>Body {n} <a href="rel/{n}">link</a><script>x()</script></p>',
        }
        for n in range(count)
    ]
    records[7] = {"title": ""}  # refused, wherever it is checked
    records[300]["format"] = "md"
    records[300]["content"] = "# Heading\n\nSome *Markdown*."
    return records


def _stored(site: Site) -> list[tuple[Any, ...]]:
    with site.storage.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT a.uid, a.slug, a.title, a.summary, a.content, au.name, "
                    "a.published_at, a.updated_at FROM articles a "
                    "LEFT JOIN authors au ON au.pk = a.author_pk ORDER BY a.slug"
                )
            )
        ]


@pytest.mark.parametrize("broken", [False, True], ids=["workers", "workers-fail-to-start"])
def test_a_bulk_import_checked_in_workers_stores_what_a_threaded_one_does(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: bool
) -> None:
    source = tmp_path / "bulk.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in _records(900)), encoding="utf-8")
    answered: list[int] = []  # batches a worker process checked
    run = Workers.run

    def counting_run(self: Workers, batch: Any) -> Any:
        result = run(self, batch)
        answered.append(len(batch))
        return result

    monkeypatch.setattr(Workers, "run", counting_run)
    reports = {}
    for processes in (0, 2):
        if processes and broken:
            monkeypatch.setattr(sys, "executable", "/nonexistent/python")
        with site.storage.engine.begin() as connection:
            for table in ("article_tags", "articles", "tags", "authors", "removals"):
                connection.execute(text(f"DELETE FROM {table}"))
        reports[processes] = importer.run(
            site.storage,
            site.config,
            drafts_from_paths([source]),
            now=site.now(),
            batch_size=100,
            processes=processes,
        )
        reports[processes, "stored"] = _stored(site)  # type: ignore[index]
    assert reports[0].added == reports[2].added == 899
    assert [str(e) for e in reports[0].failures] == [str(e) for e in reports[2].failures]
    assert reports[2].failures[0].args[0].startswith(f"{source}:8: title")
    assert reports[0, "stored"] == reports[2, "stored"]  # type: ignore[index]
    # All but the first batch went to the workers, unless they could not start.
    assert sum(answered) == (0 if broken else 800)


def _children(pid: int) -> set[int]:
    try:
        return {int(n) for n in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_ctrl_c_during_a_bulk_import_keeps_what_was_stored_and_stops_the_workers(
    sqlite_site: Site, tmp_path: Path
) -> None:
    total = 20_000
    source = tmp_path / "bulk.jsonl"
    source.write_text(
        "".join(
            json.dumps({"title": f"Post {n}", "content": f"<p>Body {n}.</p>" * 20}) + "\n"
            for n in range(total)
        ),
        encoding="utf-8",
    )
    config = str(sqlite_site.config.root / "feeder.toml")
    feeder = shutil.which("feeder", path=str(Path(sys.executable).parent)) or "feeder"
    command = [feeder, "-c", config, "import", str(source)]
    # Started as a shell starts it, with Ctrl-C heard: a SIGINT that this process (or an
    # earlier test in it) ignores would be inherited as ignored, and never interrupt it.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    # Interrupt once the workers run and a batch is stored: mid-import, as a user would.
    while time.monotonic() < deadline and process.poll() is None:
        workers |= _children(process.pid)
        if workers and sqlite_site.list_articles(limit=1):
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    stored = len(sqlite_site.list_articles())
    assert process.returncode == 130, (out, err)
    assert err.decode().splitlines() == [
        "error: import interrupted: articles stored so far are kept; "
        "run the same import again to finish it"
    ]
    assert 0 < stored < total
    assert workers and all(_gone(pid) for pid in workers)
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert (
        again.stdout.strip() == f"{total - stored} added, 0 updated, {stored} unchanged, 0 rejected"
    )


def test_a_batch_collects_garbage_rarely_and_then_as_before() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with rare_collections():
        assert gc.get_threshold()[0] == BATCH_THRESHOLD
        assert gc.get_freeze_count() > frozen  # what was loaded before is not walked again
        with rare_collections():  # a nested batch (or one in another thread)
            pass
        assert gc.get_threshold()[0] == BATCH_THRESHOLD  # the outer batch still runs
        # A cycle made during the batch is still collected, without anyone asking.
        cycle = _Node()
        cycle.next = cycle
        gone = weakref.ref(cycle)
        del cycle
        kept = [[n] for n in range(3 * BATCH_THRESHOLD)]
        assert gone() is None
        del kept
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


class _Node:
    next: object = None
