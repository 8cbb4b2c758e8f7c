"""Serving the output directory over HTTP (``feeder run`` without ``--no-serve``).

Importing this package loads neither uvicorn nor click; :meth:`Server.start` does.
"""

from feeder.server._files import FEED_NAMES as FEED_NAMES
from feeder.server._files import SERVED_TYPES as SERVED_TYPES
from feeder.server._files import OutputFiles as OutputFiles
from feeder.server._files import accepts_gzip as accepts_gzip
from feeder.server._files import create_app as create_app
from feeder.server._files import media_type_of as media_type_of
from feeder.server._files import not_modified as not_modified
from feeder.server._http import Server as Server

__all__ = [
    "FEED_NAMES",
    "SERVED_TYPES",
    "OutputFiles",
    "Server",
    "accepts_gzip",
    "create_app",
    "media_type_of",
    "not_modified",
]
