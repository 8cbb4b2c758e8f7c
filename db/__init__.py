"""Storage for feeder: the only package that speaks SQL or takes database locks.

It knows nothing about feeds. The domain asks :class:`Storage` for a
transaction and calls the typed methods of its :class:`Reader` or
:class:`Writer`; rows come back as plain records, and failures as
:class:`StorageFailure`.
"""

from db.engine import create as create_engine
from db.errors import Clash as Clash
from db.errors import Missing as Missing
from db.errors import StorageFailure as StorageFailure
from db.locks import Lock as Lock
from db.locks import LockUnavailable as LockUnavailable
from db.locks import owner as owner
from db.models import LIMITS as LIMITS
from db.models import Article as Article
from db.models import Author as Author
from db.models import Removal as Removal
from db.models import State as State
from db.models import Tag as Tag
from db.notify import ChangeListener as ChangeListener
from db.queries import Selection as Selection
from db.records import StateRecord as StateRecord
from db.records import StoredArticle as StoredArticle
from db.records import StoredPerson as StoredPerson
from db.records import StoredRemoval as StoredRemoval
from db.storage import Reader as Reader
from db.storage import Storage as Storage
from db.storage import Writer as Writer
from db.writes import ArticleValues as ArticleValues
from db.writes import PersonValues as PersonValues
from db.writes import WritePlan as WritePlan

__all__ = [
    "LIMITS",
    "Article",
    "ArticleValues",
    "Author",
    "ChangeListener",
    "Clash",
    "Lock",
    "LockUnavailable",
    "Missing",
    "PersonValues",
    "Reader",
    "Removal",
    "Selection",
    "State",
    "StateRecord",
    "Storage",
    "StorageFailure",
    "StoredArticle",
    "StoredPerson",
    "StoredRemoval",
    "Tag",
    "WritePlan",
    "Writer",
    "create_engine",
    "owner",
]
