"""tsfeed: lazy sliding windows over many memory-mapped time series, for Keras and tf.data.

The window and split rules (:mod:`tsfeed.windows`, :mod:`tsfeed.split`) and the store
(:mod:`tsfeed.store`, :mod:`tsfeed.ingest`) import without TensorFlow; :func:`make_datasets`
imports it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tsfeed.append import append
from tsfeed.errors import (
    BackendUnavailableError,
    DuplicateTimestampError,
    EmptyInputError,
    GapError,
    MissingValueError,
    NoWindowsError,
    SchemaError,
    StoreCorruptError,
    StoreExistsError,
    TsfeedError,
)
from tsfeed.ingest import ingest
from tsfeed.split import Cutoff
from tsfeed.store import Store, open_store
from tsfeed.windows import WindowSpec

if TYPE_CHECKING:
    from tsfeed.pipeline import make_datasets

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "Cutoff",
    "DuplicateTimestampError",
    "EmptyInputError",
    "GapError",
    "MissingValueError",
    "NoWindowsError",
    "SchemaError",
    "Store",
    "StoreCorruptError",
    "StoreExistsError",
    "TsfeedError",
    "WindowSpec",
    "append",
    "ingest",
    "make_datasets",
    "open_store",
]


def __getattr__(name: str) -> Any:
    # make_datasets lives in the TensorFlow layer, which is imported only when it is first used.
    if name == "make_datasets":
        from tsfeed.pipeline import make_datasets

        return make_datasets
    raise AttributeError(f"module 'tsfeed' has no attribute {name!r}")
