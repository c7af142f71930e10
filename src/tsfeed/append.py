"""Appending new series or new time steps to an existing store, atomically.

The nightly-update case: yesterday's rows for known series, and rows of new series, are merged
with the published version and written as the next version, which replaces the old one with the
same atomic pointer swap as an overwrite. Readers that opened the old version keep reading it.
The merge rewrites the whole store, so an append costs about as much as the first ingest.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tsfeed.clean import SeriesRules
from tsfeed.ingest import (
    DEFAULT_BUCKET_BYTES,
    ProgressCallback,
    _read_inputs,
    write_version,
)
from tsfeed.sources import ColumnPlan, list_input_files
from tsfeed.store import Store, open_store
from tsfeed.store_writer import DEFAULT_SHARD_BYTES

logger = logging.getLogger(__name__)

_ROWS_PER_BATCH = 1 << 20

__all__ = ["append"]


def append(
    source: str | Path | Sequence[str | Path],
    store_path: str | os.PathLike[str],
    *,
    duplicates: str | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    progress: ProgressCallback | None = None,
) -> Store:
    """Add the rows of ``source`` to the store at ``store_path`` as a new version.

    The source needs the store's series, time, feature and target columns. The store's policies
    for missing values and gaps apply to the merged series.

    Args:
        source: Files or folders, as for :func:`tsfeed.ingest`.
        store_path: An existing store.
        duplicates: Policy for timestamps present in both the store and the source; None uses
            the store's policy. ``"keep_last"`` lets the new rows win.
        shard_bytes: Approximate size of each shard file.
        bucket_bytes: Input bytes per spill bucket.
        progress: Optional callback for progress bars.

    Returns:
        The new version of the store, opened.

    Raises:
        FileNotFoundError: If ``store_path`` is not a store.
        SchemaError: If the source lacks a column or types time differently from the store.
        DuplicateTimestampError: If a timestamp repeats and the policy is ``"error"``.
    """
    started = time.monotonic()
    store = open_store(store_path)
    meta = store.meta
    files = list_input_files(source)
    values = list(dict.fromkeys([*store.feature_columns, *store.target_columns]))
    plan = ColumnPlan(
        series_columns=list(meta["series_columns"]),
        time_column=meta["time_column"],
        value_columns=values,
        time_kind=meta["time_kind"],
        time_zone=meta["time_zone"],
        _first_file=store.version_path,
    )
    policies = meta["policies"]
    rules = SeriesRules(
        duplicates=duplicates or policies["duplicates"],
        gaps=policies["gaps"],
        missing=policies["missing"],
        step=meta["step"],
    )
    new_bytes = sum(file.num_bytes for file in files)
    old_bytes = sum(entry["num_bytes"] for entry in meta["shards"])
    num_buckets = max(1, math.ceil((new_bytes + old_bytes) / bucket_bytes))
    logger.info("append of %d files to %s started", len(files), store.path)

    new_meta: dict[str, Any] = {
        key: meta[key]
        for key in ("series_columns", "time_column", "feature_columns", "target_columns", "dtype")
    }
    new_meta["policies"] = {**policies, "duplicates": rules.duplicates}
    new_meta["step"] = meta["step"]
    new_meta["sources"] = [*meta.get("sources", []), *(str(file.path) for file in files)]

    def batches() -> Iterator[pa.RecordBatch]:
        # The stored rows go first, so that keep_first keeps them and keep_last the new ones.
        yield from _stored_batches(store, plan)
        yield from _read_inputs(files, plan, "pyarrow", progress)

    write_version(
        store.path, batches(), plan, new_meta, rules, num_buckets, shard_bytes, progress, True
    )
    result = open_store(store.path)
    logger.info(
        "append finished in %.1f s: %d series (%d before), %d rows (%d before)",
        time.monotonic() - started,
        result.num_series,
        store.num_series,
        result.num_rows,
        store.num_rows,
    )
    return result


def _stored_batches(store: Store, plan: ColumnPlan) -> Iterator[pa.RecordBatch]:
    """Yield the rows of every shard as normalized batches, as the input readers make them."""
    ids = pa.array(store.series_ids, pa.string())
    keys = store.series_keys()
    feature_index = {name: i for i, name in enumerate(store.feature_columns)}
    target_index = {name: i for i, name in enumerate(store.target_columns)}
    for shard in range(len(store.meta["shards"])):
        positions = np.flatnonzero(store.shard_of == shard)
        positions = positions[np.argsort(store.row_offset[positions])]
        row_series = pa.array(np.repeat(positions, store.num_steps[positions]))
        data = store.shard(shard)
        for begin in range(0, len(row_series), _ROWS_PER_BATCH):
            chunk = slice(begin, begin + _ROWS_PER_BATCH)
            owners = row_series[chunk]
            arrays: dict[str, pa.Array] = {"series_id": ids.take(owners)}
            for i, key in enumerate(keys):
                arrays[f"key_{i}"] = key.take(owners)
            arrays["time"] = pa.array(data.times[chunk])
            for name in plan.value_columns:
                if name in feature_index:
                    column = data.features[chunk, feature_index[name]]
                else:
                    column = data.targets[chunk, target_index[name]]
                arrays[name] = pa.array(column.astype(np.float64))
            yield pa.record_batch(arrays)
