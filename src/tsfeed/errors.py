"""Exception classes raised by tsfeed.

Each class derives from the built-in exception a caller would catch anyway (``ValueError`` for bad
input, ``OSError`` for a damaged store), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "DuplicateTimestampError",
    "EmptyInputError",
    "GapError",
    "MissingValueError",
    "NoWindowsError",
    "SchemaError",
    "StoreCorruptError",
    "StoreExistsError",
    "TsfeedError",
]


class TsfeedError(Exception):
    """Base class of every error that tsfeed raises on purpose."""


class SchemaError(TsfeedError, ValueError):
    """A column is missing, has the wrong type, or differs between input files."""


class EmptyInputError(TsfeedError, ValueError):
    """The input has no rows, or no file matched."""


class MissingValueError(TsfeedError, ValueError):
    """A feature or target has null or NaN values and the policy is ``"error"``."""


class DuplicateTimestampError(TsfeedError, ValueError):
    """A series has two or more rows with the same timestamp."""


class GapError(TsfeedError, ValueError):
    """A series skips time steps and the gap policy is ``"error"``."""


class NoWindowsError(TsfeedError, ValueError):
    """No series is long enough for one window, or a split leaves a side empty."""


class StoreExistsError(TsfeedError, FileExistsError):
    """The target folder of an ingest already contains a store or other files."""


class StoreCorruptError(TsfeedError, OSError):
    """A shard or the manifest of a store is missing, truncated or altered."""


class BackendUnavailableError(TsfeedError, ImportError):
    """An optional backend cannot be imported with the installed packages."""
