"""Feeds per tag and per author at scale: the first full build, and the tick after one article.

    .venv/bin/python bench/bench_feeds.py [--sizes 1000,100000] [--ticks 9]

For each size, a SQLite site with ``--tags`` tags and ``--authors`` authors is
loaded through the public import API (each article has one to three tags and an
author), then:

- **full first build**: ``feeder build`` in a process of its own: wall time, CPU
  time, files written and the process's peak RSS (``wait4``);
- **one-article tick**: ``--ticks`` times, add one article (two tags, one author)
  and run an incremental ``Site.build()``; files rewritten and time, median and
  range;
- **baseline**: rendering one 50-entry Atom feed of the same site (the entries
  read once, then rendered), timed between the ticks, in the same run.

Targets: a one-article tick under 50x the render of one 50-entry feed; the peak
RSS of a full build at the largest size within 1.5x that at the smallest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feeder import Draft, Site

FEEDER = str(Path(sys.executable).parent / "feeder")
START = datetime(2020, 1, 1, tzinfo=UTC)
PARAGRAPH = (
    "<p>Feeds are how readers follow a site without visiting it every day; each entry "
    "carries its title, its date and the text, and a reader shows what is new.</p>"
)


def drafts(count: int, tags: int, authors: int, offset: int = 0) -> Iterator[Draft]:
    for i in range(offset, offset + count):
        chosen = tuple(f"topic {(i * k) % tags}" for k in range(1, 2 + i % 3))
        yield Draft(
            origin=f"bench:{i}",
            title=f"Article {i}: notes on feeds",
            content=PARAGRAPH * (3 + i % 5),
            slug=f"article-{i}",
            author=f"Author {i % authors}",
            tags=tuple(dict.fromkeys(chosen)),
            published=START + timedelta(minutes=10 * i),
        )


def full_build(root: Path) -> dict[str, float]:
    """``feeder build`` in a child process: wall and CPU seconds, files, peak RSS in MB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [FEEDER, "-c", str(root / "feeder.toml"), "build", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"feeder build failed: {process.stderr.read().decode()[-2000:]}")
    report = json.loads(out)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "files": report["written_count"],
        "rss_mb": usage.ru_maxrss / 1024,
    }


def feed_render(site: Site) -> Callable[[], bytes]:
    """A call that renders the site's Atom feed of its newest 50 entries."""
    from feeder.publishing.build import _newest, _Writer
    from feeder.publishing.feeds import FORMATS, FeedDocument, channel_for, site_group
    from feeder.publishing.files import FileBatch

    config = site.config
    group = site_group(config)
    spec = next(s for s in group.specs if s.format is FORMATS["atom"])
    with site.storage.read() as reader:
        writer = _Writer(config.output_dir, FileBatch())  # only reads: nothing is written
        entries = _newest(reader, group.selection, config, site.now(), writer)
        created = reader.state().created_at
    assert len(entries) == config.max_items == 50, len(entries)

    def render() -> bytes:
        channel = channel_for(config, spec, entries, site_created=created, group=group)
        return spec.format.render(FeedDocument(channel, entries))

    return render


def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):9.1f}  ({min(values):.1f}–{max(values):.1f})"


def run(count: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    root = workdir / f"site-{count}"
    started = time.perf_counter()
    with Site.init(
        root,
        title="Bench",
        base_url="https://bench.example.org/",
        id_authority="bench.example.org",
        clock=lambda: START + timedelta(minutes=10 * (count + 1)),
    ) as site:
        report = site.import_drafts(drafts(count, args.tags, args.authors))
        assert not report.failures, report.failures[:3]
    loaded = time.perf_counter() - started
    build = full_build(root)
    print(
        f"{count:>9,} articles ({args.tags} tags, {args.authors} authors; loaded in "
        f"{loaded:.0f} s)\n"
        f"  full first build   {build['wall']:8.1f} s wall  {build['cpu']:7.1f} s CPU  "
        f"{build['files']:>9,.0f} files  peak RSS {build['rss_mb']:.0f} MB  "
        f"({build['files'] / build['wall']:,.0f} files/s)",
        flush=True,
    )
    ticks: list[float] = []
    written: list[float] = []
    renders: list[float] = []
    clock_at = [START + timedelta(minutes=10 * (count + 2))]
    with Site.open(root / "feeder.toml", clock=lambda: clock_at[0]) as site:
        render = feed_render(site)
        for _ in range(3):
            render()  # warm up
        for n in range(args.ticks):
            # Interleaved: a render of one feed, then a tick, then the render again.
            renders.append(timed(render, 5))
            clock_at[0] += timedelta(minutes=1)
            (draft,) = drafts(1, args.tags, args.authors, offset=count + n)
            site.add_article(
                draft.title or "",
                slug=draft.slug,
                content=draft.content,
                author="Author 3",
                tags=("topic 1", "topic 2"),
            )
            begun = time.perf_counter()
            tick = site.build()
            ticks.append((time.perf_counter() - begun) * 1000)
            written.append(len(tick.written))
            assert not tick.full and not tick.errors, tick.summary()
            renders.append(timed(render, 5))
    render_ms = statistics.median(renders)
    tick_ms = statistics.median(ticks)
    print(
        f"  one-article tick   {median_range(ticks)} ms, "
        f"{statistics.median(written):.0f} files rewritten\n"
        f"  one 50-entry feed  {median_range(renders)} ms to render (Atom)\n"
        f"  tick / feed render {tick_ms / render_ms:9.1f}x  (target < 50x)",
        flush=True,
    )
    return {"rss_mb": build["rss_mb"], "ratio": tick_ms / render_ms}


def timed(call: Callable[[], object], repeat: int) -> float:
    """Milliseconds per call: the median of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        begun = time.perf_counter()
        call()
        samples.append((time.perf_counter() - begun) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="article counts, comma-separated")
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--authors", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=9, help="one-article ticks per size")
    parser.add_argument("--keep", action="store_true", help="keep the temp sites")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; SQLite in {workdir}",
        flush=True,
    )
    try:
        results = {size: run(size, args, workdir) for size in sizes}
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if len(sizes) > 1:
        small, large = results[min(sizes)], results[max(sizes)]
        print(
            f"peak RSS of a full build, {max(sizes):,} vs {min(sizes):,} articles: "
            f"{large['rss_mb'] / small['rss_mb']:.2f}x (target <= 1.5x)"
        )


if __name__ == "__main__":
    main()
