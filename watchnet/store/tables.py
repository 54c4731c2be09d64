"""Imports every table module so ``Base.metadata`` is complete (Alembic env, schema comparisons).

Each domain keeps its tables in its own ``watchnet/store/schema_<domain>.py`` on the shared ``Base``
and its own migration branch off ``0001``; ``migrate`` upgrades to all heads.
"""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import MetaData

import watchnet.store as _package
from watchnet.store.schema import Base


def load_all_tables() -> MetaData:
    """Import ``watchnet.store.schema_*`` and return the complete metadata."""
    for info in pkgutil.iter_modules(_package.__path__):
        if info.name.startswith("schema_"):
            importlib.import_module(f"watchnet.store.{info.name}")
    return Base.metadata
