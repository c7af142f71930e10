"""Reading long-format input files as a stream of normalized record batches.

One input row is one step of one series. Every batch that leaves this module has the same
columns, whatever the file format:

* ``series_id`` (string): the id; the values of a composite id are joined by ``/``, with
  ``\\`` and ``/`` inside a value escaped by a backslash;
* ``key_0``, ``key_1``, ...: the original id columns, used to sort series;
* ``time`` (int64): nanoseconds since the epoch for datetime columns, the value itself for integer
  time columns;
* one float64 column per feature and target, with nulls kept as nulls.

Types are checked here, file by file, so that a bad column fails before anything is written.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tsfeed.errors import EmptyInputError, SchemaError

logger = logging.getLogger(__name__)

SUFFIX_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
BATCH_ROWS = 65_536
_CSV_BLOCK_BYTES = 16 << 20
_FLOAT32_EXACT_INT = 1 << 24
_ZONE_SUFFIX = r"(Z|z|[+-]\d\d(:?\d\d)?)$"

__all__ = ["ColumnPlan", "InputFile", "list_input_files", "read_normalized_batches"]


@dataclasses.dataclass(frozen=True)
class InputFile:
    """One input file and its format (``"csv"``, ``"parquet"`` or ``"arrow"``)."""

    path: Path
    format: str

    @property
    def num_bytes(self) -> int:
        """Size of the file on disk."""
        return self.path.stat().st_size


@dataclasses.dataclass
class ColumnPlan:
    """The columns an ingest reads and the types it settled on from the first file.

    Attributes:
        series_columns: Id columns; empty when the whole input is one series.
        time_column: The time column.
        value_columns: Feature columns followed by the target columns that are not features.
        time_kind: ``"datetime"`` or ``"integer"``, fixed by the first batch.
        time_zone: Zone of a zone-aware datetime column, None for naive time.
    """

    series_columns: list[str]
    time_column: str
    value_columns: list[str]
    time_kind: str | None = None
    time_zone: str | None = None
    _first_file: Path | None = None
    _warned_int: set[str] = dataclasses.field(default_factory=set)

    @property
    def source_columns(self) -> list[str]:
        """Every input column read, without repeats."""
        return list(dict.fromkeys([*self.series_columns, self.time_column, *self.value_columns]))


def list_input_files(source: str | Path | Sequence[str | Path]) -> list[InputFile]:
    """Expand a file, a folder or a list of them into input files, sorted by path.

    Raises:
        FileNotFoundError: If a path does not exist.
        EmptyInputError: If a folder contains no file of a known format.
        ValueError: If a file's suffix is not a known format.
    """
    paths = [source] if isinstance(source, str | Path) else list(source)
    if not paths:
        raise EmptyInputError("source is an empty list. Pass a file, a folder or a list of files.")
    files: list[InputFile] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIX_FORMATS)
            empty = [p for p in found if p.stat().st_size == 0]
            if empty:
                raise EmptyInputError(f"input file {empty[0]} is empty (0 bytes).")
            if not found:
                raise EmptyInputError(
                    f"folder {path} contains no input file; tsfeed reads "
                    f"{', '.join(sorted(SUFFIX_FORMATS))} files."
                )
            files.extend(InputFile(p, SUFFIX_FORMATS[p.suffix.lower()]) for p in found)
        elif path.is_file():
            if path.stat().st_size == 0:
                raise EmptyInputError(f"input file {path} is empty (0 bytes).")
            suffix = path.suffix.lower()
            if suffix not in SUFFIX_FORMATS:
                raise ValueError(
                    f"cannot tell the format of {path} from its suffix {suffix!r}; use one of "
                    f"{', '.join(sorted(SUFFIX_FORMATS))}."
                )
            files.append(InputFile(path, SUFFIX_FORMATS[suffix]))
        else:
            raise FileNotFoundError(f"input {path} does not exist.")
    return files


def read_normalized_batches(
    file: InputFile, plan: ColumnPlan, backend: str = "pyarrow"
) -> Iterator[pa.RecordBatch]:
    """Stream one input file as normalized batches (see the module docstring).

    Raises:
        SchemaError: If a column is missing, not numeric, or typed unlike the first file.
        ValueError: If a series id or a timestamp is null or cannot be parsed.
    """
    for raw in _read_raw_batches(file, plan, backend):
        if raw.num_rows:
            yield _normalize(raw, file, plan)


def _read_raw_batches(file: InputFile, plan: ColumnPlan, backend: str) -> Iterator[pa.RecordBatch]:
    columns = plan.source_columns
    if backend == "tfio":
        from tsfeed import tfio_backend

        if file.format == "csv":
            raise ValueError(
                f"the tfio backend reads Parquet and Arrow files, not CSV ({file.path})."
            )
        _check_columns(file, tfio_backend.read_schema_names(str(file.path)), columns)
        yield from tfio_backend.iter_record_batches(str(file.path), columns, BATCH_ROWS)
        return
    if backend != "pyarrow":
        raise ValueError(f"backend must be 'pyarrow' or 'tfio', got {backend!r}.")
    try:
        if file.format == "parquet":
            parquet = pq.ParquetFile(file.path)
            _check_columns(file, parquet.schema_arrow.names, columns)
            yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)
        elif file.format == "arrow":
            yield from _read_arrow(file, columns)
        else:
            yield from _read_csv(file, plan)
    except pa.ArrowInvalid as err:
        raise SchemaError(f"cannot read {file.path}: {err}") from err


def _read_arrow(file: InputFile, columns: list[str]) -> Iterator[pa.RecordBatch]:
    source = pa.memory_map(str(file.path))
    try:
        reader: pa.ipc.RecordBatchFileReader | pa.ipc.RecordBatchStreamReader
        reader = pa.ipc.open_file(source)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    except pa.ArrowInvalid:
        source.seek(0)
        reader = pa.ipc.open_stream(source)
        batches = iter(reader)
    _check_columns(file, reader.schema.names, columns)
    for batch in batches:
        yield batch.select(columns)


def _read_csv(file: InputFile, plan: ColumnPlan) -> Iterator[pa.RecordBatch]:
    with open(file.path, "rb") as handle:
        header = handle.readline().decode("utf-8-sig", errors="replace").strip()
    names = [name.strip().strip('"') for name in header.split(",")]
    _check_columns(file, names, plan.source_columns)
    # Values are read as text or float64 on purpose: type inference per block could settle on
    # int64 in one block and fail on "1.5" in a later one.
    column_types = {name: pa.string() for name in [*plan.series_columns, plan.time_column]}
    column_types.update({name: pa.float64() for name in plan.value_columns})
    options = pa_csv.ConvertOptions(
        include_columns=plan.source_columns, column_types=column_types, strings_can_be_null=True
    )
    try:
        reader = pa_csv.open_csv(
            file.path,
            # The header is given explicitly so that names are used as stripped above.
            read_options=pa_csv.ReadOptions(
                block_size=_CSV_BLOCK_BYTES, column_names=names, skip_rows=1
            ),
            convert_options=options,
        )
        yield from reader
    except pa.ArrowInvalid as err:
        raise SchemaError(_explain_csv_error(file, str(err), names)) from err


def _explain_csv_error(file: InputFile, message: str, header: list[str]) -> str:
    match = re.search(r"CSV column #(\d+).*invalid value '([^']*)'", message)
    if match:
        value = match.group(2)
        position = int(match.group(1))
        column = header[position] if position < len(header) else f"#{position}"
        return (
            f"column {column!r} in {file.path} contains the non-numeric value {value!r}. Features "
            "and targets must be numbers: convert or drop the column, or leave it out of "
            "feature_columns."
        )
    return f"cannot read {file.path}: {message}"


def _check_columns(file: InputFile, names: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [name for name in wanted if name not in names]
    if missing:
        raise SchemaError(
            f"{file.path} has no column {', '.join(map(repr, missing))}. Its columns are "
            f"{list(names)}; check series_column, time_column, feature_columns and target_columns."
        )


def _normalize(batch: pa.RecordBatch, file: InputFile, plan: ColumnPlan) -> pa.RecordBatch:
    arrays: dict[str, pa.Array] = {}
    arrays["series_id"] = _series_ids(batch, file, plan)
    for i, name in enumerate(plan.series_columns):
        arrays[f"key_{i}"] = batch.column(name)
    arrays["time"] = _time_values(batch.column(plan.time_column), file, plan)
    for name in plan.value_columns:
        arrays[name] = _value_column(batch.column(name), name, file, plan)
    return pa.record_batch(arrays)


def _series_ids(batch: pa.RecordBatch, file: InputFile, plan: ColumnPlan) -> pa.Array:
    if not plan.series_columns:
        return pa.array([""] * batch.num_rows, pa.string())
    parts = []
    for name in plan.series_columns:
        column = batch.column(name)
        if column.null_count:
            row = int(pc.index(pc.is_null(column), True).as_py())
            raise ValueError(
                f"series column {name!r} in {file.path} is null in {column.null_count} rows "
                f"(first in batch row {row}). Every row needs a series id: fill or drop them."
            )
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.string())
        parts.append(column)
    if len(parts) == 1:
        return parts[0].cast(pa.string())
    # Escaping keeps ids distinct: ("a/b", "c") becomes a\/b/c and ("a", "b/c") becomes a/b\/c.
    escaped = [
        pc.replace_substring(pc.replace_substring(part, "\\", "\\\\"), "/", "\\/") for part in parts
    ]
    return pc.binary_join_element_wise(*escaped, "/")


def _time_values(column: pa.Array, file: InputFile, plan: ColumnPlan) -> pa.Array:
    name = plan.time_column
    if column.null_count:
        raise ValueError(
            f"time column {name!r} in {file.path} is null in {column.null_count} rows. Every "
            "row needs a timestamp: fill or drop them."
        )
    kind, zone, values = _parse_time(column, file, name)
    if plan.time_kind is None:
        plan.time_kind, plan.time_zone, plan._first_file = kind, zone, file.path
    elif (kind, zone) != (plan.time_kind, plan.time_zone):
        raise SchemaError(
            f"time column {name!r} is {_describe_time(kind, zone)} in {file.path} but "
            f"{_describe_time(plan.time_kind, plan.time_zone)} in {plan._first_file}. Make all "
            "inputs use one kind of timestamp (all in one zone, or all naive)."
        )
    return values


def _describe_time(kind: str | None, zone: str | None) -> str:
    if kind == "integer":
        return "integer"
    return f"zone-aware ({zone})" if zone else "naive (no time zone)"


def _parse_time(column: pa.Array, file: InputFile, name: str) -> tuple[str, str | None, pa.Array]:
    kind = column.type
    if pa.types.is_integer(kind):
        return "integer", None, column.cast(pa.int64())
    if pa.types.is_date(kind):
        return "datetime", None, column.cast(pa.timestamp("ns")).cast(pa.int64())
    if pa.types.is_timestamp(kind):
        return "datetime", kind.tz, _timestamp_to_int(column, kind.tz)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _parse_time_text(column, file, name)
    raise SchemaError(
        f"time column {name!r} in {file.path} has type {kind}; expected timestamps, dates, "
        "ISO 8601 text or integers."
    )


def _parse_time_text(
    column: pa.Array, file: InputFile, name: str
) -> tuple[str, str | None, pa.Array]:
    if pc.all(pc.match_substring_regex(column, r"^-?\d+$")).as_py():
        return "integer", None, column.cast(pa.int64())
    aware = pc.match_substring_regex(column, _ZONE_SUFFIX)
    num_aware = int(pc.sum(aware).as_py() or 0)
    if 0 < num_aware < len(column):
        naive_example = column.filter(pc.invert(aware))[0].as_py()
        aware_example = column.filter(aware)[0].as_py()
        raise SchemaError(
            f"time column {name!r} in {file.path} mixes zone-aware values such as "
            f"{aware_example!r} with naive values such as {naive_example!r}. Give every "
            "timestamp a zone offset, or none."
        )
    zone = "UTC" if num_aware else None
    try:
        parsed = column.cast(pa.timestamp("ns", zone))
    except pa.ArrowInvalid as err:
        bad = re.search(r"'([^']*)'", str(err))
        value = bad.group(1) if bad else "?"
        raise ValueError(
            f"cannot parse timestamp {value!r} in column {name!r} of {file.path}. Use ISO 8601 "
            "text such as 2024-01-31T13:00:00 or 2024-01-31T13:00:00+01:00."
        ) from err
    return "datetime", zone, _timestamp_to_int(parsed, zone)


def _timestamp_to_int(column: pa.Array, zone: str | None) -> pa.Array:
    # Arrow stores zone-aware timestamps as UTC instants, so the integers compare as instants.
    return column.cast(pa.timestamp("ns", zone)).cast(pa.int64())


def _value_column(column: pa.Array, name: str, file: InputFile, plan: ColumnPlan) -> pa.Array:
    kind = column.type
    if pa.types.is_floating(kind):
        return column.cast(pa.float64())
    if pa.types.is_integer(kind):
        if name not in plan._warned_int:
            plan._warned_int.add(name)
            logger.info("casting integer column %r to float32", name)
        largest = pc.max(pc.abs(column)).as_py()
        if (
            largest is not None
            and largest > _FLOAT32_EXACT_INT
            and f"{name}!" not in plan._warned_int
        ):
            plan._warned_int.add(f"{name}!")
            logger.warning(
                "column %r contains integers up to %d, beyond 2**24, which float32 cannot store "
                "exactly; such values are rounded",
                name,
                largest,
            )
        return column.cast(pa.float64())
    raise SchemaError(
        f"column {name!r} in {file.path} has type {kind}, which is not numeric. Features and "
        "targets must be integers or floats: convert the column, or leave it out of "
        "feature_columns."
    )
