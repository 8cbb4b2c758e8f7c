"""Scheduling: the daemon that keeps a site published. Only this package imports apscheduler.

``feeder run`` is :class:`Daemon`: it waits for the database and the daemon
lock, then runs the timers (jobs.scheduler) that ask the build queue
(jobs.build_queue) for builds, which run in a child process
(jobs.build_process), while feeder.server serves the output directory. On
PostgreSQL a listener thread (jobs.watcher) asks for a build as soon as a
change commits.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from jobs.build_process import BuildFailed as BuildFailed
    from jobs.build_process import InlineBuilder as InlineBuilder
    from jobs.build_process import ProcessBuilder as ProcessBuilder
    from jobs.build_queue import BuildQueue as BuildQueue
    from jobs.daemon import STALE_AFTER_SECONDS as STALE_AFTER_SECONDS
    from jobs.daemon import Daemon as Daemon
    from jobs.daemon import DaemonInfo as DaemonInfo
    from jobs.daemon import RunOptions as RunOptions
    from jobs.daemon import daemon_alive as daemon_alive
    from jobs.daemon import daemon_info as daemon_info
    from jobs.daemon import load_settings as load_settings
    from jobs.logs import LogSettings as LogSettings
    from jobs.scheduler import HEARTBEAT as HEARTBEAT
    from jobs.scheduler import NEXT_DUE as NEXT_DUE
    from jobs.scheduler import POLL as POLL
    from jobs.scheduler import REBUILD as REBUILD
    from jobs.scheduler import Schedule as Schedule
    from jobs.scheduler import schedule_publisher as schedule_publisher
    from jobs.signals import Signals as Signals
    from jobs.watcher import ChangeWatcher as ChangeWatcher

#: The daemon's log levels and formats (the command line offers them without loading jobs).
LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS: tuple[Literal["text", "json"], ...] = ("text", "json")

_EXPORTS = {
    "BuildFailed": ("jobs.build_process", "BuildFailed"),
    "BuildQueue": ("jobs.build_queue", "BuildQueue"),
    "ChangeWatcher": ("jobs.watcher", "ChangeWatcher"),
    "Daemon": ("jobs.daemon", "Daemon"),
    "DaemonInfo": ("jobs.daemon", "DaemonInfo"),
    "HEARTBEAT": ("jobs.scheduler", "HEARTBEAT"),
    "InlineBuilder": ("jobs.build_process", "InlineBuilder"),
    "LogSettings": ("jobs.logs", "LogSettings"),
    "NEXT_DUE": ("jobs.scheduler", "NEXT_DUE"),
    "POLL": ("jobs.scheduler", "POLL"),
    "ProcessBuilder": ("jobs.build_process", "ProcessBuilder"),
    "REBUILD": ("jobs.scheduler", "REBUILD"),
    "RunOptions": ("jobs.daemon", "RunOptions"),
    "STALE_AFTER_SECONDS": ("jobs.daemon", "STALE_AFTER_SECONDS"),
    "Schedule": ("jobs.scheduler", "Schedule"),
    "Signals": ("jobs.signals", "Signals"),
    "daemon_alive": ("jobs.daemon", "daemon_alive"),
    "daemon_info": ("jobs.daemon", "daemon_info"),
    "load_settings": ("jobs.daemon", "load_settings"),
    "schedule_publisher": ("jobs.scheduler", "schedule_publisher"),
}

__all__ = [
    "HEARTBEAT",
    "LEVELS",
    "LOG_FORMATS",
    "NEXT_DUE",
    "POLL",
    "REBUILD",
    "STALE_AFTER_SECONDS",
    "BuildFailed",
    "BuildQueue",
    "ChangeWatcher",
    "Daemon",
    "DaemonInfo",
    "InlineBuilder",
    "LogSettings",
    "ProcessBuilder",
    "RunOptions",
    "Schedule",
    "Signals",
    "daemon_alive",
    "daemon_info",
    "load_settings",
    "schedule_publisher",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jobs' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value
