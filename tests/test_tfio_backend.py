"""Tests for tsfeed.tfio_backend in any environment.

Where tensorflow-io works (tensorflow 2.16 with tensorflow-io 0.37.1, as built by
scripts/matrix_env.sh), the reading tests compare every batch with pyarrow's own reader bit for
bit. Elsewhere they skip, and the availability test checks the error that names the versions.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from tsfeed import tfio_backend
from tsfeed.errors import BackendUnavailableError


def _backend_error() -> BackendUnavailableError | None:
    try:
        tfio_backend.check_available()
    except BackendUnavailableError as err:
        return err
    return None


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


# pytest.importorskip("tensorflow_io") is not enough: on TensorFlow 2.17 and later the import
# succeeds and only the first op fails, so the reading tests skip on check_available instead.
BACKEND_ERROR = _backend_error()
needs_tfio = pytest.mark.skipif(
    BACKEND_ERROR is not None,
    reason=f"tensorflow-io is unavailable with tensorflow {_version('tensorflow')} and "
    f"tensorflow-io {_version('tensorflow-io')}",
)


def _series_table(num_rows_per_series: int = 10) -> pa.Table:
    """Three series with float, int, UTC timestamp and string columns, NaN and -0.0 included."""
    start = dt.datetime(2024, 3, 30, 22, tzinfo=dt.timezone.utc)
    ids, times = [], []
    for series_id in ("c1", "c17", "sensor-é"):
        ids += [series_id] * num_rows_per_series
        times += [start + dt.timedelta(hours=h) for h in range(num_rows_per_series)]
    num_rows = len(ids)
    value = np.linspace(-2.0, 2.0, num_rows, dtype=np.float32)
    value[[3, 7]] = [np.nan, -0.0]
    return pa.table(
        {
            "series_id": pa.array(ids, pa.string()),
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "value": pa.array(value),
            "value64": pa.array(np.geomspace(1e-300, 1e300, num_rows)),
            "count": pa.array(np.arange(num_rows, dtype=np.int64) * 2**40),
            "flag": pa.array(np.arange(num_rows) % 3 == 0),
        }
    )


def _read_all(path: str, **options: object) -> pa.Table:
    batches = list(tfio_backend.iter_record_batches(path, **options))  # type: ignore[arg-type]
    assert batches, "no batch was read"
    return pa.Table.from_batches(batches)


def _assert_identical(actual: pa.Table, expected: pa.Table) -> None:
    """Assert equal names, types and values, comparing floats by their bits."""
    assert actual.schema.names == expected.schema.names
    assert actual.schema.types == expected.schema.types
    for name in expected.schema.names:
        got, want = actual[name].combine_chunks(), expected[name].combine_chunks()
        if pa.types.is_floating(want.type):
            bits = f"u{want.type.byte_width}"
            got_bits = got.to_numpy(zero_copy_only=False).view(bits)
            want_bits = want.to_numpy(zero_copy_only=False).view(bits)
            assert np.array_equal(got_bits, want_bits), name
        else:
            assert got.equals(want), name


def test_check_available_error_names_versions() -> None:
    if BACKEND_ERROR is None:
        pytest.skip("tensorflow-io works here, so there is no error to check")
    message = str(BACKEND_ERROR)

    assert isinstance(BACKEND_ERROR, ImportError)
    assert f"tensorflow {_version('tensorflow')}" in message
    assert f"tensorflow-io {_version('tensorflow-io')}" in message
    assert "tensorflow 2.16.x with tensorflow-io 0.37.1" in message
    assert 'pip install "tsfeed[tfio]" "tensorflow==2.16.2"' in message


def test_check_available_names_undefined_symbol() -> None:
    if BACKEND_ERROR is None or _version("tensorflow-io") == "not installed":
        pytest.skip("needs tensorflow-io installed next to a TensorFlow it does not load with")

    # tensorflow-io 0.37.1 on TensorFlow 2.17 or later: the op library has undefined symbols.
    assert "undefined symbol" in str(BACKEND_ERROR)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param({"batch_rows": 0}, ValueError, "batch_rows=0 must be at least 1", id="zero"),
        pytest.param({"batch_rows": -5}, ValueError, "batch_rows=-5", id="negative"),
        pytest.param({"batch_rows": 2.5}, TypeError, "batch_rows must be an int", id="float"),
        pytest.param({"batch_rows": True}, TypeError, "batch_rows must be an int", id="bool"),
        pytest.param({"columns": "value"}, TypeError, "columns must be a list", id="str-columns"),
        pytest.param({"columns": [1]}, TypeError, "columns must be a list of str", id="int-name"),
        pytest.param({"path": Path("x.parquet")}, TypeError, "path must be a str", id="pathlib"),
    ],
)
def test_iter_record_batches_bad_arguments(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    arguments: dict[str, object] = {"path": "unused.parquet", **options}

    # Arguments are checked before tensorflow-io is needed, so this runs in every environment.
    with pytest.raises(error, match=message):
        tfio_backend.iter_record_batches(**arguments)  # type: ignore[arg-type]


def test_iter_record_batches_unavailable_raises(tmp_path: Path) -> None:
    if BACKEND_ERROR is None:
        pytest.skip("tensorflow-io works here")
    path = tmp_path / "series.parquet"
    pq.write_table(_series_table(), path)

    with pytest.raises(BackendUnavailableError, match=re.escape("tensorflow==2.16.2")):
        tfio_backend.iter_record_batches(str(path))
    with pytest.raises(BackendUnavailableError, match=re.escape("tensorflow==2.16.2")):
        tfio_backend.read_schema_names(str(path))


@needs_tfio
@pytest.mark.parametrize("batch_rows", [7, 30, 65536])
def test_parquet_matches_pyarrow(tmp_path: Path, batch_rows: int) -> None:
    path = tmp_path / "series.parquet"
    pq.write_table(_series_table(), path, row_group_size=8)

    batches = list(tfio_backend.iter_record_batches(str(path), batch_rows=batch_rows))

    # 30 rows in batches of 7 are 7, 7, 7, 7, 2, across row groups of 8.
    assert [batch.num_rows for batch in batches[:-1]] == [batch_rows] * (len(batches) - 1)
    assert sum(batch.num_rows for batch in batches) == 30
    _assert_identical(pa.Table.from_batches(batches), pq.read_table(path))


@needs_tfio
def test_parquet_column_subset_order(tmp_path: Path) -> None:
    path = tmp_path / "series.parquet"
    pq.write_table(_series_table(), path)
    columns = ["value", "series_id", "time"]

    actual = _read_all(str(path), columns=columns)

    _assert_identical(actual, pq.read_table(path, columns=columns))


@needs_tfio
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Berlin"])
def test_parquet_timestamp_units(tmp_path: Path, unit: str, tz: str | None) -> None:
    path = tmp_path / "times.parquet"
    # 1_700_000_000 s is 2023-11-14, and -86_400 s is the day before the epoch.
    seconds = np.array([1_700_000_000, 0, -86_400], dtype=np.int64)
    scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    pq.write_table(pa.table({"t": pa.array(seconds * scale, pa.timestamp(unit, tz=tz))}), path)

    _assert_identical(_read_all(str(path)), pq.read_table(path))


@needs_tfio
def test_parquet_narrow_and_unsigned_types(tmp_path: Path) -> None:
    path = tmp_path / "types.parquet"
    table = pa.table(
        {
            "i8": pa.array([-128, 0, 127], pa.int8()),
            "i16": pa.array([-32768, 0, 32767], pa.int16()),
            "i32": pa.array([-(2**31), 0, 2**31 - 1], pa.int32()),
            "u8": pa.array([0, 1, 255], pa.uint8()),
            "u16": pa.array([0, 1, 65535], pa.uint16()),
            "u32": pa.array([0, 1, 2**32 - 1], pa.uint32()),
            "u64": pa.array([0, 1, 2**64 - 1], pa.uint64()),
            "day": pa.array([-1, 0, 19_000], pa.date32()),
            "large": pa.array(["a", "", "ü"], pa.large_string()),
            "raw": pa.array([b"\x00", b"\xff", b""], pa.binary()),
        }
    )
    pq.write_table(table, path)

    _assert_identical(_read_all(str(path)), pq.read_table(path))


@needs_tfio
@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        pytest.param(
            {"value": pa.array([1.0, None, 3.0, None], pa.float32()), "id": ["a", "b", "c", "d"]},
            "{'value': 2}",
            id="float",
        ),
        pytest.param(
            {"value": pa.array([1.0, 2.0, 3.0, 4.0], pa.float32()), "id": ["a", None, "c", "d"]},
            "{'id': 1}",
            id="string",
        ),
    ],
)
def test_parquet_nulls_rejected(tmp_path: Path, columns: dict[str, object], expected: str) -> None:
    path = tmp_path / "nulls.parquet"
    pq.write_table(pa.table(columns), path)

    # tensorflow-io would shift the later values up a row, so the reader must raise instead.
    with pytest.raises(ValueError, match=re.escape(f"has nulls (column: count) {expected}")):
        tfio_backend.iter_record_batches(str(path))


@needs_tfio
def test_parquet_without_statistics_rejected(tmp_path: Path) -> None:
    path = tmp_path / "no_stats.parquet"
    pq.write_table(pa.table({"value": [1.0, 2.0]}), path, write_statistics=False)

    with pytest.raises(ValueError, match="has no null count in row group 0"):
        tfio_backend.iter_record_batches(str(path))


@needs_tfio
def test_parquet_required_column_without_statistics(tmp_path: Path) -> None:
    path = tmp_path / "required.parquet"
    schema = pa.schema([pa.field("value", pa.float64(), nullable=False)])
    table = pa.table({"value": [1.0, 2.0]}, schema=schema)
    pq.write_table(table, path, write_statistics=False)

    _assert_identical(_read_all(str(path)), pq.read_table(path))


@needs_tfio
@pytest.mark.parametrize(
    ("array", "type_name"),
    [
        pytest.param(pa.array(np.array([1, 2], np.float16)), "halffloat", id="float16"),
        pytest.param(pa.array(["a", "b"]).dictionary_encode(), "dictionary", id="dictionary"),
        pytest.param(pa.array([[1], [2]]), "list", id="list"),
    ],
)
def test_parquet_unsupported_type_rejected(tmp_path: Path, array: pa.Array, type_name: str) -> None:
    path = tmp_path / "types.parquet"
    pq.write_table(pa.table({"bad": array}), path)

    # float16 would crash the process inside tensorflow-io, so it must be rejected first.
    with pytest.raises(ValueError, match=f"Column 'bad' .* has type {type_name}"):
        tfio_backend.iter_record_batches(str(path))


@needs_tfio
def test_parquet_rewritten_file_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "rewritten.parquet"
    pq.write_table(pa.table({"value": [1.0, 2.0]}), path)
    first = _read_all(str(path))
    pq.write_table(pa.table({"value": [5.0, 6.0, 7.0]}), path)

    second = _read_all(str(path))

    assert first["value"].to_pylist() == [1.0, 2.0]
    assert second["value"].to_pylist() == [5.0, 6.0, 7.0]


@needs_tfio
@pytest.mark.parametrize("compression", ["uncompressed", "lz4", "zstd"])
def test_arrow_file_matches_pyarrow(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "series.arrow"
    table = _series_table().drop_columns(["time"])
    feather.write_feather(table, path, compression=compression, chunksize=8)

    batches = list(tfio_backend.iter_record_batches(str(path), batch_rows=7))

    assert [batch.num_rows for batch in batches] == [7, 7, 7, 7, 2]
    _assert_identical(pa.Table.from_batches(batches), ipc.open_file(path).read_all())


@needs_tfio
def test_arrow_file_unsigned_and_binary(tmp_path: Path) -> None:
    path = tmp_path / "types.arrow"
    table = pa.table(
        {
            "u32": pa.array([0, 2**32 - 1], pa.uint32()),
            "u64": pa.array([0, 2**64 - 1], pa.uint64()),
            "i8": pa.array([-128, 127], pa.int8()),
            "raw": pa.array([b"\xff", b""], pa.binary()),
        }
    )
    feather.write_feather(table, path)

    _assert_identical(_read_all(str(path)), ipc.open_file(path).read_all())


@needs_tfio
def test_arrow_file_timestamp_rejected(tmp_path: Path) -> None:
    path = tmp_path / "series.arrow"
    feather.write_feather(_series_table(), path)

    with pytest.raises(ValueError, match=r"Column 'time' .* has type timestamp\[us, tz=UTC\]"):
        tfio_backend.iter_record_batches(str(path))


@needs_tfio
def test_arrow_file_nulls_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nulls.arrow"
    table = pa.table({"value": pa.array([1.0, None, None], pa.float32()), "id": ["a", None, "c"]})
    feather.write_feather(table, path)

    with pytest.raises(ValueError, match=r"\{'value': 2, 'id': 1\}"):
        tfio_backend.iter_record_batches(str(path))


@needs_tfio
def test_file_url_reads_through_gfile(tmp_path: Path) -> None:
    parquet_path = tmp_path / "series.parquet"
    arrow_path = tmp_path / "series.arrow"
    table = _series_table()
    pq.write_table(table, parquet_path)
    feather.write_feather(table.drop_columns(["time"]), arrow_path)

    # A URL takes the code path of remote files: metadata through tf.io.gfile, no memory map.
    from_parquet = _read_all(parquet_path.as_uri())
    from_arrow = _read_all(arrow_path.as_uri())

    _assert_identical(from_parquet, pq.read_table(parquet_path))
    _assert_identical(from_arrow, ipc.open_file(arrow_path).read_all())
    assert tfio_backend.read_schema_names(parquet_path.as_uri()) == table.schema.names


@needs_tfio
def test_file_url_arrow_nulls_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nulls.arrow"
    feather.write_feather(pa.table({"value": pa.array([1.0, None], pa.float32())}), path)

    # Null counts are not read ahead for remote files, so tensorflow-io's error is translated.
    with pytest.raises(ValueError, match="has nulls in at least one of the columns"):
        _read_all(path.as_uri())


@needs_tfio
def test_read_schema_names_local(tmp_path: Path) -> None:
    parquet_path = tmp_path / "series.parquet"
    arrow_path = tmp_path / "series.arrow"
    table = _series_table()
    pq.write_table(table, parquet_path)
    feather.write_feather(table, arrow_path)

    assert tfio_backend.read_schema_names(str(parquet_path)) == table.schema.names
    assert tfio_backend.read_schema_names(str(arrow_path)) == table.schema.names


@needs_tfio
def test_missing_column_rejected(tmp_path: Path) -> None:
    path = tmp_path / "series.parquet"
    pq.write_table(_series_table(), path)

    with pytest.raises(ValueError, match="Column 'temperature' not found"):
        tfio_backend.iter_record_batches(str(path), columns=["temperature"])


@needs_tfio
def test_missing_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tfio_backend.iter_record_batches(str(tmp_path / "absent.parquet"))


@needs_tfio
@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("table.csv", b"series_id,value\nc1,1.0\n", id="csv"),
        pytest.param("stream.arrows", None, id="arrow-stream"),
    ],
)
def test_unsupported_format_rejected(tmp_path: Path, name: str, content: bytes | None) -> None:
    path = tmp_path / name
    if content is None:
        table = pa.table({"value": [1.0]})
        with ipc.new_stream(path, table.schema) as writer:
            writer.write_table(table)
    else:
        path.write_bytes(content)

    with pytest.raises(ValueError, match=r"neither Parquet .* nor an Arrow IPC file"):
        tfio_backend.iter_record_batches(str(path))
