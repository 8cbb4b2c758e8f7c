"""What tombstones cost a build: ticks of a site with many recent deletions, beside the same
site with tombstones switched off.

    .venv/bin/python bench/bench_tombstones.py [--sizes 1000,100000] [--deleted 1000] [--ticks 9]

For each size, two SQLite sites are loaded with the same articles (each with one to
three of ``--tags`` tags and one of ``--authors`` authors) and the same ``--deleted``
deletions, spread over the last week, then fully built: one with
``feeds.tombstone_days = 30`` (every deletion is a live tombstone), the baseline with
``feeds.tombstone_days = 0`` (a deletion leaves nothing, as before tombstones). Then,
interleaved, ``--ticks`` times on each:

- **one-article tick**: add one article (two tags, one author), incremental build;
- **one-deletion tick**: delete one article, incremental build;

and, once, the **expiry tick**: the clock moves past the expiry of the oldest
tombstones (those of one day), incremental build. Each figure is the median and
range in milliseconds, with files rewritten, and the ratio to the baseline.

Target: one-article ticks with tombstones within 1.3x of the baseline's (the same files
change; the tombstones are read on the way). A deletion tick does more by design: the Atom
feeds that announce the deletion are rewritten even when the article was too old to be in
them, so its ratio is printed beside the files each site rewrote, without a target.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench_feeds import START, drafts  # the same site shape as bench_feeds.py

from feeder import Site


class Clock:
    def __init__(self, value: datetime) -> None:
        self.value = value

    def __call__(self) -> datetime:
        return self.value


def load(root: Path, count: int, args: argparse.Namespace, days: int, clock: Clock) -> Site:
    """A built site of ``count`` articles, ``args.deleted`` of them deleted in the last week."""
    site = Site.init(
        root,
        title="Bench",
        base_url="https://bench.example.org/",
        id_authority="bench.example.org",
        clock=clock,
    )
    report = site.import_drafts(drafts(count, args.tags, args.authors))
    assert not report.failures, report.failures[:3]
    config = site.config
    site = Site(
        dataclasses.replace(config, feeds=dataclasses.replace(config.feeds, tombstone_days=days)),
        site.storage,
        clock,
    )
    step = timedelta(days=7) / max(args.deleted, 1)
    clock.value -= timedelta(days=7)
    # Every other article from the newest down: tags and authors lose some, keep others.
    for n in range(args.deleted):
        clock.value += step
        site.delete_article(f"article-{count - 1 - 2 * n}")
    site.build()
    return site


def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ms ({min(values):.1f}–{max(values):.1f})"


def tick(
    site: Site, change: str, n: int, args: argparse.Namespace, count: int
) -> tuple[float, int]:
    if change == "add":
        (draft,) = drafts(1, args.tags, args.authors, offset=count + n)
        site.add_article(
            draft.title or "", slug=draft.slug, content=draft.content,
            author="Author 3", tags=("topic 1", "topic 2"),
        )  # fmt: skip
    else:
        site.delete_article(f"article-{2 * n}")
    begun = time.perf_counter()
    report = site.build()
    elapsed = (time.perf_counter() - begun) * 1000
    assert not report.full and not report.errors, report.summary()
    return elapsed, len(report.written)


def run(count: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    # A week after the newest article: every deletion is of a published one.
    now = START + timedelta(minutes=10 * (count + 1), days=7)
    clocks = {"tombstones": Clock(now), "baseline": Clock(now)}
    started = time.perf_counter()
    sites = {
        "tombstones": load(workdir / f"t-{count}", count, args, 30, clocks["tombstones"]),
        "baseline": load(workdir / f"b-{count}", count, args, 0, clocks["baseline"]),
    }
    print(
        f"{count:>9,} articles, {args.deleted:,} deleted in the last week ({args.tags} tags, "
        f"{args.authors} authors; loaded and built in {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    ratios: dict[str, float] = {}
    try:
        for change in ("add", "delete"):
            times: dict[str, list[float]] = {name: [] for name in sites}
            files: dict[str, list[int]] = {name: [] for name in sites}
            for n in range(args.ticks):
                for name, site in sites.items():  # interleaved
                    clocks[name].value += timedelta(minutes=1)
                    elapsed, written = tick(site, change, n, args, count)
                    times[name].append(elapsed)
                    files[name].append(written)
            ratio = statistics.median(times["tombstones"]) / statistics.median(times["baseline"])
            ratios[change] = ratio
            label = "one-article tick " if change == "add" else "one-deletion tick"
            for name in sites:
                print(
                    f"  {label}  {name:<10} {median_range(times[name])}, "
                    f"{statistics.median(files[name]):.0f} files rewritten"
                )
            target = " (target <= 1.3x)" if change == "add" else ""
            print(f"  {label}  ratio      {ratio:8.2f}x{target}", flush=True)
        # The tombstones of the first day of deletions expire.
        expiry: dict[str, tuple[float, int]] = {}
        for name, site in sites.items():
            clocks[name].value += timedelta(days=24)
            begun = time.perf_counter()
            report = site.build()
            expiry[name] = ((time.perf_counter() - begun) * 1000, len(report.written))
        for name, (elapsed, written) in expiry.items():
            print(f"  expiry tick        {name:<10} {elapsed:8.1f} ms, {written} files rewritten")
    finally:
        for site in sites.values():
            site.close()
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="article counts, comma-separated")
    parser.add_argument("--deleted", type=int, default=1000, help="deletions in the last week")
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--authors", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=9, help="ticks of each kind per size")
    parser.add_argument("--keep", action="store_true", help="keep the temp sites")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if any(size < 2 * args.deleted + 2 * args.ticks for size in sizes):
        parser.error("--deleted: every size needs more than twice as many articles")
    workdir = Path(tempfile.mkdtemp(prefix="bench-tombstones-"))
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; SQLite in {workdir}",
        flush=True,
    )
    try:
        for size in sizes:
            run(size, args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
