"""The embedded HTTP server of ``feeder run`` under load, next to ``python -m http.server``.

    .venv/bin/python bench/bench_server.py [--requests 2000] [--connections 50]
        [--idle 1000] [--repeat 5] [--articles 200] [--quick] [--keep]

A temporary site (``feeder init``, ``--articles`` articles by ``feeder import``
of JSON Lines on stdin, ``feeder build``) is served by two servers at once,
each its own process with its open-file soft limit raised to the hard limit:

- **feeder**: the real daemon, ``feeder run --port P`` (uvicorn with the
  connection guard of ``jobs/http_guard.py``), with ``[server] max_connections
  = 4000`` and ``request_timeout = 60`` so that held idle connections are
  neither evicted nor timed out during a measurement;
- **http.server**: the baseline, ``python -m http.server`` (a
  ThreadingHTTPServer, HTTP/1.0: it closes the connection after each response)
  on the same output directory.

For each server and each phase, ``--requests`` GETs over ``--connections``
concurrent HTTP/1.1 keep-alive connections cycle over rss.xml, atom.xml,
index.html and five article pages (``Accept-Encoding: identity``, so both send
the same bytes). The load generator is a separate process (raw asyncio
sockets, no GIL shared with a server); it reads each response by its
Content-Length, reconnects when the server closes (counted as reconnects; in
brackets, the connects that took over 0.5 s, i.e. a SYN dropped by a full
listen queue and sent again a second or more later), and retries once when a
kept-alive connection closes before any response byte. Latency runs from the
send (or the connect, when one is needed) to the last body byte; requests/s is
the responses over the time to the last one, so one straggler counts. The
phases:

- **no idle**: nothing else connected;
- **N idle**: a holder process keeps ``--idle`` connections open (connected,
  sending nothing), reopens any the server closes and reports how many it had
  to reopen. They are opened four at a time, since http.server listens with a
  backlog of 5 (and a SYN-cookie connection whose last ACK met a full queue
  exists only on the client's side); the load starts once the server holds
  them all (its open descriptors say so) or after 15 s.

Peak RSS is the largest sum of VmRSS over the server's process tree (the
daemon, its build worker, multiprocessing's resource tracker), sampled every
50 ms while the phase runs (the holder connecting included); the servers run
for the whole benchmark, so a later phase starts from what an earlier one left.
VmHWM (per process, summed) is printed for the whole run. Server CPU is
utime + stime of the tree during the timed requests.

Every (server × phase) measurement runs ``--repeat`` times, interleaved (the
order is reversed every other round); the table has medians and min–max
ranges, and the ratios feeder/http.server are medians (and ranges) of the
per-round ratios. A warm-up run per server (not counted) comes first. With the
defaults the whole run takes three to six minutes on two busy cores, most of it
http.server waiting for retransmitted SYNs (its backlog of 5 overflows under 50
reconnecting clients); ``--quick`` is a smoke run of about half a minute.
``--keep`` keeps the site and both servers' logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import http.client
import itertools
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

FEEDER = str(Path(sys.executable).parent / "feeder")
HOST = "127.0.0.1"
SERVERS = ("feeder", "http.server")
PHASES = ("plain", "idle")
REQUEST_TIMEOUT = 30.0  # seconds, per request in the load generator
HOLD_WINDOW = 4  # idle connections being opened at a time: http.server's backlog is 5
SAMPLE_INTERVAL = 0.05
ACCEPT_WAIT = 15.0  # seconds for a server to accept the held connections before the load
TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1
PARENT = os.getpid()  # in a forked server child, still this script's pid


# -- child processes -------------------------------------------------------------------


def raise_nofile() -> None:
    """Raise the open-file soft limit to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def die_with_parent(parent: int) -> None:
    """SIGTERM when this script dies, even by SIGKILL (Linux), so that no child outlives it."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


def server_setup() -> None:
    """The servers' ``preexec_fn`` (they start before this script runs any thread)."""
    raise_nofile()
    die_with_parent(PARENT)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks (tells a process from a reused pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive now."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
            except OSError:
                continue
            todo.extend(int(child) for child in children.split())
    return found


def status_kb(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM), 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Children:
    """Every process this script starts, so that all of them go, whatever happens."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        # Descendants seen by the sampler (the daemon's build worker): (pid, start time).
        self.seen: set[tuple[int, int]] = set()

    def start(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        # Own session: Ctrl-C reaches this script only, which stops the children in order.
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        for pid, started in self.seen:  # orphans, if a server left any
            if start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


class Sampler:
    """The peak of VmRSS summed over a process tree, sampled in a thread."""

    def __init__(self, pid: int, children: Children) -> None:
        self.pid = pid
        self._children = children
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        pids = process_tree(self.pid)
        for pid in pids[1:]:
            started = start_time(pid)
            if started is not None:
                self._children.seen.add((pid, started))
        total = sum(status_kb(pid, "VmRSS") for pid in pids)
        self.peak_kb = max(self.peak_kb, total)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            self.sample()

    def __enter__(self) -> Sampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


# -- the site --------------------------------------------------------------------------


def make_site(root: Path, port: int, articles: int) -> list[str]:
    """Init, import and build a site in ``root``; the paths the load cycles over."""

    def feeder(*args: str, stdin: bytes | None = None) -> None:
        subprocess.run(
            [FEEDER, *args],
            input=stdin,
            cwd=root,
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "FEEDER_CONFIG": str(root / "feeder.toml")},
        )

    feeder(
        *("init", str(root), "--title", "Bench"),
        *("--base-url", f"http://{HOST}:{port}/", "--id-authority", "example.org"),
    )
    words = "Feeds are read by programs that poll them, mostly on the hour. "
    lines = [
        json.dumps(
            {
                "title": f"Article {n}",
                "slug": f"article-{n}",
                "content": "".join(f"<p>{n}: {words * 6}</p>\n" for _ in range(6)),
            }
        )
        for n in range(articles)
    ]
    feeder("import", "-", "--format", "jsonl", stdin="\n".join(lines).encode() + b"\n")
    feeder("build")
    config = root / "feeder.toml"
    text = config.read_text()
    assert "\n[server]\n" in text, "feeder init wrote no [server] section"
    config.write_text(
        text.replace("\n[server]\n", "\n[server]\nmax_connections = 4000\nrequest_timeout = 60\n")
    )
    public = root / "public"
    pages = [f"articles/article-{n}.html" for n in range(0, articles, max(1, articles // 5))][:5]
    paths = ["rss.xml", "atom.xml", "index.html", *pages]
    missing = [path for path in paths if not (public / path).is_file()]
    assert not missing, f"the build wrote no {missing}"
    return paths


def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}; see {log}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/rss.xml")
            response = connection.getresponse()
            response.read()  # all of it: http.server logs a broken pipe otherwise
            connection.close()
            if response.status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer on port {port}; see {log}")
        time.sleep(0.05)


def wait_first_build(log: Path, timeout: float = 60) -> None:
    """Until the daemon's start build is done (it may rename files over the served ones)."""
    deadline = time.monotonic() + timeout
    while " build: " not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the daemon did not finish its first build; see {log}")
        time.sleep(0.05)


# -- the load generator (a separate process) -------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status and whether the connection stays open, once the whole body is read."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
    tokens = {token.strip() for token in headers.get("connection", "").split(",")}
    keep = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", ""):
        raise ValueError("chunked response")  # neither server sends one for a file
    else:
        await reader.read()  # the body ends with the connection
        keep = False
    return int(status), keep


async def load(port: int, paths: list[str], total: int, connections: int) -> dict[str, Any]:
    requests = [
        (
            f"GET /{path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: bench_server\r\n"
            "Accept-Encoding: identity\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        for path in paths
    ]
    numbers = itertools.count()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    counts = {"connects": 0, "reconnects": 0, "retried": 0, "slow_connects": 0}

    async def worker() -> None:
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        first = True
        while (n := next(numbers)) < total:
            request = requests[n % len(requests)]
            for attempt in range(2):
                started = time.perf_counter()
                reused = stream is not None
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        if stream is None:
                            stream = await asyncio.open_connection(HOST, port)
                            counts["connects"] += 1
                            if time.perf_counter() - started > 0.5:
                                counts["slow_connects"] += 1  # a SYN retransmitted
                            if not first:
                                counts["reconnects"] += 1
                            first = False
                        reader, writer = stream
                        writer.write(request)
                        status, keep = await read_response(reader)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                    if stream is not None:
                        stream[1].close()
                        stream = None
                    nothing = isinstance(exc, asyncio.IncompleteReadError) and not exc.partial
                    if reused and nothing and attempt == 0:
                        counts["retried"] += 1  # closed while idle: retry, like a browser
                        continue
                    errors[type(exc).__name__] += 1
                    break
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors[f"HTTP {status}"] += 1
                if not keep:
                    writer.close()
                    stream = None
                break
        if stream is not None:
            stream[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    ok = len(latencies)
    return {
        "ok": ok,
        "seconds": elapsed,
        "rps": ok / elapsed,
        "p50": statistics.median(latencies) * 1000 if ok else float("nan"),
        "p99": latencies[min(ok - 1, int(ok * 0.99))] * 1000 if ok else float("nan"),
        "max": latencies[-1] * 1000 if ok else float("nan"),
        "errors": dict(errors),
        **counts,
    }


async def hold(port: int, count: int) -> None:
    """Keep ``count`` connections open, reopen any that close; commands on stdin."""
    stats = {"open": 0, "reopened": 0, "connect_failures": 0, "slow_connects": 0, "data": 0}
    loop = asyncio.get_running_loop()
    # Few handshakes at a time: when a listen queue overflows, Linux answers with a SYN
    # cookie and drops the final ACK, and a client that then sends nothing is connected
    # only in its own eyes.
    window = asyncio.Semaphore(HOLD_WINDOW)

    async def connection(connected: asyncio.Future[None]) -> None:
        while True:
            async with window:
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(10):
                        reader, writer = await asyncio.open_connection(HOST, port)
                except (OSError, TimeoutError):
                    stats["connect_failures"] += 1
                    await asyncio.sleep(0.1)
                    continue
                if time.perf_counter() - started > 0.5:
                    stats["slow_connects"] += 1  # a SYN retransmitted: the queue was full
                await asyncio.sleep(0.001)  # time for the server to accept it
            stats["open"] += 1
            if not connected.done():
                connected.set_result(None)
            try:
                while data := await reader.read(65536):
                    stats["data"] += len(data)
            except OSError:
                pass
            writer.close()
            stats["open"] -= 1
            stats["reopened"] += 1

    started = time.perf_counter()
    futures = [loop.create_future() for _ in range(count)]
    _tasks = [asyncio.create_task(connection(future)) for future in futures]  # referenced
    with contextlib.suppress(TimeoutError):  # report what is open after a minute anyway
        async with asyncio.timeout(60):
            await asyncio.gather(*futures)
    report = {"ready": stats["open"], "seconds": time.perf_counter() - started, **stats}
    print(json.dumps(report), flush=True)
    while await loop.run_in_executor(None, sys.stdin.readline) == "stats\n":
        print(json.dumps(stats), flush=True)
    # Done (or the script went away): the kernel closes the sockets with the process.
    os._exit(0)


def run_worker(args: argparse.Namespace) -> None:
    raise_nofile()
    die_with_parent(args.parent)
    if args.worker == "load":
        result = asyncio.run(
            load(args.port, args.paths.split(","), args.requests, args.connections)
        )
        print(json.dumps(result), flush=True)
    else:
        asyncio.run(hold(args.port, args.idle))


# -- the measurements ------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Result:
    rps: float
    p50: float
    p99: float
    max: float
    rss_mb: float
    cpu_us: float
    reconnects: int
    slow_connects: int
    retried: int
    errors: Counter[str]
    reopened: int = 0
    holder: dict[str, int] = field(default_factory=dict)
    fds: int = 0


def worker_command(args: argparse.Namespace, role: str, port: int, paths: list[str]) -> list[str]:
    return [
        *(sys.executable, __file__, "--worker", role, "--parent", str(os.getpid())),
        *("--port", str(port)),
        *("--paths", ",".join(paths), "--requests", str(args.requests)),
        *("--connections", str(args.connections), "--idle", str(args.idle)),
    ]


def run_load(
    children: Children, args: argparse.Namespace, server: Server, paths: list[str]
) -> dict[str, Any]:
    proc = children.start(worker_command(args, "load", server.port, paths), stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=args.requests * REQUEST_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed with exit code {proc.returncode}")
    return dict(json.loads(out))


def measure(
    children: Children, args: argparse.Namespace, server: Server, phase: str, paths: list[str]
) -> Result:
    holder: subprocess.Popen[bytes] | None = None
    with Sampler(server.proc.pid, children) as sampler:
        try:
            ready: dict[str, int] = {}
            base_fds = open_fds(server.proc.pid)
            if phase == "idle":
                holder = children.start(
                    worker_command(args, "hold", server.port, paths),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
                assert holder.stdin is not None and holder.stdout is not None
                line = holder.stdout.readline()
                if not line:
                    raise RuntimeError("the idle holder failed")
                ready = json.loads(line)
                # Connected is not yet accepted: a handshake whose last ACK found the
                # accept queue full completes only when the server retransmits its SYN-ACK.
                deadline = time.monotonic() + ACCEPT_WAIT
                while open_fds(server.proc.pid) < base_fds + args.idle:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                time.sleep(0.2)
            fds = open_fds(server.proc.pid) - base_fds
            cpu = tree_cpu(server.proc.pid)
            figures = run_load(children, args, server, paths)
            cpu = tree_cpu(server.proc.pid) - cpu
            after: dict[str, int] = {}
            if holder is not None:
                assert holder.stdin is not None and holder.stdout is not None
                holder.stdin.write(b"stats\n")
                holder.stdin.flush()
                after = json.loads(holder.stdout.readline())
                holder.stdin.write(b"quit\n")
                holder.stdin.flush()
                holder.wait(10)
        finally:
            if holder is not None:
                children.stop(holder)
    return Result(
        rps=figures["rps"],
        p50=figures["p50"],
        p99=figures["p99"],
        max=figures["max"],
        rss_mb=sampler.peak_kb / 1024,
        cpu_us=cpu / max(1, figures["ok"]) * 1e6,
        reconnects=figures["reconnects"],
        slow_connects=figures["slow_connects"],
        retried=figures["retried"],
        errors=Counter(figures["errors"]),
        reopened=after.get("reopened", 0),
        holder={
            "ready": ready.get("ready", 0),
            "slow_connects": ready.get("slow_connects", 0),
            "connect_failures": after.get("connect_failures", 0),
            "open_after": after.get("open", 0),
            "connect_seconds": round(ready.get("seconds", 0)),
        },
        fds=fds,
    )


def start_servers(
    children: Children, root: Path, feeder_port: int, plain_port: int
) -> list[Server]:
    env = {**os.environ, "FEEDER_CONFIG": str(root / "feeder.toml")}
    servers = []
    feeder_log = root / "daemon.log"
    with feeder_log.open("wb") as log:
        proc = children.start(
            [FEEDER, "run", "--port", str(feeder_port)],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=server_setup,
        )
    servers.append(Server("feeder", feeder_port, proc, feeder_log))
    plain_log = root / "http.server.log"
    with plain_log.open("wb") as log:
        proc = children.start(
            [
                *(sys.executable, "-m", "http.server", "--bind", HOST, str(plain_port)),
                *("--directory", str(root / "public")),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=server_setup,
        )
    servers.append(Server("http.server", plain_port, proc, plain_log))
    for server in servers:
        wait_ready(server.port, server.proc, server.log)
    wait_first_build(feeder_log)
    return servers


# -- the report ------------------------------------------------------------------------


def spread(values: Sequence[float], digits: int = 0) -> str:
    low, high = min(values), max(values)
    return f"{statistics.median(values):7.{digits}f} [{low:.{digits}f}–{high:.{digits}f}]"


def report(
    args: argparse.Namespace,
    results: dict[tuple[str, str], list[Result]],
    servers: list[Server],
    hwm: dict[str, list[float]],
) -> None:
    label = {"plain": "no idle", "idle": f"{args.idle} idle"}
    print(
        f"{'server':<12} {'phase':<9} | {'requests/s':>20} | {'p50 ms':>6} | {'p99 ms':>22} |"
        f" {'max ms':>6} | {'peak RSS MB':>21} | {'CPU µs/req':>10} | reconnects (slow) | errors"
    )
    for name in SERVERS:
        for phase in PHASES:
            rows = results[(name, phase)]
            errors = sum((row.errors for row in rows), Counter())
            error_text = ", ".join(f"{k} {v}" for k, v in errors.items()) or "0"
            print(
                f"{name:<12} {label[phase]:<9} | {spread([r.rps for r in rows]):>20} | "
                f"{statistics.median(r.p50 for r in rows):6.1f} | "
                f"{spread([r.p99 for r in rows], 1):>22} | {max(r.max for r in rows):6.0f} | "
                f"{spread([r.rss_mb for r in rows], 1):>21} | "
                f"{statistics.median(r.cpu_us for r in rows):10.0f} | "
                f"{statistics.median(r.reconnects for r in rows):10.0f} "
                f"{'(' + str(sum(r.slow_connects for r in rows)) + ')':>6} | {error_text}"
            )
    for phase in PHASES:
        pairs = zip(results[("feeder", phase)], results[("http.server", phase)], strict=True)
        rps, p99 = zip(*((a.rps / b.rps, a.p99 / b.p99) for a, b in pairs), strict=True)
        print(
            f"ratio feeder/http.server, {label[phase]:<9}: requests/s {spread(rps, 2)}, "
            f"p99 {spread(p99, 2)}"
        )
    print(
        "VmHWM over the whole run, summed over the process tree: "
        + ", ".join(
            f"{name} {sum(mbs):.1f} MB ({' + '.join(f'{mb:.1f}' for mb in mbs)})"
            for name, mbs in hwm.items()
        )
    )
    for name in SERVERS:
        rows = results[(name, "idle")]
        holders = [row.holder for row in rows]
        print(
            f"idle holders on {name}: reopened {[r.reopened for r in rows]}, "
            f"ready {[h['ready'] for h in holders]}, "
            f"open after the load {[h['open_after'] for h in holders]}, "
            f"slow connects (>0.5 s) {[h['slow_connects'] for h in holders]}, "
            f"connect failures {[h['connect_failures'] for h in holders]}, "
            f"sockets accepted by the server at load start {[r.fds for r in rows]}"
        )
        retried = [row.retried for phase in PHASES for row in results[(name, phase)]]
        if any(retried):
            print(f"  {name}: kept-alive connections closed before a response: {retried}")
    for server in servers:
        lines = server.log.read_text(errors="replace").splitlines()
        warnings = [line for line in lines if "WARNING" in line or "ERROR" in line]
        exceptions: Counter[str] = Counter()
        for number, line in enumerate(lines):
            if line.startswith("Traceback"):
                # The exception line; other threads' log lines may come in between.
                rest = (x for x in lines[number + 1 :] if re.match(r"\w+(Error|Exception)\b", x))
                exceptions[next(rest, "?")[:120]] += 1
        print(
            f"{server.name} log: {len(lines)} lines, {len(warnings)} warnings or errors, "
            f"{sum(exceptions.values())} tracebacks"
        )
        for line in warnings[:5]:
            print(f"  {line[:200]}")
        for text, count in exceptions.most_common(5):
            print(f"  {count} x {text}")


def rounds(repeat: int) -> Iterator[tuple[int, str, str]]:
    """(round, server, phase), the order reversed every other round."""
    order = [(server, phase) for server in SERVERS for phase in PHASES]
    for n in range(repeat):
        for server, phase in order if n % 2 == 0 else reversed(order):
            yield n, server, phase


def bench(args: argparse.Namespace) -> None:
    children = Children()
    root = Path(tempfile.mkdtemp(prefix="feeder-bench-server-"))

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        started = time.perf_counter()
        feeder_port, plain_port = free_port(), free_port()
        paths = make_site(root, feeder_port, args.articles)
        sizes = [(root / "public" / path).stat().st_size for path in paths]
        servers = start_servers(children, root, feeder_port, plain_port)
        by_name = {server.name: server for server in servers}
        print(
            f"{args.articles} articles; {len(paths)} paths of {min(sizes) / 1000:.1f}–"
            f"{max(sizes) / 1000:.1f} KB; {args.requests} GETs over {args.connections} "
            f"connections; {args.repeat} rounds, interleaved; Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
            f"set up in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        for server in servers:
            run_load(children, args, server, paths)  # warm-up: caches, imports, threads
        results: dict[tuple[str, str], list[Result]] = {
            (name, phase): [] for name in SERVERS for phase in PHASES
        }
        for n, name, phase in rounds(args.repeat):
            result = measure(children, args, by_name[name], phase, paths)
            results[(name, phase)].append(result)
            print(
                f"  round {n + 1} {name:<11} {phase:<5} {result.rps:7.0f} req/s  "
                f"p99 {result.p99:7.1f} ms  RSS {result.rss_mb:6.1f} MB",
                flush=True,
            )
        hwm = {}
        for server in servers:
            pids = process_tree(server.proc.pid)
            hwm[server.name] = [status_kb(pid, "VmHWM") / 1024 for pid in pids]
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        report(args, results, servers, hwm)
        print(f"total {time.perf_counter() - started:.0f} s")
    finally:
        children.stop_all()
        signal.signal(signal.SIGTERM, previous)
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="GETs per measurement")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections held open")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of measurements")
    parser.add_argument("--articles", type=int, default=200, help="articles in the site")
    parser.add_argument("--keep", action="store_true", help="keep the temp site and the logs")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 300 GETs, 10 connections, 100 idle"
    )
    parser.add_argument("--worker", choices=("load", "hold"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return
    if args.quick:
        args.requests, args.connections, args.idle, args.repeat = 300, 10, 100, 2
        args.articles = min(args.articles, 50)
    try:
        bench(args)
    except KeyboardInterrupt:
        print("interrupted; the servers and helpers are stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
