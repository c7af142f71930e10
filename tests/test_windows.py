"""Tests of the window rule: golden windows, WindowSpec checks, and agreement with the reference."""

from __future__ import annotations

import numpy as np
import pytest
import reference
from hypothesis import given
from hypothesis import strategies as st

from tsfeed.windows import WindowIndex, WindowSpec, count_windows_in_runs


def index_windows(spec: WindowSpec, runs_per_series: list[list[tuple[int, int]]], **bounds):
    """Build a WindowIndex over the runs and list its ``(series, start)`` pairs by rank."""
    series = [position for position, runs in enumerate(runs_per_series) for _ in runs]
    begin = [begin for runs in runs_per_series for begin, _ in runs]
    end = [end for runs in runs_per_series for _, end in runs]
    arrays = {
        name: np.asarray([values[position] for position in series], dtype=np.int64)
        for name, values in bounds.items()
    }
    series = np.asarray(series, dtype=np.int64)
    first, count = count_windows_in_runs(
        spec, np.asarray(begin, dtype=np.int64), np.asarray(end, dtype=np.int64), **arrays
    )
    index = WindowIndex.from_runs(spec, series, first, count)
    positions, starts = index.locate(np.arange(index.num_windows))
    return index, list(zip(positions.tolist(), starts.tolist(), strict=True))


def one_series_starts(spec: WindowSpec, num_steps: int) -> list[int]:
    _, windows = index_windows(spec, [[(0, num_steps)]])
    return [start for _, start in windows]


# Golden values -------------------------------------------------------------------------------


def test_windows_golden_ten_rows():
    # L=3, r=2, h=1: inputs i, i+2, i+4 and target i+4+1 = i+5. A window needs i+5 <= 9, so
    # with sequence_stride 2 the starts are 0, 2, 4 (start 6 would need target step 11).
    spec = WindowSpec(sequence_length=3, sequence_stride=2, sampling_rate=2, horizon=1)

    starts = one_series_starts(spec, 10)

    assert starts == [0, 2, 4]
    assert [spec.input_steps(start).tolist() for start in starts] == [
        [0, 2, 4],
        [2, 4, 6],
        [4, 6, 8],
    ]
    assert [spec.target_steps(start).tolist() for start in starts] == [[5], [7], [9]]
    assert spec.num_windows(10) == 3


def test_windows_golden_twenty_rows():
    # L=4, r=2, h=1: inputs i .. i+6, target i+7, so a window needs 8 rows. Starts are
    # multiples of 3 with i+7 <= 19: 0, 3, 6, 9, 12. Start 15 would need target row 22.
    spec = WindowSpec(sequence_length=4, sequence_stride=3, sampling_rate=2, horizon=1)

    starts = one_series_starts(spec, 20)

    assert starts == [0, 3, 6, 9, 12]
    assert spec.input_steps(12).tolist() == [12, 14, 16, 18]
    assert spec.target_steps(12).tolist() == [19]
    assert spec.num_windows(20) == 5


@pytest.mark.parametrize(("sequence_length", "horizon"), [(1, 1), (3, 1), (5, 1), (4, 3)])
def test_windows_count_exact_fit(sequence_length, horizon):
    # With sampling_rate 1 a window and its target take L + h rows: one row short gives none.
    spec = WindowSpec(sequence_length=sequence_length, horizon=horizon)

    assert one_series_starts(spec, sequence_length + horizon - 1) == []
    assert one_series_starts(spec, sequence_length + horizon) == [0]
    assert spec.num_windows(sequence_length + horizon - 1) == 0
    assert spec.num_windows(sequence_length + horizon) == 1


def test_windows_horizon_zero_targets_last_input():
    # L=3, h=0: inputs i, i+1, i+2 and target i+2, so 5 rows give starts 0, 1, 2.
    spec = WindowSpec(sequence_length=3, horizon=0)

    assert one_series_starts(spec, 5) == [0, 1, 2]
    assert spec.input_steps(2).tolist() == [2, 3, 4]
    assert spec.target_steps(2).tolist() == [4]


def test_windows_target_width_three():
    # L=2, h=1, w=3: inputs i, i+1 and targets i+2, i+3, i+4, so 6 rows give starts 0 and 1.
    spec = WindowSpec(sequence_length=2, horizon=1, target_width=3)

    assert one_series_starts(spec, 6) == [0, 1]
    assert spec.input_steps(1).tolist() == [1, 2]
    assert spec.target_steps(1).tolist() == [3, 4, 5]
    assert spec.rows_needed == 5


def test_windows_run_starts_on_series_grid():
    # Run [3, 12), L=2, r=1, h=1, sequence_stride 2: a window takes 3 rows and starts at a
    # multiple of 2 counted from step 0, so starts are 4, 6, 8 (8 + 3 = 11 <= 12), not 3 or 10.
    spec = WindowSpec(sequence_length=2, sequence_stride=2)

    first, count = count_windows_in_runs(spec, np.array([3]), np.array([12]))

    assert first.tolist() == [4]
    assert count.tolist() == [3]


def test_reference_matches_golden():
    spec = WindowSpec(sequence_length=3, sequence_stride=2, sampling_rate=2, horizon=1)
    features = np.arange(10, dtype=np.float32)[:, None]
    series = reference.ReferenceSeries(features, features, [(0, 10)])

    train, validation = reference.reference_split(spec, [series])

    assert [window.start for window in train] == [0, 2, 4]
    assert [window.inputs[:, 0].tolist() for window in train] == [[0, 2, 4], [2, 4, 6], [4, 6, 8]]
    assert [window.targets[:, 0].tolist() for window in train] == [[5], [7], [9]]
    assert validation == []


# WindowSpec checks ---------------------------------------------------------------------------

BAD_SPEC_VALUES = [
    pytest.param("sequence_length", 0, ValueError, id="sequence_length-zero"),
    pytest.param("sequence_length", -2, ValueError, id="sequence_length-negative"),
    pytest.param("sequence_length", 3.0, TypeError, id="sequence_length-float"),
    pytest.param("sequence_length", True, TypeError, id="sequence_length-bool"),
    pytest.param("sequence_length", "3", TypeError, id="sequence_length-string"),
    pytest.param("sequence_stride", 0, ValueError, id="sequence_stride-zero"),
    pytest.param("sequence_stride", -1, ValueError, id="sequence_stride-negative"),
    pytest.param("sequence_stride", 1.5, TypeError, id="sequence_stride-float"),
    pytest.param("sequence_stride", False, TypeError, id="sequence_stride-bool"),
    pytest.param("sequence_stride", "2", TypeError, id="sequence_stride-string"),
    pytest.param("sampling_rate", 0, ValueError, id="sampling_rate-zero"),
    pytest.param("sampling_rate", -3, ValueError, id="sampling_rate-negative"),
    pytest.param("sampling_rate", 2.0, TypeError, id="sampling_rate-float"),
    pytest.param("sampling_rate", True, TypeError, id="sampling_rate-bool"),
    pytest.param("sampling_rate", "1", TypeError, id="sampling_rate-string"),
    pytest.param("horizon", -1, ValueError, id="horizon-negative"),
    pytest.param("horizon", 1.0, TypeError, id="horizon-float"),
    pytest.param("horizon", True, TypeError, id="horizon-bool"),
    pytest.param("horizon", "1", TypeError, id="horizon-string"),
    pytest.param("target_width", 0, ValueError, id="target_width-zero"),
    pytest.param("target_width", -1, ValueError, id="target_width-negative"),
    pytest.param("target_width", 2.5, TypeError, id="target_width-float"),
    pytest.param("target_width", True, TypeError, id="target_width-bool"),
    pytest.param("target_width", "2", TypeError, id="target_width-string"),
    pytest.param("target_width", None, TypeError, id="target_width-none"),
]


@pytest.mark.parametrize(("name", "value", "error"), BAD_SPEC_VALUES)
def test_window_spec_rejects_bad_value(name, value, error):
    arguments = {"sequence_length": 3, name: value}

    with pytest.raises(error, match=name):
        WindowSpec(**arguments)


def test_window_spec_accepts_numpy_integers():
    spec = WindowSpec(sequence_length=np.int64(4), sequence_stride=np.int32(2), horizon=np.int8(0))

    assert spec.sequence_length == 4
    assert type(spec.sequence_length) is int
    assert type(spec.sequence_stride) is int
    assert spec.horizon == 0


# Agreement with the reference ----------------------------------------------------------------

specs = st.builds(
    WindowSpec,
    sequence_length=st.integers(1, 6),
    sequence_stride=st.integers(1, 5),
    sampling_rate=st.integers(1, 4),
    horizon=st.integers(0, 4),
    target_width=st.integers(1, 3),
)
# Mostly usable steps, so that runs are long enough to hold windows.
usable_flags = st.lists(st.sampled_from([True, True, True, True, False]), max_size=45)
many_series_runs = st.lists(usable_flags.map(reference.runs_from_usable), max_size=5)


@given(spec=specs, runs_per_series=many_series_runs)
def test_count_windows_in_runs_matches_reference(spec, runs_per_series):
    expected, _ = reference.list_window_starts(spec, runs_per_series)

    index, windows = index_windows(spec, runs_per_series)

    assert windows == expected
    assert index.num_windows == len(expected)
    assert np.all(index.run_count > 0)


@given(spec=specs, runs_per_series=many_series_runs, data=st.data())
def test_count_windows_in_runs_cutoff_bounds_match_reference(spec, runs_per_series, data):
    cutoff_steps = [
        data.draw(st.integers(0, max((end for _, end in runs), default=0) + 2))
        for runs in runs_per_series
    ]
    expected_train, expected_validation = reference.list_window_starts(
        spec, runs_per_series, cutoff_steps
    )

    _, train = index_windows(spec, runs_per_series, end_of_targets=cutoff_steps)
    _, validation = index_windows(spec, runs_per_series, min_target_step=cutoff_steps)

    assert train == expected_train
    assert validation == expected_validation


@given(spec=specs, runs_per_series=many_series_runs, data=st.data())
def test_window_index_locate_any_ranks(spec, runs_per_series, data):
    expected, _ = reference.list_window_starts(spec, runs_per_series)
    index, _ = index_windows(spec, runs_per_series)
    ranks = data.draw(st.lists(st.integers(0, max(len(expected) - 1, 0)), max_size=20))
    ranks = ranks if expected else []

    positions, starts = index.locate(np.asarray(ranks, dtype=np.int64))

    assert list(zip(positions.tolist(), starts.tolist(), strict=True)) == [
        expected[rank] for rank in ranks
    ]
    for position in range(len(runs_per_series)):
        starts_of_series = [start for series, start in expected if series == position]
        assert index.starts_of_series(position).tolist() == starts_of_series
    assert index.windows_per_series(len(runs_per_series)).tolist() == [
        sum(1 for series, _ in expected if series == position)
        for position in range(len(runs_per_series))
    ]


@pytest.mark.parametrize("rank", [-1, 3, 100], ids=["negative", "one-past-end", "far-past-end"])
def test_window_index_locate_rank_out_of_range(rank):
    spec = WindowSpec(sequence_length=2)
    first, count = count_windows_in_runs(spec, np.array([0]), np.array([5]))
    index = WindowIndex.from_runs(spec, np.array([0]), first, count)

    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        index.locate([rank])
