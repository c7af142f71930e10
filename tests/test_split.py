"""Tests of the cutoff rule: Cutoff forms, time zones, errors, and agreement with the reference."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
import reference
from hypothesis import given
from hypothesis import strategies as st

from tsfeed import Cutoff, NoWindowsError, WindowSpec
from tsfeed.split import split_windows

HOUR = dt.timedelta(hours=1)
START = dt.datetime(2024, 1, 1)


def hourly(first: dt.datetime, num_steps: int) -> list[dt.datetime]:
    return [first + step * HOUR for step in range(num_steps)]


@pytest.fixture(scope="module")
def tiny_store(make_store):
    """Series "a" has 10 hourly steps from 00:00, series "b" 4 steps from 05:00 (naive times)."""
    return make_store(
        {"a": np.arange(10.0), "b": np.arange(4.0)},
        times={"a": hourly(START, 10), "b": hourly(START + 5 * HOUR, 4)},
        time_type=pa.timestamp("ns"),
    )


# Cutoff forms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "number"),
    [
        pytest.param(3, "last_steps", 3, id="int-last-steps"),
        pytest.param(np.int64(5), "last_steps", 5, id="numpy-int-last-steps"),
        pytest.param(0.25, "fraction", 0.25, id="float-fraction"),
        pytest.param("1970-01-01T00:00:01", "time", 1_000_000_000, id="iso-string"),
        pytest.param(dt.datetime(1970, 1, 1, 0, 0, 2), "time", 2_000_000_000, id="datetime"),
        pytest.param(dt.date(1970, 1, 2), "time", 86_400 * 10**9, id="date"),
        pytest.param(np.datetime64("1970-01-01T00:00:03"), "time", 3 * 10**9, id="datetime64"),
    ],
)
def test_cutoff_coerce_picks_kind(value, kind, number):
    cutoff = Cutoff.coerce(value)

    assert cutoff.kind == kind
    assert cutoff.value == number


def test_cutoff_coerce_keeps_cutoff():
    cutoff = Cutoff.last_steps(4)

    assert Cutoff.coerce(cutoff) is cutoff


@pytest.mark.parametrize(
    ("cutoff", "expected"),
    [
        # a has 10 steps, b has 4: the last 3 steps begin at 10 - 3 = 7 and 4 - 3 = 1.
        pytest.param(Cutoff.last_steps(3), [7, 1], id="last-3"),
        # b has fewer than 5 steps, so all of it is validation: max(4 - 5, 0) = 0.
        pytest.param(Cutoff.last_steps(5), [5, 0], id="last-5"),
        # round(0.25 * 10) = round(2.5) = 3 (half up) and round(0.25 * 4) = 1: 10-3=7, 4-1=3.
        pytest.param(Cutoff.fraction(0.25), [7, 3], id="fraction-quarter"),
        # 0.5 * 10 = 5 and 0.5 * 4 = 2 final steps: cutoffs 5 and 2.
        pytest.param(Cutoff.fraction(0.5), [5, 2], id="fraction-half"),
        # a is at 00:00..09:00, so 06:00 is step 6; b is at 05:00..08:00, so 06:00 is step 1.
        pytest.param(Cutoff.at("2024-01-01T06:00"), [6, 1], id="time-on-step"),
        # Between steps the cutoff is the first step at or after it: 06:00 in a, 06:00 in b.
        pytest.param(Cutoff.at("2024-01-01T05:30"), [6, 1], id="time-between-steps"),
        # Before every step: all validation. After every step: all training.
        pytest.param(Cutoff.at("2023-12-31"), [0, 0], id="time-before-all"),
        pytest.param(Cutoff.at(dt.datetime(2024, 1, 2)), [10, 4], id="time-after-all"),
        # At b's first step (05:00): b's step 0 is already validation.
        pytest.param(Cutoff.at(np.datetime64("2024-01-01T05:00")), [5, 0], id="time-first-of-b"),
    ],
)
def test_cutoff_steps_golden(tiny_store, cutoff, expected):
    assert tiny_store.series_ids == ["a", "b"]
    assert cutoff.cutoff_steps(tiny_store).tolist() == expected


# Time zones ----------------------------------------------------------------------------------

UTC = dt.timezone.utc


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("parquet", pa.timestamp("ns", "UTC")), id="parquet-utc"),
        pytest.param(("parquet", pa.timestamp("ns", "Australia/Sydney")), id="parquet-sydney"),
        pytest.param(("csv", None), id="csv-offsets"),
    ],
)
def aware_store(request, make_store):
    """One series of 10 hourly steps from 2024-01-01T00:00Z, stored as zone-aware times."""
    file_format, time_type = request.param
    times = hourly(dt.datetime(2024, 1, 1, tzinfo=UTC), 10)
    if file_format == "csv":
        times = [time.isoformat() for time in times]
    return make_store(
        {"a": np.arange(10.0)}, times={"a": times}, time_type=time_type, file_format=file_format
    )


@pytest.mark.parametrize(
    "cutoff",
    [
        "2024-01-01T06:00+00:00",
        "2024-01-01T06:00Z",
        "2024-01-01T17:00+11:00",
        "2024-01-01T01:00-05:00",
        dt.datetime(2024, 1, 1, 17, tzinfo=dt.timezone(dt.timedelta(hours=11))),
    ],
    ids=["utc-offset", "zulu", "plus-eleven", "minus-five", "aware-datetime"],
)
def test_cutoff_time_zone_same_instant_same_split(aware_store, cutoff):
    # Every form names the instant 06:00 UTC, which is step 6 of the series.
    spec = WindowSpec(sequence_length=2)
    reference_split = split_windows(aware_store, spec, Cutoff.at("2024-01-01T06:00+00:00"))

    split = split_windows(aware_store, spec, Cutoff.coerce(cutoff))

    assert aware_store.time_zone is not None
    assert split.cutoff_steps.tolist() == [6]
    assert listed_windows(split.train) == listed_windows(reference_split.train)
    assert listed_windows(split.validation) == listed_windows(reference_split.validation)


def test_cutoff_naive_on_aware_data_raises(aware_store):
    with pytest.raises(ValueError, match="no time zone") as caught:
        Cutoff.at("2024-01-01T06:00").cutoff_steps(aware_store)

    assert "'2024-01-01T06:00'" in str(caught.value)
    assert f"zone {aware_store.time_zone}" in str(caught.value)


def test_cutoff_aware_on_naive_data_raises(tiny_store):
    with pytest.raises(ValueError, match="has a time zone") as caught:
        Cutoff.at("2024-01-01T06:00+11:00").cutoff_steps(tiny_store)

    assert "'2024-01-01T06:00+11:00'" in str(caught.value)
    assert "naive" in str(caught.value)


# Integer time --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def integer_time_store(make_store):
    """One series at integer times 100, 110, ..., 190."""
    return make_store({"a": np.arange(10.0)}, times={"a": list(range(100, 200, 10))})


@pytest.mark.parametrize(
    ("time", "expected"),
    # 130 is the time of step 3 (100 + 3 * 10); 135 falls between steps 3 and 4.
    [(130, 3), (135, 4), (100, 0), (50, 0), (190, 9), (191, 10)],
)
def test_cutoff_at_integer_time(integer_time_store, time, expected):
    assert integer_time_store.time_kind == "integer"
    assert Cutoff.at(time).cutoff_steps(integer_time_store).tolist() == [expected]


def test_cutoff_datetime_on_integer_time_raises(integer_time_store):
    with pytest.raises(ValueError, match="holds integers"):
        Cutoff.at("2024-01-01").cutoff_steps(integer_time_store)


def test_cutoff_integer_on_datetime_raises(tiny_store):
    with pytest.raises(ValueError, match="holds datetimes"):
        Cutoff.at(5).cutoff_steps(tiny_store)


# Bad cutoffs ---------------------------------------------------------------------------------

BAD_CUTOFFS = [
    pytest.param(lambda: Cutoff.last_steps(0), ValueError, "last_steps", id="last-steps-zero"),
    pytest.param(lambda: Cutoff.last_steps(-2), ValueError, "last_steps", id="last-steps-neg"),
    pytest.param(lambda: Cutoff.last_steps(1.5), TypeError, "last_steps", id="last-steps-float"),
    pytest.param(lambda: Cutoff.last_steps(True), TypeError, "last_steps", id="last-steps-bool"),
    pytest.param(lambda: Cutoff.fraction(0.0), ValueError, "fraction", id="fraction-zero"),
    pytest.param(lambda: Cutoff.fraction(1.0), ValueError, "fraction", id="fraction-one"),
    pytest.param(lambda: Cutoff.fraction(1.5), ValueError, "fraction", id="fraction-above-one"),
    pytest.param(lambda: Cutoff.fraction(-0.1), ValueError, "fraction", id="fraction-negative"),
    pytest.param(lambda: Cutoff.fraction(float("nan")), ValueError, "fraction", id="fraction-nan"),
    pytest.param(lambda: Cutoff.at("yesterday"), ValueError, "ISO 8601", id="at-not-iso"),
    pytest.param(lambda: Cutoff.at("2024-13-01"), ValueError, "ISO 8601", id="at-bad-month"),
    pytest.param(lambda: Cutoff.at(True), TypeError, "cutoff time", id="at-bool"),
    pytest.param(lambda: Cutoff.at(1.5), TypeError, "cutoff time", id="at-float"),
    pytest.param(lambda: Cutoff.coerce(True), TypeError, "validation_cutoff", id="coerce-bool"),
    pytest.param(lambda: Cutoff.coerce([3]), TypeError, "validation_cutoff", id="coerce-list"),
    pytest.param(lambda: Cutoff.coerce(0), ValueError, "last_steps", id="coerce-zero-steps"),
    pytest.param(lambda: Cutoff.coerce(1.0), ValueError, "fraction", id="coerce-fraction-one"),
]


@pytest.mark.parametrize(("make_cutoff", "error", "text"), BAD_CUTOFFS)
def test_cutoff_rejects_bad_value(make_cutoff, error, text):
    with pytest.raises(error, match=text):
        make_cutoff()


def test_split_no_windows_raises(tiny_store):
    spec = WindowSpec(sequence_length=20)

    with pytest.raises(NoWindowsError, match="'a', has 10 steps"):
        split_windows(tiny_store, spec, None)


# Agreement with the reference ----------------------------------------------------------------

specs = st.builds(
    WindowSpec,
    sequence_length=st.integers(1, 5),
    sequence_stride=st.integers(1, 4),
    sampling_rate=st.integers(1, 3),
    horizon=st.integers(0, 3),
    target_width=st.integers(1, 3),
)


def draw_series(data, spec: WindowSpec, with_missing: bool) -> list[np.ndarray]:
    """Draw 1 to 4 series whose lengths sit around the rows one window needs."""
    needed = spec.rows_needed
    lengths = st.one_of(
        st.sampled_from(sorted({1, max(needed - 1, 1), needed, needed + 1})),
        st.integers(1, 40),
    )
    series = []
    for _ in range(data.draw(st.integers(1, 4), label="num_series")):
        num_steps = data.draw(lengths, label="num_steps")
        values = np.arange(num_steps, dtype=np.float64)
        if with_missing:
            missing = data.draw(st.lists(st.integers(0, num_steps - 1), max_size=3))
            values[missing] = np.nan
        series.append(values)
    return series


def listed_windows(index) -> list[tuple[int, int]]:
    positions, starts = index.locate(np.arange(index.num_windows))
    return list(zip(positions.tolist(), starts.tolist(), strict=True))


@given(spec=specs, with_missing=st.booleans(), num_final_steps=st.integers(1, 45), data=st.data())
def test_split_windows_matches_reference(make_store, spec, with_missing, num_final_steps, data):
    series = draw_series(data, spec, with_missing)
    store = make_store(
        {f"s{position}": values for position, values in enumerate(series)}, missing="drop"
    )
    runs = [reference.runs_from_usable(~np.isnan(values)) for values in series]
    cutoff_steps = [max(len(values) - num_final_steps, 0) for values in series]
    expected_train, expected_validation = reference.list_window_starts(spec, runs, cutoff_steps)

    if not expected_train and not expected_validation:
        with pytest.raises(NoWindowsError):
            split_windows(store, spec, Cutoff.last_steps(num_final_steps))
        return
    split = split_windows(store, spec, Cutoff.last_steps(num_final_steps))
    train = listed_windows(split.train)
    validation = listed_windows(split.validation)

    assert split.cutoff_steps.tolist() == cutoff_steps
    assert train == expected_train
    assert validation == expected_validation
    train_targets = {(p, int(t)) for p, start in train for t in spec.target_steps(start)}
    validation_targets = {(p, int(t)) for p, start in validation for t in spec.target_steps(start)}
    assert not train_targets & validation_targets
    assert all(spec.target_steps(start)[-1] < cutoff_steps[p] for p, start in train)
    assert all(spec.target_steps(start)[0] >= cutoff_steps[p] for p, start in validation)


@given(spec=specs, data=st.data())
def test_split_windows_without_cutoff_matches_reference(make_store, spec, data):
    series = draw_series(data, spec, with_missing=True)
    store = make_store(
        {f"s{position}": values for position, values in enumerate(series)}, missing="drop"
    )
    runs = [reference.runs_from_usable(~np.isnan(values)) for values in series]
    expected, _ = reference.list_window_starts(spec, runs)

    if not expected:
        with pytest.raises(NoWindowsError):
            split_windows(store, spec, None)
        return
    split = split_windows(store, spec, None)

    assert listed_windows(split.train) == expected
    assert split.validation is None
    assert split.cutoff_steps is None
