"""Worker processes for CPU-bound steps that would otherwise wait on one interpreter lock.

Checking and sanitising drafts (an import) and rendering article pages (a full
build) are pure Python, and so is much of what the main process does meanwhile
(writing rows, writing files): in threads they take turns. :class:`Workers`
runs a function in separate processes instead, each a fresh
``python -m feeder._processes MODULE:FUNCTION``: it imports feeder and nothing
of the caller (unlike multiprocessing's spawn, which re-runs the caller's
script, and fork, which copies its threads), reads pickled batches on stdin and
answers each with a pickled result on stdout. Workers only compute: files and
rows are written by the process that started them.

A worker that cannot start or dies raises :class:`WorkerGone`; the caller then
does the work itself. Workers exit when their stdin closes, and on Linux they
are killed when the thread that started them ends (``PR_SET_PDEATHSIG``), so
they never outlive a caller that was killed with ``kill -9`` in the middle of
a batch; they leave Ctrl-C to it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["WorkerGone", "Workers", "rare_collections"]

log = logging.getLogger(__name__)

_PROTOCOL = pickle.HIGHEST_PROTOCOL


#: Allocations between two collections of the youngest generation in a batch of work
#: (Python's default: 700).
BATCH_THRESHOLD = 50_000
_batches = 0
_saved_threshold = 700
_batches_lock = threading.Lock()


@contextlib.contextmanager
def rare_collections() -> Iterator[None]:
    """Cyclic garbage collection made rare for a batch of work (a full build).

    A batch makes and drops millions of small objects that reference counting
    frees; with Python's defaults the collector still ran hundreds of times over
    them, and its full passes walked every module and object loaded before: 7% of
    a full build's main thread. Those are frozen (never walked again) for the
    batch, and the youngest generation is collected every 50,000 allocations:
    cycles made meanwhile are still collected. Nested and concurrent batches
    share the settings; the last to end restores them.
    """
    global _batches, _saved_threshold
    with _batches_lock:
        _batches += 1
        if _batches == 1:
            _saved_threshold = gc.get_threshold()[0]
            gc.freeze()
            gc.set_threshold(BATCH_THRESHOLD, *gc.get_threshold()[1:])
    try:
        yield
    finally:
        with _batches_lock:
            _batches -= 1
            if _batches == 0:
                gc.set_threshold(_saved_threshold, *gc.get_threshold()[1:])
                gc.unfreeze()


_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}


class WorkerGone(RuntimeError):
    """No worker process could do the job; do it in this process."""


class Workers:
    """``count`` processes that each compute ``function(batch, context)``.

    ``function`` is ``"module:name"``; ``context`` is sent once to each
    process. :meth:`run` may be called from several threads at once: each
    call takes an idle worker, or waits for one.
    """

    def __init__(self, function: str, context: Any, count: int) -> None:
        self._idle: queue.SimpleQueue[subprocess.Popen[bytes] | None] = queue.SimpleQueue()
        self._processes: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self._alive = 0
        environment = dict(os.environ)
        # The same modules as here, wherever they were imported from.
        environment["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
        # Each answer is pickled into one buffer of megabytes: glibc would map it fresh from
        # the kernel and unmap it each time (a page fault per 4 KB, most of a build's). Kept
        # in the heap instead, the same memory serves the next answer.
        for name, value in _MALLOC.items():
            environment.setdefault(name, value)
        payload = pickle.dumps(context, _PROTOCOL)
        for _ in range(count):
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", __name__, function, str(os.getpid())],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=environment,
                )
            except OSError as exc:
                log.warning("no worker process (%s): working in this process", exc)
                break
            _widen(process)
            try:
                assert process.stdin is not None
                _send(process.stdin, payload)
            except OSError as exc:
                process.kill()
                process.wait()
                for pipe in (process.stdin, process.stdout):
                    if pipe is not None:
                        with contextlib.suppress(OSError):
                            pipe.close()
                log.warning("worker process stopped at once (%s): working in this process", exc)
                break
            self._processes.append(process)
            self._alive += 1
            self._idle.put(process)
        if not self._alive:
            self._idle.put(None)

    def run(self, batch: Any) -> Any:
        """``function(batch, context)``, computed by an idle worker."""
        process = self._idle.get()
        if process is None:
            self._idle.put(None)  # wake the next caller too
            raise WorkerGone("no worker process is left")
        assert process.stdin is not None and process.stdout is not None
        try:
            _send(process.stdin, pickle.dumps(batch, _PROTOCOL))
            status, value = pickle.loads(_receive(process.stdout))
        except Exception as exc:  # a dead worker, or a stream out of step: never reuse it
            self._lose(process, exc)
            raise WorkerGone(f"worker process {process.pid} stopped: {exc!r}") from exc
        self._idle.put(process)
        if status == "error":
            raise value
        return value

    def _lose(self, process: subprocess.Popen[bytes], reason: BaseException) -> None:
        process.kill()
        log.warning("worker process %s stopped (%r): working in this process", process.pid, reason)
        with self._lock:
            self._alive -= 1
            if not self._alive:
                self._idle.put(None)

    def close(self) -> None:
        """Let every worker exit: closing its stdin tells it to.

        Its stdout is closed too, so a worker still answering a batch nobody
        will read cannot block on a full pipe; then waiting for it is bounded
        by one batch of work.
        """
        for process in self._processes:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        for process in self._processes:
            process.wait()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


#: Bytes a pipe to or from a worker holds (Linux; the default is 64 KB): a chunk of work
#: and its answer (about 1.5 MB for a hundred pages) cross in a few writes, not dozens,
#: each waking the other side.
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031


def _widen(process: subprocess.Popen[bytes]) -> None:
    """Give ``process``'s pipes :data:`PIPE_BYTES` where the system allows it."""
    if not sys.platform.startswith("linux"):
        return
    import fcntl

    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError, ValueError):
                fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)


# A message is its length and its pickle: read whole in a few system calls, then loaded
# from memory (loading from the pipe read it a frame at a time, each read taking turns on
# the interpreter lock with the build's other threads).
_LENGTH = struct.Struct("<Q")


def _send(stream: IO[bytes], data: bytes) -> None:
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes:
    """The next message; EOFError when the stream ends before it is whole."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError("the stream ended")
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the stream ended inside a message")
    return data


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Be killed when the thread that started this process ends (Linux), or now if it has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)


def _serve(function: str, requests: IO[bytes], answers: IO[bytes]) -> None:
    module, name = function.split(":")
    compute = getattr(importlib.import_module(module), name)
    context = pickle.loads(_receive(requests))
    with rare_collections():  # a worker's life is one batch of work, once it has loaded
        while True:
            try:
                batch = pickle.loads(_receive(requests))
            except EOFError:
                return
            try:
                answer: tuple[str, Any] = ("ok", compute(batch, context))
            except Exception as exc:  # a bug: hand it to the caller, who raises it
                answer = ("error", exc)
            try:
                data = pickle.dumps(answer, _PROTOCOL)
            except Exception as exc:
                data = pickle.dumps(("error", RuntimeError(repr(exc))), _PROTOCOL)
            _send(answers, data)


if __name__ == "__main__":
    _die_with_parent(int(sys.argv[2]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    _serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
