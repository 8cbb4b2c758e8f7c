"""Cold start of the command line, beside the floor of what it must load.

Scripts call ``feeder add`` in loops, so the time to start matters. Each
command runs as a new process, interleaved with its floor in the same round:

- ``feeder --help`` beside ``python -c "import click"`` (a click program can
  do no less);
- ``feeder add --title ...`` beside ``python -c "import click, sqlalchemy.orm"``
  (any command that touches the store loads both).

Prints the median and range of each over ``--repeat`` rounds and the ratio of
the medians. Target: each ratio at most 1.5.

Both sides run as installed code does: from compiled bytecode (pip compiles an
installed package's modules, as it compiled click's and SQLAlchemy's). A
``PYTHONDONTWRITEBYTECODE`` in the environment is dropped for the commands, and
one run of each before the rounds leaves the caches in place.

    .venv/bin/python bench/bench_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
FEEDER = shutil.which("feeder", path=str(BIN)) or "feeder"


ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        subprocess.run(
            [FEEDER, "init", str(site), "--title", "Bench", "--base-url", "https://example.org/"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        pairs = {
            "feeder --help": (
                [FEEDER, "--help"],
                [sys.executable, "-c", "import click"],
                "python -c 'import click'",
            ),
            "feeder add": (
                [FEEDER, "add", "--title", "Cold start"],
                [sys.executable, "-c", "import click, sqlalchemy.orm"],
                "python -c 'import click, sqlalchemy.orm'",
            ),
        }
        for command, floor, _floor_name in pairs.values():  # the bytecode caches
            timed(command, site)
            timed(floor, site)
        times: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            for name, (command, floor, floor_name) in pairs.items():
                times.setdefault(name, []).append(timed(command, site))
                times.setdefault(floor_name, []).append(timed(floor, site))
    print(f"{'command':<44}{'median ms':>10}{'range ms':>14}")
    for name, values in times.items():
        low, high = min(values) * 1000, max(values) * 1000
        median = statistics.median(values) * 1000
        print(f"{name:<44}{median:>10.0f}{f'{low:.0f}-{high:.0f}':>14}")
    for name, (_command, _floor, floor_name) in pairs.items():
        ratio = statistics.median(times[name]) / statistics.median(times[floor_name])
        print(f"{name + ' / ' + floor_name:<70} {ratio:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
