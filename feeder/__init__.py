"""feeder: publish articles from a database as valid RSS 2.0 and Atom 1.0 feeds.

The public API is what this module exports; everything else may change.
"""

from importlib.metadata import PackageNotFoundError, version

from feeder.articles import Article as Article
from feeder.config import Config as Config
from feeder.config import load as load_config
from feeder.entries import Person as Person
from feeder.entries import TagRef as TagRef
from feeder.errors import ConfigError as ConfigError
from feeder.errors import ConflictError as ConflictError
from feeder.errors import FeederError as FeederError
from feeder.errors import InputError as InputError
from feeder.errors import LockedError as LockedError
from feeder.errors import NotFoundError as NotFoundError
from feeder.errors import PublishError as PublishError
from feeder.errors import StorageError as StorageError
from feeder.importing.formats import Draft as Draft
from feeder.importing.importer import ImportReport as ImportReport
from feeder.publishing.build import BuildReport as BuildReport
from feeder.site import Site as Site
from feeder.site import SiteStatus as SiteStatus

try:
    __version__ = version("feeder")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Article",
    "BuildReport",
    "Config",
    "ConfigError",
    "ConflictError",
    "Draft",
    "FeederError",
    "ImportReport",
    "InputError",
    "LockedError",
    "NotFoundError",
    "Person",
    "PublishError",
    "Site",
    "SiteStatus",
    "StorageError",
    "TagRef",
    "__version__",
    "load_config",
]
