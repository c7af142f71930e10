"""Read Parquet and Arrow IPC files through tensorflow-io into pyarrow record batches.

This is the only tsfeed module that imports ``tensorflow_io``, and it does so inside functions,
so importing tsfeed never loads TensorFlow. tensorflow-io 0.37.1, its last release, loads only
with TensorFlow 2.16: on TensorFlow 2.17 and later ``import tensorflow_io`` succeeds, but its
native ops fail to load with undefined symbols on first use. ``check_available`` detects that.

Supported inputs, with the column types that come back identical to pyarrow's own readers:

* Parquet (``PAR1`` magic): bool, int8 to int64, uint8 to uint64, float32, float64, date32,
  timestamp in any unit with or without a time zone, string, large_string and binary.
  tensorflow-io 0.37.1 returns timestamps as int64 counts in the file's stored unit without the
  time zone, and strings as bytes, so this module rebuilds both types from the file's schema.
* Arrow IPC files, also called Feather v2 (``ARROW1`` magic), uncompressed or compressed:
  bool, int8 to int64, uint8 to uint64, float32, float64, string and binary. The tensorflow-io
  Arrow kernel rejects timestamp, date and large_string columns.

Neither tensorflow-io reader represents nulls. Its Parquet reader skips null values and shifts
the following values up a row, and its Arrow reader fails with an InternalError. This module
therefore checks null counts before reading and raises ValueError when a column has nulls.
Paths may be local or any URL that ``tf.io.gfile`` can open (``s3://``, ``hdfs://``,
``gs://``, ``file://``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from importlib import metadata
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

WORKING_COMBINATION = (
    "tensorflow 2.16.x with tensorflow-io 0.37.1, for example: "
    'pip install "tsfeed[tfio]" "tensorflow==2.16.2"'
)
PARQUET_MAGIC = b"PAR1"
ARROW_FILE_MAGIC = b"ARROW1"
_PARQUET_UNITS = {"MILLIS": "ms", "MICROS": "us", "NANOS": "ns"}
_STRING_TYPES = (pa.string(), pa.large_string(), pa.binary())
_NUMERIC_TYPES = (
    pa.bool_(),
    *(pa.int8(), pa.int16(), pa.int32(), pa.int64()),
    *(pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()),
    pa.float32(),
    pa.float64(),
)

__all__ = ["BackendUnavailableError", "check_available", "iter_record_batches"]


class BackendUnavailableError(ImportError):
    """The installed tensorflow-io cannot be imported or its native ops do not load."""


def check_available() -> None:
    """Import tensorflow-io and load its native ops.

    Raises:
        BackendUnavailableError: If tensorflow or tensorflow-io is missing, or if the
            tensorflow-io native library does not load with the installed TensorFlow.
    """
    try:
        import tensorflow as tf
    except ImportError as err:
        raise BackendUnavailableError(_unavailable_message(err)) from err

    try:
        # tensorflow-io warns instead of raising when its file system plugins fail to load.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            from tensorflow_io.python.ops import core_ops

            # The import succeeds on any TensorFlow, and the op library loads on first use.
            _ = core_ops.io_parquet_readable_info
    except (ImportError, NotImplementedError, tf.errors.NotFoundError, OSError) as err:
        raise BackendUnavailableError(_unavailable_message(err)) from err


def iter_record_batches(
    path: str, columns: list[str] | None = None, batch_rows: int = 65536
) -> Iterator[pa.RecordBatch]:
    """Read a Parquet or Arrow IPC file with tensorflow-io and yield pyarrow record batches.

    Values and types match ``pyarrow.parquet.read_table`` for Parquet and
    ``pyarrow.ipc.open_file(path).read_all()`` for Arrow IPC files, for the column types listed
    in the module docstring.

    Args:
        path: Local path or a URL that ``tf.io.gfile`` can open.
        columns: Names of the columns to read, in output order. None reads every column.
        batch_rows: Maximum rows per record batch. Every batch but the last has exactly this
            many rows.

    Yields:
        Record batches with the requested columns.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``batch_rows`` is not positive, a column is missing, has an unsupported
            type or contains nulls, or the file is neither Parquet nor an Arrow IPC file.
        FileNotFoundError: If ``path`` does not exist.
        BackendUnavailableError: If tensorflow-io cannot be used (see ``check_available``).
    """
    _validate_arguments(path, columns, batch_rows)
    check_available()
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"path={path!r} does not exist.")
    with tf.io.gfile.GFile(path, "rb") as file:
        magic = file.read(6)
    if magic.startswith(PARQUET_MAGIC):
        yield from _iter_parquet(path, columns, batch_rows)
    elif magic == ARROW_FILE_MAGIC:
        yield from _iter_arrow_file(path, columns, batch_rows)
    else:
        raise ValueError(
            f"path={path!r} starts with {magic!r}, which is neither Parquet ({PARQUET_MAGIC!r}) "
            f"nor an Arrow IPC file ({ARROW_FILE_MAGIC!r}). The tensorflow-io backend reads only "
            "these two formats, and Arrow IPC streams and Feather v1 files are not supported."
        )


def _iter_parquet(path: str, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import tensorflow as tf
    from tensorflow_io.python.ops import core_ops

    with _open_source(path) as source:
        parquet_file = pq.ParquetFile(source)
        schema = _select(parquet_file.schema_arrow, columns, path)
        _check_types(schema, _NUMERIC_TYPES + _STRING_TYPES + (pa.date32(),), path, "Parquet")
        stored_units = _check_parquet_columns(parquet_file, schema, path)

    # tensorflow-io caches one reader per `shared` key for the life of the process, and a cached
    # reader crashes the process once the file is rewritten, so the key includes size and mtime.
    # NOTE: a rewrite that keeps both the size and the mtime still reuses the stale reader.
    stat = tf.io.gfile.stat(path)
    shared = f"{path}|{stat.length}|{stat.mtime_nsec}"
    names, shapes, dtypes = core_ops.io_parquet_readable_info(path, shared=shared, container="tsfeed")
    info = {name.decode(): (shape, tf.as_dtype(int(code))) for name, shape, code in zip(names.numpy(), shapes, dtypes.numpy())}
    num_rows = parquet_file.metadata.num_rows
    logger.debug("Reading %s rows of %s columns from %s with tensorflow-io", num_rows, len(schema), path)
    for start in range(0, num_rows, batch_rows):
        stop = min(start + batch_rows, num_rows)
        arrays = []
        for field in schema:
            shape, dtype = info[field.name]
            values = core_ops.io_parquet_readable_read(
                input=path, shared=shared, component=field.name, shape=shape,
                start=start, stop=stop, dtype=dtype, container="tsfeed",
            ).numpy()
            arrays.append(_to_arrow(values, field.type, stored_units.get(field.name)))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _iter_arrow_file(path: str, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import tensorflow as tf
    import tensorflow_io.arrow as arrow_io

    with _open_source(path) as source:
        reader = pa.ipc.open_file(source)
        schema = _select(reader.schema, columns, path)
        _check_types(schema, _NUMERIC_TYPES + (pa.string(), pa.binary()), path, "Arrow IPC")
        if _is_local(path):
            # Null counts are stored in each batch's metadata, and memory mapping reads no data.
            _raise_on_nulls(path, schema, [reader.get_batch(i) for i in range(reader.num_record_batches)])

    indices = [reader.schema.get_field_index(name) for name in schema.names]
    dtypes = tuple(tf.string if field.type in _STRING_TYPES else tf.as_dtype(field.type.to_pandas_dtype()) for field in schema)
    dataset = arrow_io.ArrowFeatherDataset(
        path, columns=indices, output_types=dtypes,
        output_shapes=tuple(tf.TensorShape([]) for _ in dtypes),
        batch_size=batch_rows, batch_mode="keep_remainder",
    )
    try:
        for tensors in dataset:
            arrays = [_to_arrow(t.numpy(), field.type, None) for t, field in zip(tensors, schema)]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    except tf.errors.InternalError as err:
        if "null values" not in str(err):
            raise
        raise ValueError(
            f"path={path!r} has nulls in at least one of the columns {schema.names}, and "
            "tensorflow-io cannot read nulls. Fill or drop them before writing the file, or "
            "read it with pyarrow."
        ) from err


def _validate_arguments(path: object, columns: object, batch_rows: object) -> None:
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, got {type(path).__name__}: {path!r}.")
    if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
        raise TypeError(f"columns must be a list of str or None, got {columns!r}.")
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int):
        raise TypeError(f"batch_rows must be an int, got {type(batch_rows).__name__}: {batch_rows!r}.")
    if batch_rows < 1:
        raise ValueError(f"batch_rows={batch_rows} must be at least 1.")
