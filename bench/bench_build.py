"""Full builds beside Pelican: wall and CPU time, pages per second, peak memory, ticks.

    .venv/bin/python bench/bench_build.py [--sizes 1000,100000,1000000]
        [--backends sqlite,postgresql] [--runs 3] [--pelican VENV | --no-pelican]

In one run, on one machine:

- **Pelican** 4.12 builds the same 1,000 Markdown articles feeder imports (same
  titles, dates, tags, authors and text), ``--runs`` times, each into an empty
  output directory: ``pelican content -s pelicanconf.py`` as a process. Its
  virtualenv is made in the work directory (``pip install 'pelican==4.12.*'``)
  unless ``--pelican VENV`` names one; where neither works, it is skipped and
  says why. Pelican is never a dependency of feeder.
- For each backend (SQLite; PostgreSQL at ``--postgres-url``, in a schema of its
  own, dropped afterwards) and size, the articles are imported with
  ``feeder import`` (its rate is printed too), then:

  * **full build, first**: ``feeder build --full`` as a process into an empty
    output directory (the last one is set aside, not deleted, until the end),
    ``--runs`` times: wall time (process start to exit, like
    Pelican's), CPU time of the process and its worker processes, article pages
    per second (articles / wall), CPU per page, peak RSS of the build process
    (VmHWM) and of the process with its workers (sampled every 5 ms);
  * **full build, unchanged**: the same with every file already in place;
  * **same files, no render**: files of the names and sizes the build wrote,
    written by this process the way a build makes them durable (temp file, one
    syncfs, rename, each folder synced) with nothing read or rendered: the floor
    of a first build on this disk, in Python, and the first build's CPU beside it;
  * with ``--one-process``, **first, in one process**: a first build with
    ``build.processes = 0`` (no worker processes), for comparison;
  * **no-change tick**: the daemon's poll with nothing to do, median and p99,
    beside ``SELECT 1`` on the same engine;
  * **one-article tick**: an article is added and the daemon's build runs
    (incremental: its page, the feeds and pages that list it, the index).

- **durability**: a thousand 8 KB files written with an fsync per file and per
  directory (as every write was before batches) beside one batch made durable
  by an fsync pass or by syncfs, and three files written singly beside one
  batch of three.

Times are medians with [min–max] over the runs. Builds run as installed programs
do, with bytecode cached (``PYTHONDONTWRITEBYTECODE`` is dropped for them). Sizes of 100,000 and
1,000,000 articles take long to import (minutes, and about an hour for a
million on two CPUs) and need a few GB in the work directory; run them on a
quiet machine. ``PYTHONPATH=/other/checkout`` measures another feeder tree the
same way (the figures before a change), as far as its API allows.

On a virtual machine whose balloon device hands free memory back to the host
(virtio-balloon free page reporting: ``/sys/module/page_reporting``), the
system time of writing files depends on what was freed before: memory the
guest has not touched since boot, or freed by deleting files (their page
cache), is faulted in from the host again when it is next written. Writing
800 MB of 40 KB files took 2.2–2.5 s of system time on such a machine just
after boot or a big deletion, and 0.7–0.9 s once the page cache filled its
memory. That is why runs set their outputs aside instead of deleting them; for
figures to compare, run on a machine whose page cache is already full.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_daemon import tick_cost  # the daemon's tick beside SELECT 1, as measured there
from sqlalchemy import create_engine
from throwaway import postgres_schema

from feeder import Site
from feeder.publishing import files as feeder_files

PELICAN = "pelican==4.12.*"
_WORDS = [
    *("feed", "reader", "publish", "article", "archive", "update", "schedule", "content"),
    *("summary", "title", "subscriber", "network", "protocol", "syndication", "atom"),
    *("channel", "entry", "timestamp", "server", "cache", "header", "request", "response"),
    *("format", "markup", "paragraph", "sentence", "word", "the", "of", "and", "to", "a"),
]
_TAGS = [f"topic{n}" for n in range(50)]
_AUTHORS = [f"Author {n}" for n in range(10)]
START = datetime(2020, 1, 1, tzinfo=UTC)


# -- the corpus: the same articles for Pelican and feeder ------------------------------


@dataclass(frozen=True)
class Article:
    n: int
    title: str
    slug: str
    published: datetime
    tags: tuple[str, ...]
    author: str
    body: str  # Markdown


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def articles(count: int) -> Iterator[Article]:
    """``count`` Markdown articles of about 450 words: paragraphs, a heading, a list,
    links, emphasis and a code block. The same every time."""
    rng = random.Random(7)
    for n in range(count):
        body = "\n\n".join(
            [
                " ".join(_sentence(rng, 12) for _ in range(6)),
                f"## {_sentence(rng, 4)[:-1]}",
                " ".join(_sentence(rng, 14) for _ in range(5))
                + f" See [the archive](https://example.org/archive/{n}) and *the notes*.",
                "\n".join(f"- {_sentence(rng, 6)}" for _ in range(4)),
                f"```python\nprint({n})\n```",
                " ".join(_sentence(rng, 12) for _ in range(8)),
            ]
        )
        yield Article(
            n=n,
            title=f"Article {n}: {rng.choice(_WORDS)} and {rng.choice(_WORDS)}",
            slug=f"article-{n}",
            published=START + timedelta(minutes=n),
            tags=tuple(rng.sample(_TAGS, 2)),
            author=rng.choice(_AUTHORS),
            body=body,
        )


def write_jsonl(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for a in articles(count):
            record = {
                "title": a.title,
                "slug": a.slug,
                "published": a.published.isoformat(),
                "tags": list(a.tags),
                "author": a.author,
                "format": "md",
                "content": a.body,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_pelican_site(root: Path, count: int) -> None:
    content = root / "content"
    content.mkdir(parents=True)
    for a in articles(count):
        (content / f"{a.slug}.md").write_text(
            f"Title: {a.title}\nDate: {a.published:%Y-%m-%d %H:%M}\nTags: {', '.join(a.tags)}\n"
            f"Author: {a.author}\nSlug: {a.slug}\n\n{a.body}\n",
            encoding="utf-8",
        )
    (root / "pelicanconf.py").write_text(
        'AUTHOR = "Bench"\nSITENAME = "Bench"\nSITEURL = "https://example.org"\n'
        'PATH = "content"\nTIMEZONE = "UTC"\nDEFAULT_LANG = "en"\n'
        'FEED_ALL_RSS = "feeds/all.rss.xml"\nCACHE_CONTENT = False\n',
        encoding="utf-8",
    )


# -- measuring a process ---------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float  # the process and the children it waited for (worker processes)
    rss: float  # MB, the process's peak
    tree_rss: float  # MB, the peak of the process and its workers together (sampled)
    info: dict[str, Any]


def _tree_rss(pid: int) -> int:
    """kB resident in ``pid`` and its descendants now (Linux /proc; 0 elsewhere)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(
                    (int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0
                )
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except (OSError, ValueError):
            continue
    return total


# Runs inside the measured process: the command, then its own peak memory.
_WRAPPER = """
import json, resource, runpy, sys
kind, args = sys.argv[1], sys.argv[2:]
code = 0
try:
    if kind == "feeder":
        from feeder.cli import cli
        cli(args, prog_name="feeder")
    else:
        sys.argv = ["pelican", *args]
        from pelican import main
        main()
except SystemExit as exc:
    code = exc.code or 0
# VmHWM, not ru_maxrss: the latter counts the parent's memory from before exec().
try:
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("@@" + json.dumps({"rss": rss, "code": code}))
"""


class _Children:
    """CPU of the processes this one waited for, counted from the last mark."""

    def __init__(self) -> None:
        self.mark()

    def _total(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def mark(self) -> None:
        self._last = self._total()

    def since_mark(self) -> float:
        used = self._total() - self._last
        self.mark()
        return used


CHILDREN = _Children()


# As installed programs run: with their modules' bytecode cached (an environment that
# forbids writing it would make every start compile feeder from source, not Pelican).
_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def measure(python: str, kind: str, args: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a build as a process; its wall time, CPU (with its workers) and peak memory."""
    CHILDREN.mark()  # what this process did meanwhile (imports, say) is not counted
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            [python, "-c", _WRAPPER, kind, *args],
            stdout=out,
            stderr=err,
            env={**_ENV, **(env or {})},
        )
        peak = 0
        while child.poll() is None:
            peak = max(peak, _tree_rss(child.pid))
            time.sleep(0.005)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        process = subprocess.CompletedProcess(child.args, child.returncode, out.read(), err.read())
    # The kernel adds a process's waited-for workers to its own count when it exits.
    cpu = CHILDREN.since_mark()
    lines = process.stdout.decode(errors="replace").splitlines()
    tail = [line for line in lines if line.startswith("@@")]
    if process.returncode != 0 or not tail or json.loads(tail[-1][2:])["code"] not in (0, None):
        raise RuntimeError(f"{kind} {' '.join(args)} failed:\n{process.stderr.decode()[-2000:]}")
    stats = json.loads(tail[-1][2:])
    info: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        info = json.loads("\n".join(line for line in lines if not line.startswith("@@")))
    return Run(wall, cpu, stats["rss"] / 1024, max(peak, stats["rss"]) / 1024, info)


def spread(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """Median [min–max]."""
    med = statistics.median(values) * scale
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{min(values) * scale:.{digits}f}–{max(values) * scale:.{digits}f}]"


# -- Pelican ---------------------------------------------------------------------------


def pelican_python(args: argparse.Namespace, work: Path) -> tuple[str | None, str]:
    """The Python of a virtualenv with Pelican, and its version; or None and why not."""
    if args.no_pelican:
        return None, "--no-pelican"
    venv = Path(args.pelican) if args.pelican else work / "pelican-venv"
    python = venv / "bin" / "python"
    if not args.pelican and not python.exists():
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True
        )
        if made.returncode == 0:
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", PELICAN, "markdown"],
                capture_output=True,
                text=True,
            )
    probe = subprocess.run(
        [str(python), "-c", "import pelican, markdown; print(pelican.__version__)"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["not found"])[-1]
        return None, f"no Pelican in {venv} ({why}); pass --pelican VENV or install {PELICAN}"
    return str(python), probe.stdout.strip()


def set_aside(path: Path) -> None:
    """Move ``path`` out of the way, to be deleted after the measurements: deleting
    thousands of files right before a build makes ext4 allocate the build's inodes
    slowly (it avoids those freed in the last half minute), which no first build
    outside a benchmark meets."""
    if path.exists():
        trash = path.parent / "set-aside"
        trash.mkdir(exist_ok=True)
        path.rename(trash / uuid.uuid4().hex)


def empty_set_aside(root: Path) -> None:
    shutil.rmtree(root / "set-aside", ignore_errors=True)


def run_pelican(python: str, root: Path, runs: int) -> list[Run]:
    results = []
    for _ in range(runs):
        output = root / "output"
        set_aside(output)
        for cache in root.glob("cache*"):
            shutil.rmtree(cache, ignore_errors=True)
        results.append(
            measure(
                python,
                "pelican",
                [str(root / "content"), "-s", str(root / "pelicanconf.py"), "-o", str(output)],
            )
        )
    empty_set_aside(root)
    return results


# -- feeder ----------------------------------------------------------------------------


@contextlib.contextmanager
def database(backend: str, root: Path, postgres_url: str) -> Iterator[str]:
    """A database URL for a new site: a SQLite file, or a PostgreSQL schema of its own."""
    if backend == "sqlite":
        yield f"sqlite:///{root / 'feeder.db'}"
        return
    with postgres_schema(postgres_url) as url:
        yield url


def one_article_ticks(site: Site, count: int) -> tuple[list[float], int]:
    """Seconds of an incremental build after one new article, and the files it wrote."""
    seconds, written = [], 0
    for n in range(count):
        site.add_article(
            f"Fresh article {n}",
            content="<p>Just published, with a few words.</p>",
            tags=[_TAGS[n % len(_TAGS)]],
            author=_AUTHORS[n % len(_AUTHORS)],
        )
        started = time.perf_counter()
        report = site.build()
        seconds.append(time.perf_counter() - started)
        written = len(report.written)
    return seconds, written


def bench_feeder(
    backend: str, count: int, args: argparse.Namespace, work: Path, corpus: Path, pelican: float
) -> None:
    root = work / f"{backend}-{count}"
    shutil.rmtree(root, ignore_errors=True)
    with database(backend, root, args.postgres_url) as url:
        site = Site.init(root, title="Bench", base_url="https://example.org/", database_url=url)
        with site:
            started = time.perf_counter()
            imported = site.import_paths([corpus])
            loaded = time.perf_counter() - started
            assert imported.added == count, imported.summary()
            config = str(root / "feeder.toml")
            output = root / "public"
            build = ["-c", config, "--db", url, "build", "--full", "--json"]
            first, unchanged, alone, floor = [], [], [], []
            for _ in range(args.runs):
                set_aside(output)
                first.append(measure(sys.executable, "feeder", build))
                unchanged.append(measure(sys.executable, "feeder", build))
                copy = root / f"files-alone-{uuid.uuid4().hex[:8]}"
                floor.append(files_alone(output, copy))
                set_aside(copy)
                if args.one_process:
                    set_aside(output)
                    one = {"FEEDER_BUILD_PROCESSES": "0"}
                    alone.append(measure(sys.executable, "feeder", build, one))
                if count >= 1_000_000:
                    empty_set_aside(root)  # a million articles' pages take tens of GB
            empty_set_aside(root)
            (tick, tick_p99), (select, select_p99) = tick_cost(site, args.ticks)
            fresh, fresh_written = one_article_ticks(site, args.fresh)
    print(f"{backend}, {count:,} articles: import {loaded:.1f} s ({count / loaded:,.0f}/s)")
    rows = [("full build, first", first), ("full build, unchanged", unchanged)]
    if alone:
        rows.append(("first, in one process", alone))
    for label, runs in rows:
        walls = [r.wall for r in runs]
        cpus = [r.cpu for r in runs]
        rate = [count / r.wall for r in runs]
        inside = [r.info.get("seconds", 0.0) for r in runs]
        line = (
            f"  {label:22} wall {spread(walls)} s (build {spread(inside)} s), "
            f"CPU {spread(cpus)} s = {spread([c / count for c in cpus], 1e6, 0)} µs/page, "
            f"wall/CPU {spread([w / c for w, c in zip(walls, cpus, strict=True)])}, "
            f"{spread(rate, digits=0)} pages/s"
        )
        if pelican and "first" in label:
            line += f" = {statistics.median(rate) / pelican:.1f}× Pelican"
        line += (
            f", peak RSS {spread([r.rss for r in runs], digits=0)} MB"
            f" (with workers {spread([r.tree_rss for r in runs], digits=0)} MB)"
        )
        written = runs[0].info.get("written_count", len(runs[0].info.get("written", ())))
        print(line + f", {written:,} files written")
    walls, cpus = [w for w, _ in floor], [c for _, c in floor]
    print(
        f"  {'same files, no render':22} wall {spread(walls)} s, CPU {spread(cpus)} s = "
        f"{spread([c / count for c in cpus], 1e6, 0)} µs/page: first build's CPU is "
        f"{statistics.median(r.cpu for r in first) / statistics.median(cpus):.1f}× this"
    )
    print(
        f"  {'no-change tick':22} median {tick:,.0f} µs, p99 {tick_p99:,.0f} µs "
        f"(SELECT 1: median {select:,.0f} µs, p99 {select_p99:,.0f} µs)"
    )
    print(
        f"  {'one-article tick':22} {spread(fresh, 1000, 1)} ms, {fresh_written} files written",
        flush=True,
    )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


# -- the floor: the same files, nothing rendered ----------------------------------------


def files_alone(source: Path, target: Path) -> tuple[float, float]:
    """Wall and CPU seconds to write files of the names and sizes under ``source`` into
    ``target`` the way a full build makes them durable (each into a temp file, one
    syncfs, each renamed into place, each folder synced), with nothing read or
    rendered: what a first full build cannot go below on this disk, in Python."""
    files = []
    for folder, _dirs, names in os.walk(source):
        relative = Path(folder).relative_to(source)
        files += [(relative / name, os.stat(os.path.join(folder, name)).st_size) for name in names]
    blob = memoryview(bytes(max(size for _, size in files)))
    started, cpu = time.perf_counter(), time.process_time()
    folders = sorted({str(target / relative.parent) for relative, _ in files})
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    renames = []
    for relative, size in files:
        path = str(target / relative)
        temp = f"{path}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, blob[:size])
        finally:
            os.close(fd)
        renames.append((temp, path))
    # Made durable by the calls a build makes (feeder.publishing.files).
    if feeder_files._SYNCFS is not None:
        feeder_files._syncfs(str(target))
    else:
        os.sync()
    for temp, path in renames:
        os.replace(temp, path)
    for folder in folders:
        feeder_files._fsync_path(folder)
    return time.perf_counter() - started, time.process_time() - cpu


# -- durability ------------------------------------------------------------------------


def bench_durability(work: Path, runs: int) -> None:
    try:
        from feeder.publishing.files import SYNCFS_FROM, FileBatch, write_if_changed
    except ImportError:
        print("durability: this feeder has no FileBatch; skipped")
        return
    data = b"x" * 8192
    figures: dict[str, list[float]] = {}

    def timed(label: str, count: int, write: Callable[[Path, int], None]) -> None:
        directory = work / f"durability-{uuid.uuid4().hex[:8]}"
        directory.mkdir()
        started = time.perf_counter()
        write(directory, count)
        figures.setdefault(label, []).append(time.perf_counter() - started)
        shutil.rmtree(directory)

    def single(directory: Path, count: int) -> None:
        for n in range(count):
            write_if_changed(directory / f"{n}.html", data)

    def batch(sync: str) -> Callable[[Path, int], None]:
        def write(directory: Path, count: int) -> None:
            with FileBatch(sync=sync) as files:  # type: ignore[arg-type]
                for n in range(count):
                    files.write(directory / f"{n}.html", data)

        return write

    ways = [("fsync", "fsync pass")]
    if sys.platform.startswith("linux"):
        ways.append(("syncfs", "one syncfs"))
    for _ in range(runs):
        timed("1,000 files, an fsync per file and directory (before)", 1000, single)
        for sync, label in ways:
            timed(f"1,000 files, one batch, {label}", 1000, batch(sync))
        timed("3 files, written one by one", 3, single)
        timed("3 files, one batch (auto)", 3, batch("auto"))
    print(f"durability, 8 KB files in {work} (syncfs from {SYNCFS_FROM} files on):")
    for label, seconds in figures.items():
        print(f"  {label:55} {spread(seconds, 1000, 1)} ms")


# -- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000,1000000", help="article counts")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=3, help="builds per measurement")
    parser.add_argument("--ticks", type=int, default=2000, help="no-change ticks timed")
    parser.add_argument("--fresh", type=int, default=10, help="one-article ticks timed")
    parser.add_argument("--pelican", help="a virtualenv with pelican 4.12 installed")
    parser.add_argument("--no-pelican", action="store_true", help="skip Pelican")
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="also time first builds without worker processes (build.processes = 0)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FEEDER_TEST_POSTGRES_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument("--workdir", help="where sites are made (default: a temp directory)")
    parser.add_argument("--keep", action="store_true", help="keep the sites")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    backends = [name for name in args.backends.split(",") if name]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="feeder-bench-build-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, load average {os.getloadavg()[0]:.1f}, work directory {work}"
    )
    try:
        if "postgresql" in backends:
            try:
                create_engine(args.postgres_url).connect().close()
            except Exception as exc:  # no server: say so and go on with SQLite
                print(f"PostgreSQL skipped: {args.postgres_url} does not answer ({exc})")
                backends.remove("postgresql")
        pelican_rate = 0.0
        python, version = pelican_python(args, work)
        if python is None:
            print(f"Pelican skipped: {version}")
        else:
            site = work / "pelican"
            shutil.rmtree(site, ignore_errors=True)
            write_pelican_site(site, 1000)
            runs = run_pelican(python, site, args.runs)
            rates = [1000 / r.wall for r in runs]
            pelican_rate = statistics.median(rates)
            files = sum(1 for p in (site / "output").rglob("*") if p.is_file())
            print(
                f"Pelican {version}, 1,000 articles: wall {spread([r.wall for r in runs])} s, "
                f"CPU {spread([r.cpu for r in runs])} s, {spread(rates, digits=0)} pages/s, "
                f"peak RSS {spread([r.rss for r in runs], digits=0)} MB, {files:,} files"
            )
        for count in sizes:
            corpus = work / f"corpus-{count}.jsonl"
            if not corpus.exists():
                write_jsonl(corpus, count)
            for backend in backends:
                bench_feeder(
                    backend, count, args, work, corpus, pelican_rate if count == 1000 else 0.0
                )
        bench_durability(work, args.runs)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
