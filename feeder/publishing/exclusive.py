"""A build that has its output directory to itself: lock, mark, fence, then build.

``feeder build``, :meth:`feeder.Site.build` and the daemon's build worker all
build through :func:`build_exclusively`, so every writer of a directory
follows the rules of feeder.publishing.fence: hold the directory's publish
lock, wait out an unfinished build's lease, mark the directory, confirm the
lock while writing, and clear the mark at the end.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import datetime

from db import Lock, Storage, StorageFailure
from feeder.config import Config
from feeder.errors import LockedError
from feeder.publishing.build import BuildReport, run_build
from feeder.publishing.fence import FENCE_SECONDS, Keeper, Lease, Trace, Turn
from feeder.publishing.files import sweep_temp

__all__ = ["build_exclusively", "publish_lock"]

log = logging.getLogger("feeder.publishing.build")


def publish_lock(storage: Storage, config: Config, writer: str, output: str) -> Lock:
    """The publish lock of the output directory ``output``, described as ``writer``."""
    return storage.lock("publish", writer, config.root, scope=output)


def build_exclusively(
    storage: Storage,
    config: Config,
    lock: Lock,
    *,
    writer: str,
    now: Callable[[], datetime],
    output: str,
    full: bool = False,
    wait: float | None = None,
    stop: threading.Event | None = None,
    sweep: bool = True,
) -> BuildReport:
    """Build ``config``'s output directory (the output ``output``) holding ``lock``.

    ``lock`` is the directory's publish lock (:func:`publish_lock`); it is taken
    (waiting up to ``wait`` seconds, forever if None, or until ``stop`` is set)
    and released again, its connection kept for the next build. ``sweep``
    removes temp files that interrupted builds left, which only the holder of
    the lock may do.
    """
    if not lock.try_acquire():
        log.info("waiting for %s, held by %s", lock.where, lock.holder() or "?")
        if not lock.acquire(timeout=wait, stop=stop):
            holder = lock.holder() or "another process"
            raise LockedError(
                f"another build is running ({holder}); try again later, or wait longer with --wait"
            )
    token = secrets.token_hex(16)
    keeper: Keeper | None = None
    trace: Trace | None = None
    try:
        left_temp_files = _wait_out_an_unfinished_build(storage, config, output, stop)
        with storage.write() as marker:
            marker.claim_output(
                output,
                writer=writer,
                token=token,
                path=str(config.output_dir),
                host=socket.gethostname(),
                now=now(),
            )
        trace = Trace.from_environment(writer, token)
        lease = Lease(config.output_dir, trace=trace)
        # Started after the mark is committed: see the timing argument in fence.py.
        keeper = Keeper(lock, lease)
        keeper.start()
        # Walking a big directory on every tick would cost more than the tick.
        if sweep and (left_temp_files or full):
            sweep_temp(config.output_dir, older_than=0)
        return run_build(
            storage, config, now=now(), full=full, turn=Turn(output, token, lease.fenced)
        )
    except BaseException:
        if keeper is not None:
            keeper.stop()
            keeper = None
        with contextlib.suppress(StorageFailure), storage.write() as marker:
            marker.release_output(output, token=token)  # stopped writing: the mark can go
        raise
    finally:
        if keeper is not None:
            keeper.stop()
        if trace is not None:
            trace.close()
        lock.release()


def _wait_out_an_unfinished_build(
    storage: Storage, config: Config, output: str, stop: threading.Event | None
) -> bool:
    """Wait out a build that marked the directory and did not finish; whether temp files
    may be left: by such a build, or from before the directory was first built here
    (another program, an older feeder)."""
    with storage.read() as reader:
        unfinished = reader.output_writer(output)
        unbuilt = reader.build_state(output).built_revision < 0
    if unfinished is None:
        return unbuilt
    writer, since = unfinished
    log.warning(
        "%s: the build by %s%s did not finish; waiting %.1f s so that it has surely "
        "stopped writing before this one starts",
        config.output_dir,
        writer,
        f" (since {since:%Y-%m-%d %H:%M:%S}Z)" if since is not None else "",
        FENCE_SECONDS,
    )
    if (stop or threading.Event()).wait(FENCE_SECONDS):
        raise LockedError(f"{config.output_dir}: stopped while waiting to write")
    return True
