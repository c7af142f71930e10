"""Hostile input and irregular time: gaps, duplicate timestamps, zones, NaN, nulls and dtypes.

Every test writes a tiny long-format table to ``tmp_path`` (Parquet), runs the real ingest and
counts windows with :func:`tsfeed.split.split_windows` or by iterating the ``tf.data`` pipelines
of :func:`tsfeed.make_datasets`. Series have hourly rows from 2024-01-01T00:00 and one feature
``x`` equal to the row number (the hour), which is also the target, unless a test states otherwise.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import collect_batches
from hypothesis import given, settings
from hypothesis import strategies as st

import tsfeed
from tsfeed.split import Cutoff, count_windows_lost_to_runs, split_windows

START = np.datetime64("2024-01-01T00:00:00", "ns")
HOUR_NS = 3_600_000_000_000
NAN = float("nan")


# Helpers ---------------------------------------------------------------------------------------


def _hourly_table(
    series_id: str,
    hours: Sequence[int],
    values: Sequence[float | None] | None = None,
    *,
    zone: str | None = None,
    first_instant: np.datetime64 = START,
) -> pa.Table:
    """Build columns ``id``, ``ts`` and ``x`` of one series at ``hours`` after ``first_instant``.

    ``x`` defaults to the hour numbers, and None values become nulls. With a zone, the time
    column is a zone-aware Arrow timestamp and ``first_instant`` is read as UTC.
    """
    hours = np.asarray(hours, dtype=np.int64)
    instants = first_instant.astype("datetime64[ns]").astype(np.int64) + hours * HOUR_NS
    xs = [float(h) for h in hours] if values is None else list(values)
    return pa.table(
        {
            "id": pa.array([series_id] * len(hours), pa.string()),
            "ts": pa.array(instants, pa.timestamp("ns", zone)),
            "x": pa.array(xs, pa.float64()),
        }
    )


def _write(path: Path, *tables: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables(tables), path)
    return path


def _ingest(source: Path, store_path: Path, **options: Any) -> tsfeed.Store:
    return tsfeed.ingest(source, store_path, series_column="id", time_column="ts", **options)


def _hourly_store(tmp_path: Path, num_rows: int) -> tsfeed.Store:
    """Ingest series A with ``num_rows`` clean hourly rows."""
    source = _write(tmp_path / "input.parquet", _hourly_table("A", range(num_rows)))
    return _ingest(source, tmp_path / "store")


def _num_windows(store: tsfeed.Store, spec: tsfeed.WindowSpec) -> int:
    return split_windows(store, spec, None).train.num_windows


def _train_windows(
    store: tsfeed.Store, spec: tsfeed.WindowSpec, **options: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Every training window in canonical order, as ``(inputs, targets)`` arrays."""
    options = {"validation_cutoff": None, "shuffle": False, "batch_size": 64, **options}
    train, _ = tsfeed.make_datasets(store, spec, **options)
    inputs, targets, _ = collect_batches(train)
    return inputs, targets


# Gaps in time ----------------------------------------------------------------------------------

GAP_HOURS = [*range(100), *range(200, 300)]  # hours 100..199 are absent
GAP_SPEC = tsfeed.WindowSpec(sequence_length=24, horizon=1)  # 25 rows per window


def _gap_store(tmp_path: Path, **options: Any) -> tsfeed.Store:
    source = _write(tmp_path / "input.parquet", _hourly_table("C", GAP_HOURS))
    return _ingest(source, tmp_path / "store", **options)


def test_gaps_split_counts_both_sides(tmp_path: Path) -> None:
    store = _gap_store(tmp_path, gaps="split")

    inputs, _ = _train_windows(store, GAP_SPEC)

    # Each run of 100 rows contains 100 - 25 + 1 = 76 windows.
    assert _num_windows(store, GAP_SPEC) == 152
    assert len(inputs) == 152
    assert store.num_steps.tolist() == [200]


def test_gaps_split_no_window_spans_hole(tmp_path: Path) -> None:
    store = _gap_store(tmp_path, gaps="split")

    inputs, targets = _train_windows(store, GAP_SPEC)

    # x is the hour, so a window across the hole contains a value <= 99 and one >= 200.
    values = np.concatenate([inputs[..., 0], targets], axis=1)
    crossing = (values.min(axis=1) <= 99) & (values.max(axis=1) >= 200)
    assert not crossing.any(), values[crossing][:3]
    assert np.isfinite(values).all()


def test_gaps_error_names_jump(tmp_path: Path) -> None:
    with pytest.raises(tsfeed.GapError) as caught:
        _gap_store(tmp_path)

    message = str(caught.value)
    assert "'C'" in message
    # Hour 99 is 2024-01-05T03:00, hour 200 is 2024-01-09T08:00.
    assert "2024-01-05T03:00:00" in message
    assert "2024-01-09T08:00:00" in message
    assert "1h" in message


def test_gaps_fill_with_drop_skips_filled_rows(tmp_path: Path) -> None:
    store = _gap_store(tmp_path, gaps="fill", missing="drop")

    assert store.num_steps.tolist() == [300]
    assert _num_windows(store, GAP_SPEC) == 152


def test_gaps_fill_with_ffill_covers_hole(tmp_path: Path) -> None:
    store = _gap_store(tmp_path, gaps="fill", missing="ffill")

    # 300 steps, all usable after the forward fill: 300 - 25 + 1 = 276 windows.
    assert store.num_steps.tolist() == [300]
    assert _num_windows(store, GAP_SPEC) == 276


def test_gaps_ignore_treats_rows_as_consecutive(tmp_path: Path) -> None:
    store = _gap_store(tmp_path, gaps="ignore")

    # 200 rows as one run: 200 - 25 + 1 = 176 windows.
    assert _num_windows(store, GAP_SPEC) == 176


# Duplicate timestamps --------------------------------------------------------------------------

DUPLICATE_HOUR = 10
DUPLICATE_VALUE = 1000.0  # x of the second, later row at hour 10; the first row has x = 10


def _duplicate_store(tmp_path: Path, **options: Any) -> tsfeed.Store:
    source = _write(
        tmp_path / "input.parquet",
        _hourly_table("B", range(50)),
        _hourly_table("B", [DUPLICATE_HOUR], [DUPLICATE_VALUE]),
    )
    return _ingest(source, tmp_path / "store", **options)


def test_duplicates_error_names_timestamp(tmp_path: Path) -> None:
    with pytest.raises(tsfeed.DuplicateTimestampError) as caught:
        _duplicate_store(tmp_path)

    message = str(caught.value)
    assert "'B'" in message
    assert "2024-01-01T10:00" in message
    assert "2 rows" in message
    assert "duplicate" in message


@pytest.mark.parametrize(
    ("policy", "kept"), [("keep_first", float(DUPLICATE_HOUR)), ("keep_last", DUPLICATE_VALUE)]
)
def test_duplicates_policy_keeps_one_row(tmp_path: Path, policy: str, kept: float) -> None:
    store = _duplicate_store(tmp_path, duplicates=policy)

    assert store.num_steps.tolist() == [50]
    assert store.series(0).features[DUPLICATE_HOUR, 0] == kept
    # 50 steps, 25 rows per window: 26 windows.
    assert _num_windows(store, GAP_SPEC) == 26


# Time zones ------------------------------------------------------------------------------------

SYDNEY = "Australia/Sydney"
# 2024-01-09T00:00+11:00 (Sydney summer time) is 2024-01-08T13:00Z.
SYDNEY_START_UTC = np.datetime64("2024-01-08T13:00:00", "ns")
ZONE_SPEC = tsfeed.WindowSpec(sequence_length=6, horizon=1)  # target at start + 6


def _zone_store(tmp_path: Path) -> tsfeed.Store:
    table = _hourly_table("E", range(48), zone=SYDNEY, first_instant=SYDNEY_START_UTC)
    return _ingest(_write(tmp_path / "input.parquet", table), tmp_path / "store")


@pytest.mark.parametrize(
    "cutoff", ["2024-01-10T00:00+11:00", "2024-01-09T13:00Z"], ids=["sydney", "utc"]
)
def test_zones_cutoff_is_an_instant(tmp_path: Path, cutoff: str) -> None:
    store = _zone_store(tmp_path)

    split = split_windows(store, ZONE_SPEC, Cutoff.coerce(cutoff))
    assert split.validation is not None
    train_targets = split.train.starts_of_series(0) + ZONE_SPEC.target_offset
    validation_targets = split.validation.starts_of_series(0) + ZONE_SPEC.target_offset

    # The cutoff is row 24 (24 hours after the first row).
    assert store.time_zone == SYDNEY
    assert split.cutoff_steps is not None
    assert split.cutoff_steps.tolist() == [24]
    assert train_targets.tolist() == list(range(6, 24))
    assert validation_targets.tolist() == list(range(24, 48))


def test_zones_naive_cutoff_raises(tmp_path: Path) -> None:
    store = _zone_store(tmp_path)

    with pytest.raises(ValueError, match=SYDNEY):
        split_windows(store, ZONE_SPEC, Cutoff.coerce("2024-01-10T00:00"))


# NaN and infinity ------------------------------------------------------------------------------

NAN_SPEC = tsfeed.WindowSpec(sequence_length=10, horizon=1)  # 11 rows per window


def _bad_row_store(tmp_path: Path, bad_value: float, **options: Any) -> tsfeed.Store:
    values = [float(row) for row in range(100)]
    values[50] = bad_value
    source = _write(tmp_path / "input.parquet", _hourly_table("F", range(100), values))
    return _ingest(source, tmp_path / "store", **options)


@pytest.mark.parametrize("bad_value", [NAN, np.inf], ids=["nan", "inf"])
def test_missing_drop_skips_windows_over_row(tmp_path: Path, bad_value: float) -> None:
    store = _bad_row_store(tmp_path, bad_value, missing="drop")

    inputs, targets = _train_windows(store, NAN_SPEC)
    starts = inputs[:, 0, 0]

    # Steps 0..49 give starts 0..39 (40), steps 51..99 give starts 51..89 (39). Starts 41..50
    # take row 50 as an input and start 40 takes it as its target.
    assert _num_windows(store, NAN_SPEC) == 79
    assert len(inputs) == 79
    assert np.isfinite(inputs).all()
    assert np.isfinite(targets).all()
    assert starts.tolist() == [*range(40), *range(51, 90)]


@pytest.mark.parametrize("bad_value", [NAN, np.inf], ids=["nan", "inf"])
def test_missing_ffill_windows_are_finite(tmp_path: Path, bad_value: float) -> None:
    store = _bad_row_store(tmp_path, bad_value, missing="ffill")

    inputs, targets = _train_windows(store, NAN_SPEC)

    # Row 50 repeats row 49, so all 100 - 11 + 1 = 90 windows remain.
    assert len(inputs) == 90
    assert np.isfinite(inputs).all()
    assert np.isfinite(targets).all()
    assert store.series(0).features[50, 0] == 49.0


def test_missing_nan_error_names_row(tmp_path: Path) -> None:
    with pytest.raises(tsfeed.MissingValueError) as caught:
        _bad_row_store(tmp_path, NAN)

    message = str(caught.value)
    assert "'F'" in message
    assert "'x'" in message
    # Row 50 is 2 days and 2 hours after the first row.
    assert "2024-01-03T02:00:00" in message


def test_missing_inf_error_names_row(tmp_path: Path) -> None:
    with pytest.raises(tsfeed.MissingValueError) as caught:
        _bad_row_store(tmp_path, np.inf)

    message = str(caught.value)
    assert "'F'" in message
    assert "'x'" in message
    assert "2024-01-03T02:00:00" in message


# Parquet nulls, in a child process -------------------------------------------------------------

NULL_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import tsfeed
    from tsfeed.split import split_windows

    folder, missing = sys.argv[1], sys.argv[2]
    hours = np.arange(1000, dtype=np.int64)
    values = [None if row in (100, 500, 900) else float(row) for row in range(1000)]
    table = pa.table(
        {
            "id": pa.array(["G"] * 1000, pa.string()),
            "ts": pa.array(hours * 3_600_000_000_000, pa.timestamp("ns")),
            "x": pa.array(values, pa.float64()),
        }
    )
    pq.write_table(table, folder + "/input.parquet")
    store = tsfeed.ingest(
        folder + "/input.parquet", folder + "/store", series_column="id", time_column="ts",
        missing=missing,
    )
    spec = tsfeed.WindowSpec(sequence_length=10, horizon=1)
    print(split_windows(store, spec, None).train.num_windows)
    """
)


def _run_null_script(tmp_path: Path, missing: str) -> subprocess.CompletedProcess[str]:
    """Ingest the table with nulls in a child process, so a native crash shows as a signal."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-c", NULL_SCRIPT, str(tmp_path), missing],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )


def test_nulls_drop_in_child_process(tmp_path: Path) -> None:
    result = _run_null_script(tmp_path, "drop")

    # A negative return code is a signal, such as a segmentation fault in native code.
    assert result.returncode >= 0, result.stderr
    assert result.returncode == 0, result.stderr
    # Runs of 100, 399, 399 and 99 steps contain 90 + 389 + 389 + 89 = 957 windows.
    assert result.stdout.split() == ["957"]


def test_nulls_error_in_child_process(tmp_path: Path) -> None:
    result = _run_null_script(tmp_path, "error")

    assert result.returncode >= 0, result.stderr
    assert result.returncode == 1, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("tsfeed.errors.MissingValueError"), last_line
    assert "'G'" in last_line
    assert "'x'" in last_line
    assert "3 rows" in last_line


# Dtypes ----------------------------------------------------------------------------------------

BIG_INTEGER = 2**24 + 1  # 16,777,217, the first integer that float32 cannot represent
DTYPE_SPEC = tsfeed.WindowSpec(sequence_length=5, horizon=1)  # 30 rows give 25 windows


def _dtype_source(folder: Path) -> Path:
    """Write series A as two Parquet files of 15 rows, so every column is cast twice."""
    rows = np.arange(30)
    f3 = rows.copy()
    f3[0] = BIG_INTEGER
    table = pa.table(
        {
            "id": pa.array(["A"] * 30, pa.string()),
            "ts": pa.array(START + rows * np.timedelta64(1, "h")),
            "f1": pa.array(rows + 0.5, pa.float32()),
            "f2": pa.array(rows + 1, pa.int64()),
            "f3": pa.array(f3, pa.int64()),
        }
    )
    folder.mkdir(parents=True)
    pq.write_table(table.slice(0, 15), folder / "part-0.parquet")
    pq.write_table(table.slice(15), folder / "part-1.parquet")
    return folder


def test_dtypes_window_values_are_float32(tmp_path: Path) -> None:
    store = _ingest(_dtype_source(tmp_path / "input"), tmp_path / "store", target_columns=["f1"])

    inputs, targets = _train_windows(store, DTYPE_SPEC)

    assert inputs.dtype == np.float32
    assert targets.dtype == np.float32
    assert inputs.shape == (25, 5, 3)
    assert targets.shape == (25, 1)
    assert inputs[0, 0, 0] == 0.5
    assert inputs[0, 2, 1] == 3.0  # f2 of row 2
    assert inputs[0, 0, 2] == 16_777_216.0  # 2**24 + 1 rounds to 2**24
    assert targets[0, 0] == 5.5  # f1 of row 5


def test_dtypes_large_integer_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tsfeed"):
        _ingest(_dtype_source(tmp_path / "input"), tmp_path / "store", target_columns=["f1"])

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    casts = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.INFO and "casting integer column" in r.getMessage()
    ]
    big_warnings = [message for message in warnings if "'f3'" in message]
    assert len(big_warnings) == 1, warnings
    assert "2**24" in big_warnings[0]
    assert len([message for message in casts if "'f2'" in message]) == 1, casts
    assert len([message for message in casts if "'f3'" in message]) == 1, casts
    assert not [message for message in casts if "'f1'" in message], casts


def test_dtypes_single_feature_keeps_axis(tmp_path: Path) -> None:
    store = _ingest(_dtype_source(tmp_path / "input"), tmp_path / "store", feature_columns=["f1"])

    inputs, targets = _train_windows(store, DTYPE_SPEC)

    assert inputs.shape == (25, 5, 1)
    assert targets.shape == (25, 1)


# Reference cases -------------------------------------------------------------------------------


def test_reference_exact_fit_counts(tmp_path: Path) -> None:
    # L=7, h=2: the target is start + 8, so a window needs L + h = 9 rows.
    spec = tsfeed.WindowSpec(sequence_length=7, horizon=2)
    source = _write(
        tmp_path / "input.parquet",
        _hourly_table("exact", range(9)),
        _hourly_table("short", range(8)),
    )
    store = _ingest(source, tmp_path / "store")

    per_series = split_windows(store, spec, None).train.windows_per_series(store.num_series)

    assert store.series_ids == ["exact", "short"]
    assert per_series.tolist() == [1, 0]


def test_reference_one_feature_shape(tmp_path: Path) -> None:
    store = _hourly_store(tmp_path, 20)

    inputs, targets = _train_windows(store, tsfeed.WindowSpec(sequence_length=7))

    # 20 rows, 8 per window: 13 windows.
    assert inputs.shape == (13, 7, 1)
    assert targets.shape == (13, 1)


def test_reference_small_validation_one_batch(tmp_path: Path) -> None:
    store = _hourly_store(tmp_path, 40)
    spec = tsfeed.WindowSpec(sequence_length=7)

    _, validation = tsfeed.make_datasets(
        store, spec, validation_cutoff=Cutoff.last_steps(5), batch_size=256, seed=0
    )
    assert validation is not None
    _, targets, sizes = collect_batches(validation)

    # Validation targets are the final 5 steps, 35..39.
    assert sizes == [5]
    assert targets[:, 0].tolist() == [35.0, 36.0, 37.0, 38.0, 39.0]


def test_reference_sampling_rate_and_stride(tmp_path: Path) -> None:
    store = _hourly_store(tmp_path, 20)
    spec = tsfeed.WindowSpec(sequence_length=4, sequence_stride=3, sampling_rate=2, horizon=1)

    inputs, targets = _train_windows(store, spec)

    # Inputs start, +2, +4, +6 and the target at +7 need 8 rows, so the last start is 12.
    assert inputs[:, 0, 0].tolist() == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert inputs[0, :, 0].tolist() == [0.0, 2.0, 4.0, 6.0]
    assert targets[:, 0].tolist() == [7.0, 10.0, 13.0, 16.0, 19.0]


# Cutoff outside the data -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cutoff", "side"),
    [("2023-12-01T00:00", "training"), ("2024-02-01T00:00", "validation")],
    ids=["before-data", "after-data"],
)
def test_cutoff_outside_data_raises(tmp_path: Path, cutoff: str, side: str) -> None:
    store = _hourly_store(tmp_path, 48)

    with pytest.raises(tsfeed.NoWindowsError) as caught:
        tsfeed.make_datasets(
            store, tsfeed.WindowSpec(sequence_length=6), validation_cutoff=cutoff, seed=0
        )

    message = str(caught.value)
    assert f"no {side} window" in message
    # 48 hourly rows cover 2024-01-01T00:00 to 2024-01-02T23:00.
    assert "2024-01-01T00:00:00 to 2024-01-02T23:00:00" in message


# Random series with NaN ------------------------------------------------------------------------


def _expected_starts(values: np.ndarray, spec: tsfeed.WindowSpec) -> list[int]:
    """List the starts whose rows ``start .. start + (L - 1) + h`` all exist and are finite."""
    starts = []
    last_offset = (spec.sequence_length - 1) * spec.sampling_rate + spec.horizon
    for start in range(len(values)):
        if start + last_offset >= len(values):
            break
        if all(np.isfinite(values[row]) for row in range(start, start + last_offset + 1)):
            starts.append(start)
    return starts


@st.composite
def _random_series(draw: Callable[..., Any]) -> tuple[tsfeed.WindowSpec, list[np.ndarray]]:
    sequence_length = draw(st.integers(1, 6))
    horizon = draw(st.integers(0, 2))
    spec = tsfeed.WindowSpec(sequence_length=sequence_length, horizon=horizon)
    lengths = st.one_of(
        st.sampled_from([1, sequence_length - 1 or 1, sequence_length, sequence_length + 1]),
        st.integers(1, 60),
    )
    series = []
    for number in range(draw(st.integers(1, 3))):
        length = draw(lengths)
        # x is 1000 * series number + row, so the first input value names a window.
        values = 1000.0 * number + np.arange(length, dtype=np.float64)
        missing_rows = draw(st.lists(st.integers(0, length - 1), max_size=4))
        values[missing_rows] = np.nan
        series.append(values)
    return spec, series


@settings(max_examples=20, deadline=None)
@given(case=_random_series(), seed=st.integers(0, 2**32))
def test_random_drop_windows_once_each(
    make_store: Callable[..., tsfeed.Store],
    case: tuple[tsfeed.WindowSpec, list[np.ndarray]],
    seed: int,
) -> None:
    spec, series = case
    expected = sorted(
        1000.0 * number + start
        for number, values in enumerate(series)
        for start in _expected_starts(values, spec)
    )
    store = make_store(
        {f"s{number}": values for number, values in enumerate(series)}, missing="drop"
    )

    if not expected:
        with pytest.raises(tsfeed.NoWindowsError):
            tsfeed.make_datasets(store, spec, validation_cutoff=None, seed=seed, batch_size=7)
        return
    train, _ = tsfeed.make_datasets(store, spec, validation_cutoff=None, seed=seed, batch_size=7)
    inputs, targets, _ = collect_batches(train)
    first_values = inputs[:, 0, 0].tolist()

    assert np.isfinite(inputs).all()
    assert np.isfinite(targets).all()
    assert len(first_values) == len(expected)
    assert len(set(first_values)) == len(first_values)
    assert sorted(first_values) == expected


def test_reliability_windows_lost_per_gap_policy(tmp_path: Path) -> None:
    """Each gap policy's window count, and what it loses against unbroken runs."""

    hours = [*range(100), *range(200, 300)]
    table = pa.table(
        {
            "id": ["C"] * len(hours),
            "t": pa.array(np.array(hours) * 3_600_000_000_000, pa.timestamp("ns", "UTC")),
            "x": np.array(hours, dtype=float),
        }
    )
    pq.write_table(table, tmp_path / "gap.parquet")
    spec = tsfeed.WindowSpec(sequence_length=24, horizon=1)
    expected = {"split": (152, 24), "ignore": (176, 0)}

    for policy, (kept, lost) in expected.items():
        store = tsfeed.ingest(
            tmp_path / "gap.parquet",
            tmp_path / policy,
            series_column="id",
            time_column="t",
            gaps=policy,
        )
        assert count_windows_lost_to_runs(store, spec, kept=True) == kept
        assert count_windows_lost_to_runs(store, spec) == lost
