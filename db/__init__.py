"""Storage for feeder: models, engine and sessions, queries, migrations.

This package knows nothing about feeds.
"""

from db.engine import create as create_engine
from db.engine import read_session as read_session
from db.engine import write_session as write_session
from db.models import Article as Article
from db.models import Author as Author
from db.models import Removal as Removal
from db.models import State as State
from db.models import Tag as Tag

__all__ = [
    "Article",
    "Author",
    "Removal",
    "State",
    "Tag",
    "create_engine",
    "read_session",
    "write_session",
]
