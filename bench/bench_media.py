"""Enclosures: what local media files cost a site, each beside a baseline measured in the same run.

    .venv/bin/python bench/bench_media.py [--episodes 200] [--megabytes 20] [--requests 2000]

1. Adding: ``Site.add_article(enclosures=[path])`` for ``--episodes`` files of
   ``--megabytes`` MB each (the file is hashed, copied into the media store and
   fsynced, the article written), beside what one would do by hand: add the
   article without it, and copy the file into place (``shutil.copyfile``, fsync).
2. Building: a full build of the site with its episodes (every file copied to
   the output directory), beside a full build of the same articles without
   enclosures; then an incremental build with nothing changed (each published
   file is checked by its size), beside the same for the site without.
3. Serving: p50 and p99 latency of 64 KiB byte-range requests at random
   offsets of one episode (206) over one keep-alive connection, beside whole
   GETs of a 64 KiB file on the same server (200).

Targets: adding within 2x of the by-hand way (feeder reads each file twice:
to hash it, then to copy it), an unchanged incremental build within 1.5x of
the site without media, a range request within 2x of a whole GET of the same
size.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from feeder import Site
from feeder.server import OutputFiles, Server

CHUNK = 64 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def make_files(directory: Path, count: int, megabytes: float) -> list[Path]:
    directory.mkdir(parents=True)
    size = int(megabytes * 1_000_000)
    block = os.urandom(1 << 20)
    paths = []
    for n in range(count):
        path = directory / f"episode-{n}.mp3"
        with path.open("wb") as out:
            out.write(n.to_bytes(8, "big"))  # each file differs
            left = size - 8
            while left > 0:
                out.write(block[: min(left, len(block))])
                left -= len(block)
        paths.append(path)
    return paths


def new_site(root: Path, name: str) -> Site:
    return Site.init(
        root / name,
        title=name,
        base_url="https://example.org/",
        id_authority="example.org",
        clock=Clock(),
    )


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--megabytes", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    total_mb = args.episodes * args.megabytes

    with tempfile.TemporaryDirectory(prefix="bench-media-") as temp:
        root = Path(temp)
        files = make_files(root / "sources", args.episodes, args.megabytes)

        copies = root / "copies"
        copies.mkdir()
        with new_site(root, "episodes") as episodes, new_site(root, "plain") as plain:

            def add_episodes() -> None:
                for n, path in enumerate(files):
                    episodes.add_article(f"Episode {n}", enclosures=[path], duration=1800)

            def by_hand() -> None:
                for n, path in enumerate(files):
                    plain.add_article(f"Episode {n}")
                    shutil.copyfile(path, copies / path.name)
                    with (copies / path.name).open("rb") as copy:
                        os.fsync(copy.fileno())

            baseline = timed(by_hand)
            adding = timed(add_episodes)
            print(
                f"add: {total_mb / adding:8.1f} MB/s ({args.episodes / adding:.1f} episodes/s); "
                f"by hand {total_mb / baseline:8.1f} MB/s; ratio {adding / baseline:.2f}"
            )

            full = timed(lambda: episodes.build(full=True))
            full_plain = timed(lambda: plain.build(full=True))
            print(
                f"full build: {full * 1000:8.0f} ms with {total_mb:.0f} MB of media; "
                f"without media {full_plain * 1000:8.0f} ms; ratio {full / full_plain:.2f}"
            )
            # Interleaved, so that a busy moment of the machine costs both the same.
            runs: dict[str, list[float]] = {"episodes": [], "plain": []}
            for _ in range(21):
                runs["episodes"].append(timed(episodes.build))
                runs["plain"].append(timed(plain.build))
            again, again_plain = (statistics.median(runs[name]) for name in ("episodes", "plain"))
            print(
                f"unchanged build (median of 21): {again * 1000:8.1f} ms; without media "
                f"{again_plain * 1000:8.1f} ms; ratio {again / again_plain:.2f}"
            )

            output = episodes.config.output_dir
            (output / "small.mp3").write_bytes(os.urandom(CHUNK))
            (episode_file,) = (output / "media").glob("*/episode-0.mp3")
            path = "/" + episode_file.relative_to(output).as_posix()
            size = episode_file.stat().st_size
            server = Server(OutputFiles(output), "127.0.0.1", 0)
            server.start()
            try:
                rng = random.Random(7)
                ranged: list[float] = []
                whole: list[float] = []
                with httpx.Client(base_url=server.url()) as client:
                    for _ in range(args.requests):
                        start = rng.randrange(0, max(1, size - CHUNK))
                        header = {"Range": f"bytes={start}-{start + CHUNK - 1}"}
                        began = time.perf_counter()
                        response = client.get(path, headers=header)
                        ranged.append(time.perf_counter() - began)
                        assert response.status_code == 206 and len(response.content) == CHUNK
                        began = time.perf_counter()
                        response = client.get("/small.mp3")
                        whole.append(time.perf_counter() - began)
                        assert response.status_code == 200 and len(response.content) == CHUNK
            finally:
                server.stop()
            print(
                f"64 KiB range (206): p50 {percentile(ranged, 0.5) * 1000:.2f} ms, "
                f"p99 {percentile(ranged, 0.99) * 1000:.2f} ms; whole 64 KiB file (200): "
                f"p50 {percentile(whole, 0.5) * 1000:.2f} ms, "
                f"p99 {percentile(whole, 0.99) * 1000:.2f} ms; "
                f"ratio of medians {statistics.median(ranged) / statistics.median(whole):.2f}"
            )


if __name__ == "__main__":
    main()
