"""Scheduling: the daemon that keeps a site published. Only this package imports apscheduler.

``feeder run`` is :class:`Daemon`; ``feeder build`` uses :func:`build_exclusively`
so that it never writes at the same time as a daemon.
"""

from jobs.daemon import STALE_AFTER_SECONDS as STALE_AFTER_SECONDS
from jobs.daemon import Daemon as Daemon
from jobs.daemon import DaemonInfo as DaemonInfo
from jobs.daemon import RunOptions as RunOptions
from jobs.daemon import daemon_info as daemon_info
from jobs.daemon import load_settings as load_settings
from jobs.lock import Lock as Lock
from jobs.lock import daemon_lock as daemon_lock
from jobs.lock import owner as owner
from jobs.lock import publish_lock as publish_lock
from jobs.logs import LOG_FORMATS as LOG_FORMATS
from jobs.logs import LogSettings as LogSettings
from jobs.publisher import Publisher as Publisher
from jobs.publisher import build_exclusively as build_exclusively
from jobs.scheduler import HEARTBEAT as HEARTBEAT
from jobs.scheduler import NEXT_DUE as NEXT_DUE
from jobs.scheduler import POLL as POLL
from jobs.scheduler import REBUILD as REBUILD
from jobs.scheduler import Schedule as Schedule
from jobs.scheduler import schedule_publisher as schedule_publisher
from jobs.server import OutputFiles as OutputFiles
from jobs.server import Server as Server
from jobs.server import create_app as create_app
from jobs.signals import Signals as Signals
from jobs.worker import BuildFailed as BuildFailed
from jobs.worker import InlineBuilder as InlineBuilder
from jobs.worker import WorkerBuilder as WorkerBuilder

__all__ = [
    "HEARTBEAT",
    "LOG_FORMATS",
    "NEXT_DUE",
    "POLL",
    "REBUILD",
    "STALE_AFTER_SECONDS",
    "BuildFailed",
    "Daemon",
    "DaemonInfo",
    "InlineBuilder",
    "Lock",
    "LogSettings",
    "OutputFiles",
    "Publisher",
    "RunOptions",
    "Schedule",
    "Server",
    "Signals",
    "WorkerBuilder",
    "build_exclusively",
    "create_app",
    "daemon_info",
    "daemon_lock",
    "load_settings",
    "owner",
    "publish_lock",
    "schedule_publisher",
]
