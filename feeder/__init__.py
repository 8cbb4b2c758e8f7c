"""feeder: publish articles from a database as valid RSS 2.0 and Atom 1.0 feeds.

The public API is what this module exports; everything else may change.
Names are loaded on first use, so that ``feeder --help`` and scripts that
need one part do not pay for all of them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feeder.articles import Article as Article
    from feeder.articles import Tombstone as Tombstone
    from feeder.config import Config as Config
    from feeder.config import load as load_config
    from feeder.entries import Enclosure as Enclosure
    from feeder.entries import Episode as Episode
    from feeder.entries import Media as Media
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
    from feeder.publishing.websub import PingPolicy as PingPolicy
    from feeder.publishing.websub import PingReport as PingReport
    from feeder.site import DaemonStatus as DaemonStatus
    from feeder.site import OutputStatus as OutputStatus
    from feeder.site import Purged as Purged
    from feeder.site import Site as Site
    from feeder.site import SiteStatus as SiteStatus

# Public name -> (module, name in it); keep __all__ below in step.
_EXPORTS = {
    "Article": ("feeder.articles", "Article"),
    "BuildReport": ("feeder.publishing.build", "BuildReport"),
    "Config": ("feeder.config", "Config"),
    "ConfigError": ("feeder.errors", "ConfigError"),
    "ConflictError": ("feeder.errors", "ConflictError"),
    "DaemonStatus": ("feeder.site", "DaemonStatus"),
    "Draft": ("feeder.importing.formats", "Draft"),
    "Enclosure": ("feeder.entries", "Enclosure"),
    "Episode": ("feeder.entries", "Episode"),
    "FeederError": ("feeder.errors", "FeederError"),
    "ImportReport": ("feeder.importing.importer", "ImportReport"),
    "InputError": ("feeder.errors", "InputError"),
    "LockedError": ("feeder.errors", "LockedError"),
    "Media": ("feeder.entries", "Media"),
    "NotFoundError": ("feeder.errors", "NotFoundError"),
    "OutputStatus": ("feeder.site", "OutputStatus"),
    "Person": ("feeder.entries", "Person"),
    "PingPolicy": ("feeder.publishing.websub", "PingPolicy"),
    "PingReport": ("feeder.publishing.websub", "PingReport"),
    "PublishError": ("feeder.errors", "PublishError"),
    "Purged": ("feeder.site", "Purged"),
    "Site": ("feeder.site", "Site"),
    "SiteStatus": ("feeder.site", "SiteStatus"),
    "StorageError": ("feeder.errors", "StorageError"),
    "TagRef": ("feeder.entries", "TagRef"),
    "Tombstone": ("feeder.articles", "Tombstone"),
    "load_config": ("feeder.config", "load"),
}

__all__ = [
    "Article",
    "BuildReport",
    "Config",
    "ConfigError",
    "ConflictError",
    "DaemonStatus",
    "Draft",
    "Enclosure",
    "Episode",
    "FeederError",
    "ImportReport",
    "InputError",
    "LockedError",
    "Media",
    "NotFoundError",
    "OutputStatus",
    "Person",
    "PingPolicy",
    "PingReport",
    "PublishError",
    "Purged",
    "Site",
    "SiteStatus",
    "StorageError",
    "TagRef",
    "Tombstone",
    "__version__",
    "load_config",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("feeder")
        except PackageNotFoundError:  # running from a source tree that is not installed
            value = "0+unknown"
    elif name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        value = getattr(import_module(module), attribute)
    else:
        raise AttributeError(f"module 'feeder' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
