"""Ingest: long-format CSV, Parquet and Arrow tables in, a store of float32 series out.

Every test writes its input into ``tmp_path`` and runs the real ingest. The window checks use
:func:`tsfeed.split.split_windows`, which is plain NumPy, so this file never imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tsfeed
from tsfeed.split import split_windows

START = np.datetime64("2024-01-01T00:00:00", "ns")
HOUR = np.timedelta64(1, "h")
HOUR_NS = 3_600_000_000_000
START_NS = int(START.astype(np.int64))
STAGING_PREFIX = ".tsfeed-staging-"
FORMATS = ("csv", "parquet", "arrow")


# Helpers ---------------------------------------------------------------------------------------


def _hours(hours: Sequence[int]) -> np.ndarray:
    """Timestamps (datetime64[ns]) that many hours after 2024-01-01T00:00."""
    return START + np.asarray(hours, dtype=np.int64) * HOUR


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="s"))
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else repr(float(value))
    return str(value)


def _write_table(path: Path, columns: Mapping[str, Sequence[Any]]) -> Path:
    """Write columns to ``path`` in the format its suffix names (.csv, .parquet or .arrow).

    CSV values are written by hand: floats with ``repr``, so they read back as the same float64,
    timestamps as ISO 8601 text, and None or NaN as an empty field.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        names = list(columns)
        lines = [",".join(names)]
        for row in zip(*(columns[name] for name in names), strict=True):
            lines.append(",".join(_csv_text(value) for value in row))
        path.write_text("\n".join(lines) + "\n")
        return path
    table = pa.table({name: _to_arrow(values) for name, values in columns.items()})
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".arrow":
        with pa.ipc.new_file(str(path), table.schema) as writer:
            writer.write_table(table)
    else:
        raise ValueError(f"no writer for {path.suffix!r}")
    return path


def _to_arrow(values: Sequence[Any]) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray):
        return pa.array(values)
    if values and isinstance(values[0], np.datetime64):
        return pa.array(np.array(values, dtype="datetime64[ns]"))
    return pa.array(list(values))


def _long_table(
    num_steps: Mapping[str, int], seed: int = 0
) -> tuple[dict[str, list[Any]], dict[str, dict[str, np.ndarray]]]:
    """Build hourly rows for each series in a random order, and the expected sorted series.

    Feature ``x`` is ``step / 3 + 10 * k`` and ``y`` is ``-0.7 * step`` for the k-th series,
    values that float32 cannot hold exactly, so a missing cast shows.
    """
    rows = []
    expected = {}
    for k, (series_id, count) in enumerate(num_steps.items()):
        steps = np.arange(count)
        x = steps / 3 + 10 * k
        y = -0.7 * steps
        times = _hours(steps)
        expected[series_id] = {"times": times.astype(np.int64), "x": x, "y": y}
        rows.extend(zip([series_id] * count, times, x, y, strict=True))
    order = np.random.default_rng(seed).permutation(len(rows))
    shuffled = [rows[i] for i in order]
    columns = {
        "id": [row[0] for row in shuffled],
        "ts": [row[1] for row in shuffled],
        "x": [float(row[2]) for row in shuffled],
        "y": [float(row[3]) for row in shuffled],
    }
    return columns, expected


def _hourly_columns(series: Mapping[str, Sequence[float | None]]) -> dict[str, list[Any]]:
    """Columns ``id``, ``ts`` (hourly from step 0) and ``x`` for the given values per series."""
    columns: dict[str, list[Any]] = {"id": [], "ts": [], "x": []}
    for series_id, values in series.items():
        columns["id"].extend([series_id] * len(values))
        columns["ts"].extend(_hours(range(len(values))))
        columns["x"].extend(values)
    return columns


def _store_content(store: tsfeed.Store) -> dict[str, tuple[bytes, bytes, bytes, bytes]]:
    """Every series' times, features, targets and runs as bytes, keyed by id (NaN-safe)."""
    content = {}
    for position, series_id in enumerate(store.series_ids):
        data = store.series(position)
        content[series_id] = (
            data.times.tobytes(),
            data.features.tobytes(),
            data.targets.tobytes(),
            store.runs(position).tobytes(),
        )
    return content


def _window_starts(store: tsfeed.Store, spec: tsfeed.WindowSpec, series_id: str) -> list[int]:
    index = split_windows(store, spec, None).train
    return index.starts_of_series(store.position_of(series_id)).tolist()


def _ingest(source: Any, store_path: Path, **options: Any) -> tsfeed.Store:
    options.setdefault("series_column", "id")
    options.setdefault("time_column", "ts")
    return tsfeed.ingest(source, store_path, **options)


# Round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", FORMATS)
def test_ingest_round_trip_sorts_and_casts(tmp_path: Path, file_format: str) -> None:
    columns, expected = _long_table({"B": 7, "A": 5, "C": 9})
    source = _write_table(tmp_path / f"input.{file_format}", columns)

    store = _ingest(source, tmp_path / "store", target_columns=["y"])

    assert store.series_ids == ["A", "B", "C"]
    assert store.num_steps.tolist() == [5, 7, 9]
    assert store.feature_columns == ["x", "y"]
    assert store.target_columns == ["y"]
    assert store.time_kind == "datetime"
    for position, series_id in enumerate(store.series_ids):
        data = store.series(position)
        want = expected[series_id]
        want_features = np.column_stack([want["x"], want["y"]]).astype(np.float32)
        assert data.features.dtype == np.float32
        assert data.targets.dtype == np.float32
        np.testing.assert_array_equal(data.times, want["times"])
        np.testing.assert_array_equal(data.features, want_features)
        np.testing.assert_array_equal(data.targets, want["y"].astype(np.float32)[:, None])
        assert store.first_time[position] == want["times"][0]
        assert store.last_time[position] == want["times"][-1]
        assert store.runs(position).tolist() == [[0, len(want["times"])]]


def test_ingest_manifest_times_are_nanoseconds(tmp_path: Path) -> None:
    columns, _ = _long_table({"A": 5})
    store = _ingest(_write_table(tmp_path / "input.parquet", columns), tmp_path / "store")

    # 2024-01-01T00:00 is 1_704_067_200 s after the epoch, and the last row is 4 hours later.
    assert store.first_time.tolist() == [1_704_067_200_000_000_000]
    assert store.last_time.tolist() == [1_704_067_200_000_000_000 + 4 * HOUR_NS]
    assert store.meta["num_rows"] == 5


def test_ingest_feature_columns_default_to_all_others(tmp_path: Path) -> None:
    columns, expected = _long_table({"A": 4})
    store = _ingest(_write_table(tmp_path / "input.parquet", columns), tmp_path / "store")

    assert store.feature_columns == ["x", "y"]
    assert store.target_columns == ["x", "y"]
    want = np.column_stack([expected["A"]["x"], expected["A"]["y"]]).astype(np.float32)
    np.testing.assert_array_equal(store.series(0).targets, want)


def test_ingest_composite_ids_are_distinct(tmp_path: Path) -> None:
    # Customer ids 1 and 2 appear in both games, so only the pair identifies a series.
    columns: dict[str, list[Any]] = {"game": [], "customer": [], "ts": [], "x": []}
    for game, customer, offset in [("g2", 1, 300), ("g1", 2, 200), ("g1", 1, 100), ("g2", 2, 400)]:
        columns["game"].extend([game] * 3)
        columns["customer"].extend([customer] * 3)
        columns["ts"].extend(_hours(range(3)))
        columns["x"].extend([float(offset + i) for i in range(3)])
    source = _write_table(tmp_path / "input.parquet", columns)

    store = _ingest(source, tmp_path / "store", series_column=["game", "customer"])

    assert store.num_series == 4
    assert store.num_steps.tolist() == [3, 3, 3, 3]
    first_values = [float(store.series(i).features[0, 0]) for i in range(4)]
    assert first_values == [100.0, 200.0, 300.0, 400.0]
    assert store.meta["series_columns"] == ["game", "customer"]


def test_ingest_composite_ids_with_separator(tmp_path: Path) -> None:
    """The pairs ("a/b", "c") and ("a", "b/c") are different series, whatever the id text."""
    columns = {
        "game": ["a/b"] * 3 + ["a"] * 3,
        "customer": ["c"] * 3 + ["b/c"] * 3,
        "ts": list(_hours(range(3))) * 2,
        "x": [1.0, 2.0, 3.0, 10.0, 20.0, 30.0],
    }
    source = _write_table(tmp_path / "input.parquet", columns)

    store = _ingest(source, tmp_path / "store", series_column=["game", "customer"])

    assert store.num_series == 2
    assert store.num_steps.tolist() == [3, 3]


def test_ingest_without_series_column_is_one_series(tmp_path: Path) -> None:
    columns = {"ts": list(_hours([3, 0, 2, 1])), "x": [3.0, 0.0, 2.0, 1.0]}
    source = _write_table(tmp_path / "input.csv", columns)

    store = tsfeed.ingest(source, tmp_path / "store", series_column=None, time_column="ts")

    assert store.num_series == 1
    assert store.num_steps.tolist() == [4]
    assert store.series(0).features[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_ingest_folder_and_list_match_single_file(tmp_path: Path) -> None:
    columns, _ = _long_table({"A": 6, "B": 8, "C": 4}, seed=3)
    single = _ingest(_write_table(tmp_path / "one.parquet", columns), tmp_path / "single")
    # Three files whose rows are a random third of the table each, so series span files.
    parts = np.array_split(np.arange(len(columns["id"])), 3)
    paths = []
    for number, rows in enumerate(parts):
        part = {name: [values[i] for i in rows] for name, values in columns.items()}
        suffix = ("csv", "parquet", "arrow")[number]
        paths.append(_write_table(tmp_path / "parts" / f"part{number}.{suffix}", part))

    from_folder = _ingest(tmp_path / "parts", tmp_path / "from_folder")
    from_list = _ingest([str(path) for path in reversed(paths)], tmp_path / "from_list")

    assert _store_content(from_folder) == _store_content(single)
    assert _store_content(from_list) == _store_content(single)
    assert len(from_folder.meta["sources"]) == 3


def test_ingest_many_buckets_and_shards_match_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    columns, _ = _long_table({f"s{k:02d}": 20 + k for k in range(12)}, seed=5)
    source = _write_table(tmp_path / "input.parquet", columns)
    single = _ingest(source, tmp_path / "single")

    with caplog.at_level(logging.INFO, logger="tsfeed.ingest"):
        spilled = _ingest(source, tmp_path / "spilled", bucket_bytes=1024, shard_bytes=400)

    started = [r.getMessage() for r in caplog.records if "started" in r.getMessage()]
    num_buckets = int(re.search(r"(\d+) buckets", started[0]).group(1))
    assert num_buckets > 1
    assert len(spilled.meta["shards"]) > 1
    assert len(single.meta["shards"]) == 1
    assert spilled.series_ids == single.series_ids
    assert _store_content(spilled) == _store_content(single)
    assert spilled.verify() == []


# Bad inputs ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BadInput:
    """An ingest that must fail: how to build it, the error class and the message pattern."""

    id: str
    build: Callable[[Path], tuple[Any, dict[str, Any]]]
    error: type[BaseException]
    message: str
    existing_store: str | None = None  # what the target contains: "store", "files" or "empty"


def _good_columns() -> dict[str, list[Any]]:
    return _hourly_columns({"A": [0.0, 1.0, 2.0, 3.0], "B": [5.0, 6.0, 7.0, 8.0]})


def _parquet_with(column: str, values: pa.Array) -> Callable[[Path], tuple[Any, dict[str, Any]]]:
    def build(folder: Path) -> tuple[Any, dict[str, Any]]:
        columns = _good_columns()
        columns[column] = values
        return _write_table(folder / "input.parquet", columns), {}

    return build


def _csv_lines(*lines: str, options: dict[str, Any] | None = None) -> Callable[[Path], Any]:
    def build(folder: Path) -> tuple[Any, dict[str, Any]]:
        path = folder / "input.csv"
        path.write_text("\n".join(lines) + "\n")
        return path, dict(options or {})

    return build


def _good_input(**options: Any) -> Callable[[Path], tuple[Any, dict[str, Any]]]:
    def build(folder: Path) -> tuple[Any, dict[str, Any]]:
        return _write_table(folder / "input.parquet", _good_columns()), options

    return build


def _two_csv_files(first: str, second: str) -> Callable[[Path], tuple[Any, dict[str, Any]]]:
    def build(folder: Path) -> tuple[Any, dict[str, Any]]:
        (folder / "a.csv").write_text(f"id,ts,x\nA,{first},1.0\n")
        (folder / "b.csv").write_text(f"id,ts,x\nB,{second},2.0\n")
        return folder, {}

    return build


def _gap_input(folder: Path) -> tuple[Any, dict[str, Any]]:
    columns = {"id": ["A"] * 4, "ts": list(_hours([0, 1, 4, 5])), "x": [0.0, 1.0, 4.0, 5.0]}
    return _write_table(folder / "input.parquet", columns), {}


def _header_only_csv(folder: Path) -> tuple[Any, dict[str, Any]]:
    path = folder / "input.csv"
    path.write_text("id,ts,x\n")
    return path, {}


def _empty_parquet(folder: Path) -> tuple[Any, dict[str, Any]]:
    table = pa.table(
        {
            "id": pa.array([], pa.string()),
            "ts": pa.array([], pa.timestamp("ns")),
            "x": pa.array([], pa.float64()),
        }
    )
    path = folder / "input.parquet"
    pq.write_table(table, path)
    return path, {}


def _empty_folder(folder: Path) -> tuple[Any, dict[str, Any]]:
    (folder / "nothing").mkdir()
    (folder / "nothing" / "notes.txt").write_text("not an input file\n")
    return folder / "nothing", {}


def _unknown_suffix(folder: Path) -> tuple[Any, dict[str, Any]]:
    path = folder / "input.txt"
    path.write_text("id,ts,x\nA,2024-01-01T00:00:00,1.0\n")
    return path, {}


def _aware_and_naive_parquet(folder: Path) -> tuple[Any, dict[str, Any]]:
    aware = pa.array(_hours([0, 1]), pa.timestamp("ns", "UTC"))
    naive = pa.array(_hours([0, 1]), pa.timestamp("ns"))
    pq.write_table(pa.table({"id": ["A", "A"], "ts": aware, "x": [1.0, 2.0]}), folder / "a.parquet")
    pq.write_table(pa.table({"id": ["B", "B"], "ts": naive, "x": [1.0, 2.0]}), folder / "b.parquet")
    return folder, {}


BAD_INPUTS = [
    BadInput(
        "missing-column",
        _good_input(feature_columns=["x", "humidity"]),
        tsfeed.SchemaError,
        r"has no column 'humidity'",
    ),
    BadInput(
        "missing-time-column",
        _good_input(time_column="when"),
        tsfeed.SchemaError,
        r"has no column 'when'",
    ),
    BadInput(
        "string-feature-parquet",
        _parquet_with("x", pa.array(["a", "b", "c", "d"] * 2)),
        tsfeed.SchemaError,
        r"column 'x' .* has type string, which is not numeric",
    ),
    BadInput(
        "string-feature-csv",
        _csv_lines(
            "id,ts,x",
            "A,2024-01-01T00:00:00,1.5",
            "A,2024-01-01T01:00:00,warm",
        ),
        tsfeed.SchemaError,
        r"column 'x' .* non-numeric value 'warm'",
    ),
    BadInput(
        "string-feature-csv-unused-column-first",
        _csv_lines(
            "id,note,ts,x",
            "A,calm,2024-01-01T00:00:00,1.5",
            "A,windy,2024-01-01T01:00:00,warm",
            options={"feature_columns": ["x"]},
        ),
        tsfeed.SchemaError,
        r"column 'x' .* non-numeric value 'warm'",
    ),
    BadInput(
        "boolean-feature",
        _parquet_with("x", pa.array([True, False] * 4)),
        tsfeed.SchemaError,
        r"column 'x' .* has type bool, which is not numeric",
    ),
    BadInput(
        "date-feature",
        _parquet_with("x", pa.array(np.array(["2024-01-01"] * 8, dtype="datetime64[D]"))),
        tsfeed.SchemaError,
        r"column 'x' .* has type date32.*, which is not numeric",
    ),
    BadInput(
        "null-series-id",
        _parquet_with("id", pa.array(["A", "A", None, "A", "B", "B", "B", "B"])),
        ValueError,
        r"series column 'id' .* is null in 1 rows",
    ),
    BadInput(
        "null-timestamp",
        _parquet_with(
            "ts", pa.array([*_hours(range(3)), None, *_hours(range(4))], pa.timestamp("ns"))
        ),
        ValueError,
        r"time column 'ts' .* is null in 1 rows",
    ),
    BadInput(
        "unparseable-timestamp",
        _csv_lines(
            "id,ts,x",
            "A,2024-01-01T00:00:00,1.0",
            "A,yesterday noon,2.0",
        ),
        ValueError,
        r"cannot parse timestamp 'yesterday noon' in column 'ts'",
    ),
    BadInput(
        "zone-aware-mixed-with-naive",
        _csv_lines(
            "id,ts,x",
            "A,2024-01-01T00:00:00+01:00,1.0",
            "A,2024-01-01T01:00:00,2.0",
        ),
        tsfeed.SchemaError,
        r"mixes zone-aware values such as '2024-01-01T00:00:00\+01:00' with naive values "
        r"such as '2024-01-01T01:00:00'",
    ),
    BadInput(
        "files-differ-in-zone-csv",
        _two_csv_files("2024-01-01T00:00:00Z", "2024-01-01T00:00:00"),
        tsfeed.SchemaError,
        r"time column 'ts' is naive \(no time zone\) in .*b\.csv but zone-aware \(UTC\) in "
        r".*a\.csv",
    ),
    BadInput(
        "files-differ-in-zone-parquet",
        _aware_and_naive_parquet,
        tsfeed.SchemaError,
        r"time column 'ts' is naive \(no time zone\) in .*b\.parquet but zone-aware \(UTC\)",
    ),
    BadInput(
        "duplicate-timestamps",
        _csv_lines(
            "id,ts,x",
            "A,2024-01-01T00:00:00,1.0",
            "A,2024-01-01T01:00:00,2.0",
            "A,2024-01-01T01:00:00,3.0",
            "A,2024-01-01T02:00:00,4.0",
        ),
        tsfeed.DuplicateTimestampError,
        r"series 'A' has 2 rows with the duplicate timestamp 2024-01-01T01:00:00",
    ),
    BadInput(
        "missing-values",
        _parquet_with("x", pa.array([0.0, 1.0, 2.0, 3.0, 5.0, None, np.nan, 8.0])),
        tsfeed.MissingValueError,
        r"column 'x' of series 'B' is missing in 2 rows, first at 2024-01-01T01:00:00",
    ),
    BadInput(
        "gap",
        _gap_input,
        tsfeed.GapError,
        r"series 'A' jumps from 2024-01-01T01:00:00 to 2024-01-01T04:00:00, but its step is 1h",
    ),
    BadInput("header-only-csv", _header_only_csv, tsfeed.EmptyInputError, r"has no rows"),
    BadInput("empty-parquet", _empty_parquet, tsfeed.EmptyInputError, r"has no rows"),
    BadInput("empty-folder", _empty_folder, tsfeed.EmptyInputError, r"contains no input file"),
    BadInput("unknown-suffix", _unknown_suffix, ValueError, r"suffix '\.txt'"),
    BadInput(
        "unknown-policy",
        _good_input(missing="interpolate"),
        ValueError,
        r"missing='interpolate' is not one of",
    ),
    BadInput(
        "store-exists",
        _good_input(),
        tsfeed.StoreExistsError,
        r"already contains a tsfeed store.*overwrite=True",
        existing_store="store",
    ),
    BadInput(
        "folder-with-other-files",
        _good_input(),
        tsfeed.StoreExistsError,
        r"exists and is not an empty folder or a tsfeed store",
        existing_store="files",
    ),
    BadInput(
        "gap-with-overwrite",
        _gap_input,
        tsfeed.GapError,
        r"series 'A' jumps",
        existing_store="store-overwrite",
    ),
    BadInput(
        "gap-into-empty-folder",
        _gap_input,
        tsfeed.GapError,
        r"series 'A' jumps",
        existing_store="empty",
    ),
]


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` with its bytes, or None when ``folder`` does not exist."""
    if not folder.exists():
        return None
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b"<dir>"
        for path in sorted(folder.rglob("*"))
    }


def _prepare_target(store_path: Path, kind: str | None) -> dict[str, Any]:
    if kind in ("store", "store-overwrite"):
        source = _write_table(store_path.parent / "old" / "old.parquet", _good_columns())
        _ingest(source, store_path)
        return {"overwrite": True} if kind == "store-overwrite" else {}
    if kind == "files":
        store_path.mkdir()
        (store_path / "results.txt").write_text("keep me\n")
    elif kind == "empty":
        store_path.mkdir()
    return {}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda case: case.id)
def test_ingest_bad_input_leaves_no_trace(tmp_path: Path, case: BadInput) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    stores = tmp_path / "stores"
    stores.mkdir()
    store_path = stores / "store"
    extra_options = _prepare_target(store_path, case.existing_store)
    source, options = case.build(inputs)
    before = _snapshot(store_path)

    with pytest.raises(case.error, match=case.message):
        _ingest(source, store_path, **{**options, **extra_options})

    assert _snapshot(store_path) == before
    assert [p.name for p in stores.iterdir() if p.name.startswith(STAGING_PREFIX)] == []
    if before is not None and "CURRENT" in before:
        assert tsfeed.open_store(store_path).series_ids == ["A", "B"]


# Policies ---------------------------------------------------------------------------------------

NAN = float("nan")
# Hourly series A: missing values at steps 0, 1, 3 and 7.
HOLES = [None, None, 2.0, None, 4.0, 5.0, 6.0, None, 8.0, 9.0]


def test_ingest_ffill_carries_values_forward(tmp_path: Path) -> None:
    source = _write_table(tmp_path / "input.parquet", _hourly_columns({"A": HOLES}))

    store = _ingest(source, tmp_path / "store", missing="ffill")

    values = store.series(0).features[:, 0]
    # Steps 0 and 1 precede the first value and stay missing. Steps 3 and 7 repeat 2 and 6.
    np.testing.assert_array_equal(values, [NAN, NAN, 2, 2, 4, 5, 6, 6, 8, 9])
    assert store.runs(0).tolist() == [[2, 10]]
    assert store.num_missing.tolist() == [4]


def test_ingest_ffill_skips_leading_missing_windows(tmp_path: Path) -> None:
    source = _write_table(tmp_path / "input.parquet", _hourly_columns({"A": HOLES}))
    store = _ingest(source, tmp_path / "store", missing="ffill")

    # A window of 3 inputs and its target needs 4 steps, so starts 2..6 fit in steps 2..9.
    starts = _window_starts(store, tsfeed.WindowSpec(sequence_length=3, horizon=1), "A")

    assert starts == [2, 3, 4, 5, 6]


def test_ingest_missing_drop_excludes_rows_from_runs(tmp_path: Path) -> None:
    source = _write_table(tmp_path / "input.parquet", _hourly_columns({"A": HOLES}))

    store = _ingest(source, tmp_path / "store", missing="drop")

    values = store.series(0).features[:, 0]
    np.testing.assert_array_equal(values, [NAN, NAN, 2, NAN, 4, 5, 6, NAN, 8, 9])
    assert store.runs(0).tolist() == [[2, 3], [4, 7], [8, 10]]
    # One input and one target need 2 steps. Run 4..6 gives starts 4 and 5, and run 8..9 gives 8.
    assert _window_starts(store, tsfeed.WindowSpec(sequence_length=1, horizon=1), "A") == [4, 5, 8]


def test_ingest_missing_warning_counts_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = _write_table(tmp_path / "input.parquet", _hourly_columns({"A": HOLES}))

    with caplog.at_level(logging.WARNING, logger="tsfeed"):
        _ingest(source, tmp_path / "store", missing="drop")

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("4 rows with missing values" in message for message in warnings), warnings


GAP_HOURS = [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]  # hours 5 and 6 are absent


def _gap_source(tmp_path: Path) -> Path:
    columns = {"id": ["A"] * 10, "ts": list(_hours(GAP_HOURS)), "x": [float(h) for h in GAP_HOURS]}
    return _write_table(tmp_path / "input.parquet", columns)


def test_ingest_gaps_split_breaks_runs(tmp_path: Path) -> None:
    store = _ingest(_gap_source(tmp_path), tmp_path / "store", gaps="split")

    assert store.num_steps.tolist() == [10]
    assert store.runs(0).tolist() == [[0, 5], [5, 10]]
    # A window needs 4 steps, so the first run of 5 gives starts 0 and 1, the second 5 and 6.
    assert _window_starts(store, tsfeed.WindowSpec(sequence_length=3), "A") == [0, 1, 5, 6]
    assert store.meta["summary"]["gaps"] == 1


def test_ingest_gaps_fill_inserts_grid_rows(tmp_path: Path) -> None:
    store = _ingest(_gap_source(tmp_path), tmp_path / "store", gaps="fill", missing="ffill")

    data = store.series(0)
    np.testing.assert_array_equal(data.times, START_NS + np.arange(12) * HOUR_NS)
    # The inserted hours 5 and 6 carry hour 4's value forward.
    assert data.features[:, 0].tolist() == [0, 1, 2, 3, 4, 4, 4, 7, 8, 9, 10, 11]
    assert store.runs(0).tolist() == [[0, 12]]
    assert store.meta["summary"]["steps_filled"] == 2


def test_ingest_gaps_fill_with_drop_leaves_holes(tmp_path: Path) -> None:
    store = _ingest(_gap_source(tmp_path), tmp_path / "store", gaps="fill", missing="drop")

    values = store.series(0).features[:, 0]
    np.testing.assert_array_equal(values, [0, 1, 2, 3, 4, NAN, NAN, 7, 8, 9, 10, 11])
    assert store.runs(0).tolist() == [[0, 5], [7, 12]]


def test_ingest_gaps_ignore_keeps_rows_consecutive(tmp_path: Path) -> None:
    store = _ingest(_gap_source(tmp_path), tmp_path / "store", gaps="ignore")

    data = store.series(0)
    np.testing.assert_array_equal(data.times, START_NS + np.array(GAP_HOURS) * HOUR_NS)
    assert data.features[:, 0].tolist() == [float(h) for h in GAP_HOURS]
    assert store.runs(0).tolist() == [[0, 10]]


def _duplicate_source(tmp_path: Path) -> Path:
    # Hour 2 appears twice: 20.0 comes first in the input and 21.0 second. Other rows are
    # shuffled around them, but the two keep their relative order.
    rows = [("A", 0, 0.0), ("A", 2, 20.0), ("B", 1, 1.0), ("A", 3, 3.0), ("A", 1, 1.0)]
    rows += [("B", 0, 0.0), ("A", 2, 21.0), ("B", 2, 2.0)]
    columns = {
        "id": [row[0] for row in rows],
        "ts": list(_hours([row[1] for row in rows])),
        "x": [row[2] for row in rows],
    }
    return _write_table(tmp_path / "input.parquet", columns)


@pytest.mark.parametrize(("policy", "kept"), [("keep_first", 20.0), ("keep_last", 21.0)])
def test_ingest_duplicates_policy_keeps_one(tmp_path: Path, policy: str, kept: float) -> None:
    store = _ingest(_duplicate_source(tmp_path), tmp_path / "store", duplicates=policy)

    assert store.num_steps.tolist() == [4, 3]
    assert store.series(0).features[:, 0].tolist() == [0.0, 1.0, kept, 3.0]
    assert store.meta["summary"]["duplicates_dropped"] == 1


def test_ingest_integer_columns_cast_to_float32(tmp_path: Path) -> None:
    columns = {
        "id": ["A"] * 4,
        "ts": list(_hours(range(4))),
        "count": pa.array([3, 1, 4, 1], pa.int32()),
    }
    store = _ingest(_write_table(tmp_path / "input.parquet", columns), tmp_path / "store")

    assert store.series(0).features.dtype == np.float32
    assert store.series(0).features[:, 0].tolist() == [3.0, 1.0, 4.0, 1.0]


def test_ingest_large_integers_log_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    big = 2**24 + 1  # the first integer that float32 cannot represent
    columns = {
        "id": ["A"] * 3,
        "ts": list(_hours(range(3))),
        "small": pa.array([1, 2, 3], pa.int64()),
        "big": pa.array([1, big, 3], pa.int64()),
    }
    source = _write_table(tmp_path / "input.parquet", columns)

    with caplog.at_level(logging.WARNING, logger="tsfeed"):
        store = _ingest(source, tmp_path / "store")

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "'big'" in warnings[0]
    assert str(big) in warnings[0]
    assert "2**24" in warnings[0]
    assert store.series(0).features[1, 1] == np.float32(big)


def test_ingest_explicit_step_overrides_inferred(tmp_path: Path) -> None:
    # Differences 2h, 2h, 2h, 1h: the most common difference is 2h, so the final 1h step looks
    # shorter than the series' step unless the caller states that the step is 1h.
    hours = [0, 2, 4, 6, 7]
    columns = {"id": ["A"] * 5, "ts": list(_hours(hours)), "x": [float(h) for h in hours]}
    source = _write_table(tmp_path / "input.parquet", columns)

    with pytest.raises(tsfeed.GapError, match=r"some steps are shorter"):
        _ingest(source, tmp_path / "inferred", gaps="split")
    store = _ingest(source, tmp_path / "explicit", gaps="split", step="1h")

    assert store.meta["step"] == HOUR_NS
    assert store.runs(0).tolist() == [[0, 1], [1, 2], [2, 3], [3, 5]]


# Overwrite -------------------------------------------------------------------------------------


def test_ingest_overwrite_keeps_old_version_readable(tmp_path: Path) -> None:
    old_source = _write_table(tmp_path / "old.parquet", _hourly_columns({"A": [1.0, 2.0, 3.0]}))
    new_source = _write_table(tmp_path / "new.parquet", _hourly_columns({"B": [7.0, 8.0]}))
    store_path = tmp_path / "store"
    _ingest(old_source, store_path)
    old_mapped = tsfeed.open_store(store_path)
    old_mapped.series(0)  # maps the old shard before the overwrite
    old_unmapped = tsfeed.open_store(store_path)

    new = _ingest(new_source, store_path, overwrite=True)

    assert old_mapped.series(0).features[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert old_unmapped.series(0).features[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert old_unmapped.series_ids == ["A"]
    reopened = tsfeed.open_store(store_path)
    assert reopened.series_ids == ["B"]
    assert reopened.series(0).features[:, 0].tolist() == [7.0, 8.0]
    assert new.version_path == reopened.version_path
    assert reopened.version_path != old_unmapped.version_path
    assert [p.name for p in store_path.iterdir() if p.name.startswith(STAGING_PREFIX)] == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)] == []


@pytest.mark.parametrize(
    "bad_value", [np.inf, -np.inf, 1e300], ids=["inf", "minus-inf", "beyond-float32"]
)
def test_ingest_not_finite_value_raises(tmp_path: Path, bad_value: float) -> None:
    values = np.arange(10, dtype=np.float64)
    values[4] = bad_value
    table = pa.table(
        {
            "id": ["A"] * 10,
            "t": pa.array(np.arange(10) * 3_600_000_000_000, pa.timestamp("ns", "UTC")),
            "x": values,
        }
    )
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)

    with pytest.raises(
        tsfeed.MissingValueError, match=r"'x' of series 'A' contains 1 values that are infinite"
    ):
        tsfeed.ingest(source, tmp_path / "store", series_column="id", time_column="t")
    assert not (tmp_path / "store").exists()


def test_ingest_not_finite_value_dropped_as_missing(tmp_path: Path) -> None:
    values = np.arange(10, dtype=np.float64)
    values[4] = np.inf
    table = pa.table(
        {
            "id": ["A"] * 10,
            "t": pa.array(np.arange(10) * 3_600_000_000_000, pa.timestamp("ns", "UTC")),
            "x": values,
        }
    )
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)

    store = tsfeed.ingest(
        source, tmp_path / "store", series_column="id", time_column="t", missing="drop"
    )

    assert store.runs(0).tolist() == [[0, 4], [5, 10]]
    assert np.isnan(store.series(0).features[4, 0])
