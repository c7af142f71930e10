"""Ingest: stream long-format tables into a new store version.

Two passes keep memory bounded by about one bucket, not by the input:

1. Every input batch is normalized (see :mod:`tsfeed.sources`) and its rows are appended to one
   of ``num_buckets`` spill files, chosen by a hash of the series id. All rows of a series end in
   one bucket, wherever they were in the input.
2. Each bucket is read back, sorted by series and time, and each series goes through the rules
   of :mod:`tsfeed.clean` into the shard writer.

Everything is written to a staging folder and published with one rename, so a failed or killed
ingest leaves the target folder as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tsfeed.clean import SeriesRules, clean_series, parse_step
from tsfeed.errors import EmptyInputError, SchemaError
from tsfeed.sources import ColumnPlan, InputFile, list_input_files, read_normalized_batches
from tsfeed.store import Store, open_store
from tsfeed.store_writer import DEFAULT_SHARD_BYTES, StoreWriter, stage_version

logger = logging.getLogger(__name__)

DEFAULT_BUCKET_BYTES = 256 << 20

__all__ = ["ProgressCallback", "ingest", "write_version"]

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; stage is ``"read"`` (bytes) or ``"write"``
(buckets)."""


def ingest(
    source: str | Path | Sequence[str | Path],
    store_path: str | Path,
    *,
    series_column: str | Sequence[str] | None,
    time_column: str,
    feature_columns: Sequence[str] | None = None,
    target_columns: Sequence[str] | None = None,
    missing: str = "error",
    gaps: str = "error",
    step: str | int | dt.timedelta | np.timedelta64 | None = None,
    duplicates: str = "error",
    overwrite: bool = False,
    backend: str = "pyarrow",
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    progress: ProgressCallback | None = None,
) -> Store:
    """Read long-format tables into a store of memory-mapped shards and open it.

    Args:
        source: A CSV, Parquet or Arrow IPC file, a folder of them, or a list of either.
        store_path: Folder for the store. It must not exist, be empty, or be a store and
            ``overwrite`` be true.
        series_column: Column with the series id; a list makes a composite id (for example
            game and customer); None makes the whole input one series.
        time_column: Column with timestamps (zone-aware or naive), dates, or integers.
        feature_columns: Input columns of each window, in order. None takes every column that
            is not the series, time or target column.
        target_columns: Columns predicted from each window. None uses the feature columns.
        missing: Policy for null or NaN values: ``"error"``, ``"ffill"`` or ``"drop"``.
        gaps: Policy for skipped steps: ``"error"``, ``"split"``, ``"fill"`` or ``"ignore"``.
        step: Time between steps, such as ``"1h"``; None infers it per series.
        duplicates: Policy for repeated timestamps: ``"error"``, ``"keep_first"`` or
            ``"keep_last"``.
        overwrite: Replace an existing store with a new version, atomically.
        backend: ``"pyarrow"``, or ``"tfio"`` to read Parquet and Arrow through tensorflow-io.
        shard_bytes: Approximate size of each shard file.
        bucket_bytes: Input bytes per spill bucket; the peak memory of the second pass grows
            with it.
        progress: Optional callback for progress bars.

    Returns:
        The new store, opened.

    Raises:
        SchemaError: A column is missing, not numeric, or typed differently between files.
        EmptyInputError: No input rows.
        MissingValueError, DuplicateTimestampError, GapError: Under the ``"error"`` policies.
        StoreExistsError: ``store_path`` contains data and ``overwrite`` is false.
    """
    started = time.monotonic()
    files = list_input_files(source)
    plan, feature_names = _plan_columns(
        files[0], series_column, time_column, feature_columns, target_columns
    )
    target_names = list(target_columns) if target_columns is not None else feature_names
    rules = SeriesRules(duplicates=duplicates, gaps=gaps, missing=missing, step=parse_step(step))
    total_bytes = sum(file.num_bytes for file in files)
    num_buckets = max(1, math.ceil(total_bytes / bucket_bytes))
    logger.info(
        "ingest of %d files (%.1f MB) into %s started, %d buckets",
        len(files),
        total_bytes / 1e6,
        store_path,
        num_buckets,
    )

    meta = {
        "series_columns": plan.series_columns,
        "time_column": plan.time_column,
        "feature_columns": feature_names,
        "target_columns": target_names,
        "dtype": "float32",
        "policies": {"missing": missing, "gaps": gaps, "duplicates": duplicates},
        "step": rules.step,
        "sources": [str(file.path) for file in files],
    }
    batches = _read_inputs(files, plan, backend, progress)
    summary = write_version(
        Path(store_path), batches, plan, meta, rules, num_buckets, shard_bytes, progress, overwrite
    )
    store = open_store(store_path)
    logger.info(
        "ingest finished in %.1f s: %d series, %d rows, %s",
        time.monotonic() - started,
        store.num_series,
        store.num_rows,
        ", ".join(f"{key}={value}" for key, value in summary.items()),
    )
    return store


def write_version(
    store_path: Path,
    batches: Iterable[pa.RecordBatch],
    plan: ColumnPlan,
    meta: dict[str, Any],
    rules: SeriesRules,
    num_buckets: int,
    shard_bytes: int,
    progress: ProgressCallback | None,
    overwrite: bool,
) -> dict[str, Any]:
    """Spill, clean and write normalized batches as a new store version, then publish it.

    The time kind and zone in ``meta`` and ``rules`` are taken from ``plan`` once the batches
    are read. Nothing is published unless every step succeeds.

    Returns:
        Counts of repaired input (missing rows, dropped duplicates, filled steps, gaps).
    """
    feature_names = list(meta["feature_columns"])
    target_names = list(meta["target_columns"])
    staged = stage_version(store_path, overwrite=overwrite)
    try:
        spill = staged.version_path / "spill"
        spill.mkdir()
        buckets, num_rows = _spill(batches, spill, num_buckets)
        if num_rows == 0:
            raise EmptyInputError(f"the input ({', '.join(meta['sources'][:3])}) has no rows.")
        rules = dataclasses.replace(
            rules, time_kind=plan.time_kind or "datetime", time_zone=plan.time_zone
        )
        writer = StoreWriter(
            staged.version_path, len(feature_names), len(target_names), shard_bytes=shard_bytes
        )
        summary = _write_series(buckets, plan, feature_names, target_names, rules, writer, progress)
        for path in buckets:
            path.unlink()
        spill.rmdir()
        writer.finish(
            {
                **meta,
                "time_kind": plan.time_kind,
                "time_zone": plan.time_zone,
                "summary": summary,
            }
        )
        staged.publish()
    except BaseException:
        staged.discard()
        raise
    return summary


def _plan_columns(
    first: InputFile,
    series_column: str | Sequence[str] | None,
    time_column: str,
    feature_columns: Sequence[str] | None,
    target_columns: Sequence[str] | None,
) -> tuple[ColumnPlan, list[str]]:
    if series_column is None:
        series_columns: list[str] = []
    elif isinstance(series_column, str):
        series_columns = [series_column]
    else:
        series_columns = list(series_column)
    if time_column in series_columns:
        raise ValueError(f"time_column={time_column!r} is also a series column.")
    reserved = {*series_columns, time_column}
    for name, columns in (("feature_columns", feature_columns), ("target_columns", target_columns)):
        if columns is None:
            continue
        if isinstance(columns, str) or not list(columns):
            raise ValueError(f"{name} must be a non-empty list of column names, got {columns!r}.")
        clash = [column for column in columns if column in reserved]
        if clash:
            raise ValueError(
                f"{name} includes {clash[0]!r}, which is the series or time column. Leave it "
                f"out of {name}."
            )
        repeated = sorted({column for column in columns if list(columns).count(column) > 1})
        if repeated:
            raise ValueError(f"{name} lists {repeated[0]!r} more than once.")
    if feature_columns is None:
        try:
            available = _column_names(first)
        except (pa.ArrowInvalid, OSError) as err:
            raise SchemaError(f"cannot read the columns of {first.path}: {err}") from err
        names = [name for name in available if name not in reserved]
    else:
        names = list(feature_columns)
    values = list(dict.fromkeys([*names, *(target_columns or [])]))
    if not values:
        raise SchemaError(f"{first.path} has no column besides the series and time columns.")
    plan = ColumnPlan(series_columns=series_columns, time_column=time_column, value_columns=values)
    return plan, names


def _column_names(file: InputFile) -> list[str]:
    import pyarrow.parquet as pq

    if file.format == "parquet":
        return list(pq.ParquetFile(file.path).schema_arrow.names)
    if file.format == "arrow":
        source = pa.memory_map(str(file.path))
        try:
            return list(pa.ipc.open_file(source).schema.names)
        except pa.ArrowInvalid:
            source.seek(0)
            return list(pa.ipc.open_stream(source).schema.names)
    with open(file.path, "rb") as handle:
        header = handle.readline().decode("utf-8-sig", errors="replace").strip()
    return [name.strip().strip('"') for name in header.split(",") if name.strip()]


def _read_inputs(
    files: list[InputFile], plan: ColumnPlan, backend: str, progress: ProgressCallback | None
) -> Iterator[pa.RecordBatch]:
    total_bytes = sum(file.num_bytes for file in files)
    done_bytes = 0
    for file in files:
        yield from read_normalized_batches(file, plan, backend)
        done_bytes += file.num_bytes
        if progress is not None:
            progress("read", done_bytes, total_bytes)


def _spill(
    batches: Iterable[pa.RecordBatch], spill: Path, num_buckets: int
) -> tuple[list[Path], int]:
    """Append each batch's rows to the bucket file of their series; return the files and rows."""
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    schemas: dict[int, pa.Schema] = {}
    paths = [spill / f"bucket-{index:05d}.arrow" for index in range(num_buckets)]
    num_rows = 0
    try:
        for batch in batches:
            num_rows += batch.num_rows
            for index, part in _partition(batch, num_buckets):
                if index not in writers:
                    schemas[index] = part.schema
                    writers[index] = pa.ipc.new_stream(str(paths[index]), part.schema)
                elif part.schema != schemas[index]:
                    # Rows of an existing store and of new input may type a key differently.
                    part = pa.Table.from_batches([part]).cast(schemas[index]).to_batches()[0]
                writers[index].write_batch(part)
    finally:
        for writer in writers.values():
            writer.close()
    return [path for index, path in enumerate(paths) if index in writers], num_rows


def _partition(batch: pa.RecordBatch, num_buckets: int) -> list[tuple[int, pa.RecordBatch]]:
    if num_buckets == 1:
        return [(0, batch)]
    encoded = pc.dictionary_encode(batch.column("series_id"))
    unique_buckets = np.array(
        [zlib.crc32(value.encode()) % num_buckets for value in encoded.dictionary.to_pylist()],
        dtype=np.int64,
    )
    row_buckets = unique_buckets[encoded.indices.to_numpy(zero_copy_only=False)]
    parts = []
    for index in np.unique(row_buckets):
        parts.append((int(index), batch.filter(pa.array(row_buckets == index))))
    return parts


def _write_series(
    buckets: list[Path],
    plan: ColumnPlan,
    feature_names: list[str],
    target_names: list[str],
    rules: SeriesRules,
    writer: StoreWriter,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    value_names = plan.value_columns
    feature_index = [value_names.index(name) for name in feature_names]
    target_index = [value_names.index(name) for name in target_names]
    key_names = [f"key_{i}" for i in range(len(plan.series_columns))]
    totals = {"rows_missing": 0, "duplicates_dropped": 0, "steps_filled": 0, "gaps": 0}
    for done, path in enumerate(buckets, start=1):
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_stream(source).read_all()
        table = table.sort_by([("series_id", "ascending"), ("time", "ascending")])
        ids = table.column("series_id").to_numpy(zero_copy_only=False)
        times = table.column("time").to_numpy()
        values = np.column_stack(
            [table.column(name).to_numpy(zero_copy_only=False) for name in value_names]
        ).astype(np.float64)
        keys = [table.column(name).to_pylist() for name in key_names]
        bounds = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        for begin, end in zip(np.r_[0, bounds], np.r_[bounds, len(ids)], strict=True):
            series_id = str(ids[begin])
            cleaned = clean_series(
                series_id, times[begin:end], values[begin:end], value_names, rules
            )
            writer.add_series(
                series_id,
                tuple(key[begin] for key in keys),
                cleaned.times,
                cleaned.values[:, feature_index].astype(np.float32),
                cleaned.values[:, target_index].astype(np.float32),
                cleaned.runs,
                cleaned.num_missing,
            )
            totals["rows_missing"] += cleaned.num_missing
            totals["duplicates_dropped"] += cleaned.num_duplicates_dropped
            totals["steps_filled"] += cleaned.num_filled_steps
            totals["gaps"] += cleaned.num_gaps
        if progress is not None:
            progress("write", done, len(buckets))
    if totals["duplicates_dropped"] or totals["steps_filled"] or totals["rows_missing"]:
        logger.warning(
            "repaired input: %d duplicate rows dropped, %d missing steps filled, %d rows with "
            "missing values (policy %r)",
            totals["duplicates_dropped"],
            totals["steps_filled"],
            totals["rows_missing"],
            rules.missing,
        )
    return totals
