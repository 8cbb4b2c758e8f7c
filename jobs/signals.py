"""What signals mean to ``feeder run``: SIGTERM and SIGINT stop it, SIGHUP reloads.

Handlers only set flags and wake the main thread; everything else happens
there, in order, outside the handler.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["Signals"]

_STOP = (signal.SIGTERM, signal.SIGINT)
_RELOAD = (signal.SIGHUP,)


class Signals:
    """The daemon's mailbox: ``stopping`` once asked to stop, ``wake`` on any news."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self._reload = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Route the signals here (main thread only, as Python requires)."""
        for number in (*_STOP, *_RELOAD):
            self._previous[number] = signal.signal(number, self._handle)

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def stop(self) -> None:
        """Ask to stop, as SIGTERM does."""
        self.stopping.set()
        self.wake.set()

    def reload(self) -> None:
        """Ask to reload the settings, as SIGHUP does."""
        self._reload = True
        self.wake.set()

    def take_reload(self) -> bool:
        """True once per reload asked for since the last call."""
        asked, self._reload = self._reload, False
        return asked

    def wait(self, timeout: float) -> None:
        """Sleep until a signal arrives or ``timeout`` seconds pass."""
        self.wake.wait(timeout)
        self.wake.clear()

    def _handle(self, number: int, _frame: FrameType | None) -> None:
        if number in _RELOAD:
            self.reload()
        else:
            self.stop()
