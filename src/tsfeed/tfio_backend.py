"""Read Parquet and Arrow IPC files through tensorflow-io into pyarrow record batches.

This is the only tsfeed module that imports ``tensorflow_io``, and only inside functions.
tensorflow-io 0.37.1, the last release, requires tensorflow>=2.16,<2.17. With TensorFlow 2.21,
``import tensorflow_io`` still succeeds, but the native ops fail to load with undefined symbols
on first use, which ``check_available`` detects.

Column types read identically to pyarrow's own readers:

* Parquet: bool, int8 to int64, uint8 to uint64, float32, float64, date32, string,
  large_string, binary, and timestamp in any unit with or without a time zone. tensorflow-io
  returns timestamps as int64 in the stored unit without the time zone and strings as bytes,
  so both types are rebuilt from the file's schema.
* Arrow IPC files (Feather v2), compressed or not: bool, int8 to int64, uint8 to uint64,
  float32, float64, string and binary. tensorflow-io rejects timestamp, date and large_string.

Neither tensorflow-io reader supports nulls. The Parquet reader skips them and shifts later
values up, and the Arrow reader fails, so null counts are checked before reading. Paths may be
local or any URL that ``tf.io.gfile`` opens (``s3://``, ``hdfs://``, ``file://``).
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

from tsfeed.errors import BackendUnavailableError

logger = logging.getLogger(__name__)

WORKING_COMBINATION = (
    "tensorflow 2.16.x with tensorflow-io 0.37.1, for example: "
    'pip install "tsfeed[tfio]" "tensorflow==2.16.2"'
)
PARQUET_MAGIC = b"PAR1"
ARROW_FILE_MAGIC = b"ARROW1"
_PARQUET_TIME_UNITS = {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}
_STRING_TYPES = (pa.string(), pa.large_string(), pa.binary())
# Arrow types that both readers return as NumPy arrays, mapped to the dtype tensorflow-io reads
# from Arrow IPC files. Its Parquet reader widens int8, int16, uint8 and uint16 to int32 and
# returns uint32 and uint64 as the signed type of the same width.
_NUMERIC_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_NUMERIC_TYPES = {pa.type_for_alias(name): name for name in (*_NUMERIC_NAMES, "float32", "float64")}

__all__ = ["check_available", "iter_record_batches", "read_schema_names"]


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

            # The import succeeds even where the op library cannot load, because tensorflow-io
            # loads it on first use, so one op is looked up here.
            _ = core_ops.io_parquet_readable_info
    except (ImportError, NotImplementedError, tf.errors.NotFoundError, OSError) as err:
        raise BackendUnavailableError(_unavailable_message(err)) from err


def iter_record_batches(
    path: str, columns: list[str] | None = None, batch_rows: int = 65536
) -> Iterator[pa.RecordBatch]:
    """Read a Parquet or Arrow IPC file with tensorflow-io as pyarrow record batches.

    Values and types match ``pyarrow.parquet.read_table`` for Parquet and
    ``pyarrow.ipc.open_file(path).read_all()`` for Arrow IPC files, for the column types listed
    in the module docstring. The arguments, the schema and the null counts are checked when
    this function is called, before any batch is read.

    Args:
        path: Local path or a URL that ``tf.io.gfile`` can open.
        columns: Names of the columns to read, in output order. None reads every column.
        batch_rows: Maximum rows per record batch. Every batch but the last has exactly this
            many rows, and an empty file yields no batch.

    Returns:
        An iterator over record batches with the requested columns.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``batch_rows`` is not positive, a column is missing, has an unsupported
            type or contains nulls, or the file is neither Parquet nor an Arrow IPC file.
        FileNotFoundError: If ``path`` does not exist.
        BackendUnavailableError: If tensorflow-io cannot be used (see ``check_available``).
    """
    _validate_arguments(path, columns, batch_rows)
    check_available()

    if _detect_format(path) == "parquet":
        return _read_parquet(path, columns, batch_rows)
    return _read_arrow_file(path, columns, batch_rows)


def read_schema_names(path: str) -> list[str]:
    """Read the column names of a Parquet or Arrow IPC file from its metadata.

    Args:
        path: Local path or a URL that ``tf.io.gfile`` can open.

    Returns:
        The column names in file order.

    Raises:
        TypeError: If ``path`` is not a str.
        ValueError: If the file is neither Parquet nor an Arrow IPC file.
        FileNotFoundError: If ``path`` does not exist.
        BackendUnavailableError: If tensorflow-io cannot be used (see ``check_available``).
    """
    _validate_arguments(path, None, 1)
    check_available()

    file_format = _detect_format(path)
    with _open_source(path) as source:
        if file_format == "parquet":
            return list(pq.ParquetFile(source).schema_arrow.names)
        return list(pa.ipc.open_file(source).schema.names)


def _read_parquet(
    path: str, columns: list[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    import tensorflow as tf
    from tensorflow_io.python.ops import core_ops

    with _open_source(path) as source:
        parquet_file = pq.ParquetFile(source)
        schema = _select(parquet_file.schema_arrow, columns, path)
        _check_types(schema, path, "Parquet")
        stored_units = _check_parquet_columns(parquet_file, schema, path)
    num_rows = parquet_file.metadata.num_rows

    # tensorflow-io caches one reader per `shared` key for the life of the process, and a cached
    # reader crashes the process once the file is rewritten, so the key includes size and mtime.
    # NOTE: a rewrite that keeps both the size and the mtime still reuses the stale reader.
    stat = tf.io.gfile.stat(path)
    shared = f"{path}|{stat.length}|{stat.mtime_nsec}"
    names, shapes, codes = core_ops.io_parquet_readable_info(
        path, shared=shared, container="tsfeed"
    )
    # Each shape is padded with -1 up to the highest rank in the file.
    info = {
        name.decode(): (shape[shape >= 0], tf.as_dtype(int(code)))
        for name, shape, code in zip(names.numpy(), shapes.numpy(), codes.numpy(), strict=True)
    }

    def read_column(field: pa.Field, start: int, stop: int) -> pa.Array:
        shape, dtype = info[field.name]
        values = core_ops.io_parquet_readable_read(
            input=path, shared=shared, component=field.name, shape=shape,
            start=start, stop=stop, dtype=dtype, container="tsfeed",
        )  # fmt: skip
        return _to_arrow(values.numpy(), field.type, stored_units.get(field.name))

    def generate() -> Iterator[pa.RecordBatch]:
        logger.debug("Reading %s rows of %s with tensorflow-io", num_rows, path)
        for start in range(0, num_rows, batch_rows):
            stop = min(start + batch_rows, num_rows)
            arrays = [read_column(field, start, stop) for field in schema]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    return generate()


def _read_arrow_file(
    path: str, columns: list[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    import tensorflow as tf
    import tensorflow_io.arrow as arrow_io

    with _open_source(path) as source:
        reader = pa.ipc.open_file(source)
        schema = _select(reader.schema, columns, path)
        _check_types(schema, path, "Arrow IPC")
        # Each batch's metadata stores its null counts, and a memory map decompresses batches
        # but copies nothing else. Remote files are not read twice: tensorflow-io's error is
        # translated below.
        if _is_local(path):
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
            _raise_if_nulls(
                path,
                {name: sum(b.column(name).null_count for b in batches) for name in schema.names},
            )
    indices = [reader.schema.get_field_index(name) for name in schema.names]

    dtypes = tuple(tf.as_dtype(_NUMERIC_TYPES.get(field.type, "string")) for field in schema)
    dataset = arrow_io.ArrowFeatherDataset(
        path, columns=indices, output_types=dtypes,
        output_shapes=tuple(tf.TensorShape([]) for _ in dtypes),
        batch_size=batch_rows, batch_mode="keep_remainder",
    )  # fmt: skip

    def generate() -> Iterator[pa.RecordBatch]:
        try:
            for tensors in dataset:
                arrays = [
                    _to_arrow(tensor.numpy(), field.type, None)
                    for tensor, field in zip(tensors, schema, strict=True)
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        except tf.errors.InternalError as err:
            if "null values" not in str(err):
                raise
            raise ValueError(
                f"path={path!r} has nulls in at least one of the columns {schema.names}, and "
                "tensorflow-io cannot read nulls. Fill or drop the nulls before writing the "
                "file, or read it with pyarrow."
            ) from err

    return generate()


def _detect_format(path: str) -> str:
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"path={path!r} does not exist.")
    with tf.io.gfile.GFile(path, "rb") as file:
        magic = file.read(len(ARROW_FILE_MAGIC))
    if magic.startswith(PARQUET_MAGIC):
        return "parquet"
    if magic == ARROW_FILE_MAGIC:
        return "arrow"
    raise ValueError(
        f"path={path!r} starts with {magic!r}, which is neither Parquet ({PARQUET_MAGIC!r}) "
        f"nor an Arrow IPC file ({ARROW_FILE_MAGIC!r}). The tensorflow-io backend reads only "
        "these two formats, so Arrow IPC streams and Feather v1 files are not supported."
    )


def _validate_arguments(path: object, columns: object, batch_rows: object) -> None:
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, got {type(path).__name__}: {path!r}.")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        raise TypeError(f"columns must be a list of str or None, got {columns!r}.")
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int):
        raise TypeError(
            f"batch_rows must be an int, got {type(batch_rows).__name__}: {batch_rows!r}."
        )
    if batch_rows < 1:
        raise ValueError(f"batch_rows={batch_rows} must be at least 1.")


def _unavailable_message(err: BaseException) -> str:
    # The last line of tensorflow-io's load error names the undefined symbol.
    lines = str(err).strip().splitlines() or [type(err).__name__]
    reason = lines[-1] if len(lines[-1]) <= 300 else lines[-1][:297] + "..."
    tf_version = _installed_version("tensorflow", "tensorflow-cpu")
    tfio_version = _installed_version("tensorflow-io")
    return (
        f"The tensorflow-io backend is unavailable with tensorflow {tf_version} and "
        f"tensorflow-io {tfio_version}: {type(err).__name__}: {reason}. "
        f"It works with {WORKING_COMBINATION}."
    )


def _installed_version(*distributions: str) -> str:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def _is_local(path: str) -> bool:
    return "://" not in path


def _open_source(path: str) -> Any:
    """Open ``path`` for pyarrow: memory-mapped when local, through tf.io.gfile otherwise."""
    if _is_local(path):
        return pa.memory_map(os.fspath(path))
    import tensorflow as tf

    return _GFileSource(tf.io.gfile.GFile(path, "rb"))


class _GFileSource(io.RawIOBase):
    """Seekable binary file over a ``tf.io.gfile.GFile``, which lacks the ``closed`` property
    that pyarrow checks."""

    def __init__(self, gfile: Any) -> None:
        super().__init__()
        self._gfile = gfile

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._gfile.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._gfile.seek(offset, whence)
        return int(self._gfile.tell())

    def tell(self) -> int:
        return int(self._gfile.tell())

    def close(self) -> None:
        if not self.closed:
            self._gfile.close()
        super().close()


def _select(schema: pa.Schema, columns: Sequence[str] | None, path: str) -> pa.Schema:
    if columns is None:
        return pa.schema(list(schema))
    for name in columns:
        if name not in schema.names:
            raise ValueError(
                f"Column {name!r} not found in path={path!r}. Its columns are {schema.names}."
            )
    if len(set(columns)) != len(columns):
        raise ValueError(f"columns={columns} names a column twice. Name each column once.")
    return pa.schema([schema.field(name) for name in columns])


def _check_types(schema: pa.Schema, path: str, format_name: str) -> None:
    """Raise ValueError for a column type outside the module docstring's list."""
    for field in schema:
        supported = field.type in _NUMERIC_TYPES or field.type in (pa.string(), pa.binary())
        if format_name == "Parquet":
            supported = supported or field.type in (pa.large_string(), pa.date32())
            supported = supported or pa.types.is_timestamp(field.type)
        if not supported:
            # Unsupported types fail in tensorflow-io in different ways, float16 in Parquet
            # with a segmentation fault, so they are rejected up front.
            raise ValueError(
                f"Column {field.name!r} in path={path!r} has type {field.type}, which the "
                f"tensorflow-io backend does not read from {format_name} files. Cast it to a "
                "type listed in the tsfeed.tfio_backend docstring, or read the file with pyarrow."
            )


def _check_parquet_columns(
    parquet_file: pq.ParquetFile, schema: pa.Schema, path: str
) -> dict[str, str]:
    """Raise ValueError on nulls or unknown null counts, and return each timestamp's stored unit."""
    leaves = {parquet_file.schema.column(i).path: i for i in range(len(parquet_file.schema))}
    file_metadata = parquet_file.metadata
    stored_units: dict[str, str] = {}
    null_counts: dict[str, int] = {}
    for name in schema.names:
        column = parquet_file.schema.column(leaves[name])
        if column.physical_type == "INT96":
            raise ValueError(
                f"Column {name!r} in path={path!r} stores INT96 timestamps, which tensorflow-io "
                "does not read. Rewrite the file with int64 timestamps or read it with pyarrow."
            )
        logical = json.loads(column.logical_type.to_json())
        if logical.get("Type") == "Timestamp":
            stored_units[name] = _PARQUET_TIME_UNITS[logical["timeUnit"]]
        if column.max_definition_level == 0:
            continue  # a required column cannot hold nulls
        null_counts[name] = 0
        for group in range(file_metadata.num_row_groups):
            statistics = file_metadata.row_group(group).column(leaves[name]).statistics
            if statistics is None or not statistics.has_null_count:
                raise ValueError(
                    f"Column {name!r} in path={path!r} has no null count in row group {group}, "
                    "so nulls, which tensorflow-io reads wrongly, cannot be ruled out. Write "
                    "the file with column statistics or read it with pyarrow."
                )
            null_counts[name] += statistics.null_count
    _raise_if_nulls(path, null_counts)
    return stored_units


def _raise_if_nulls(path: str, null_counts: dict[str, int]) -> None:
    with_nulls = {name: count for name, count in null_counts.items() if count > 0}
    if with_nulls:
        raise ValueError(
            f"path={path!r} has nulls (column: count) {with_nulls}, and tensorflow-io cannot "
            "read nulls: its Parquet reader shifts later values into their rows, and its Arrow "
            "reader fails. Fill or drop the nulls before writing the file, or read it with pyarrow."
        )


def _to_arrow(values: np.ndarray, arrow_type: pa.DataType, stored_unit: str | None) -> pa.Array:
    """Convert one column of tensorflow-io output to ``arrow_type``, checking every cast."""
    if arrow_type in _STRING_TYPES:
        return pa.array(values, pa.binary()).cast(arrow_type)  # a cast to string checks UTF-8
    if pa.types.is_timestamp(arrow_type):
        return pa.array(values, pa.timestamp(stored_unit, arrow_type.tz)).cast(arrow_type)
    if pa.types.is_unsigned_integer(arrow_type) and values.dtype.kind == "i":
        values = values.view(f"u{values.dtype.itemsize}")
    return pa.array(values).cast(arrow_type)
