"""Tests of make_datasets: parity with Keras, every window once per epoch, validation, errors."""

from __future__ import annotations

import collections
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import reference
import tensorflow as tf
from hypothesis import event, given, settings
from hypothesis import strategies as st

import tsfeed
from tsfeed import Cutoff, NoWindowsError, WindowSpec


def collect(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Read one full pass of a dataset of batches into two stacked arrays.

    An error inside the pipeline fails the test with the last lines of TensorFlow's message and
    no Python traceback: formatting the deep TensorFlow traceback sometimes crashes pytest on
    CPython 3.11.7 ("AST constructor recursion depth mismatch"), and the run then hangs at exit.
    """
    inputs, targets = [], []
    error_lines = []
    try:
        for batch_inputs, batch_targets in dataset:
            inputs.append(batch_inputs.numpy())
            targets.append(batch_targets.numpy())
    except tf.errors.OpError as err:
        error_lines = [line.strip() for line in err.message.splitlines() if line.strip()]
    # Failing outside the except block keeps the TensorFlow error out of the report's chain.
    if error_lines:
        pytest.fail(f"reading the dataset failed: {' | '.join(error_lines[-3:])}", pytrace=False)
    return np.concatenate(inputs), np.concatenate(targets)


def keras_windows(
    features: list[np.ndarray], targets: list[np.ndarray], spec: WindowSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Window each series with timeseries_dataset_from_array and concatenate in series order."""
    offset = (spec.sequence_length - 1) * spec.sampling_rate + spec.horizon
    inputs_parts, target_parts = [], []
    for series_features, series_targets in zip(features, targets, strict=True):
        dataset = tf.keras.utils.timeseries_dataset_from_array(
            series_features,
            series_targets[offset:],
            sequence_length=spec.sequence_length,
            sequence_stride=spec.sequence_stride,
            sampling_rate=spec.sampling_rate,
            batch_size=None,
            shuffle=False,
        )
        for window_inputs, window_targets in dataset:
            inputs_parts.append(window_inputs.numpy())
            target_parts.append(window_targets.numpy())
    return np.stack(inputs_parts), np.stack(target_parts)


# Parity with timeseries_dataset_from_array ---------------------------------------------------

PARITY_SPECS = [
    pytest.param(WindowSpec(sequence_length=4), id="plain"),
    pytest.param(WindowSpec(sequence_length=3, sampling_rate=2, horizon=0), id="rate2-h0"),
    pytest.param(WindowSpec(sequence_length=3, sequence_stride=3, horizon=3), id="seq-stride3-h3"),
    pytest.param(
        WindowSpec(sequence_length=2, sequence_stride=2, sampling_rate=3, horizon=1),
        id="seq-stride2-rate3",
    ),
    pytest.param(
        WindowSpec(sequence_length=5, sequence_stride=4, sampling_rate=2, horizon=3),
        id="seq-stride4-rate2-h3",
    ),
    pytest.param(WindowSpec(sequence_length=1, horizon=0), id="length1-h0"),
]


@pytest.mark.parametrize("engine", ["gather", "keras"])
@pytest.mark.parametrize("spec", PARITY_SPECS)
def test_make_datasets_matches_keras_per_series(make_store, spec, engine):
    # Random lengths include series too short for any window; those must contribute nothing.
    # Keras rejects data no longer than sampling_rate (3 at most here), so every series has 4 rows
    # or more.
    rng = np.random.default_rng(spec.rows_needed * 31 + spec.sequence_stride)
    num_features = 3
    lengths = [int(rng.integers(4, 45)) for _ in range(4)] + [5, 40]
    features = [rng.standard_normal((n, num_features)).astype(np.float32) for n in lengths]
    store = make_store(
        {f"s{position}": values for position, values in enumerate(features)},
        target_columns=["f2", "f0"],
    )
    targets = [values[:, [2, 0]] for values in features]
    expected_inputs, expected_targets = keras_windows(features, targets, spec)

    train, validation = tsfeed.make_datasets(
        store, spec, validation_cutoff=None, batch_size=7, shuffle=False, engine=engine
    )
    inputs, targets_out = collect(train)

    assert validation is None
    assert inputs.dtype == np.float32
    assert inputs.shape == expected_inputs.shape
    assert np.array_equal(inputs, expected_inputs)
    assert targets_out.shape == expected_targets.shape
    assert np.array_equal(targets_out, expected_targets)


@pytest.mark.parametrize("engine", ["gather", "keras"])
def test_make_datasets_golden_windows(make_store, engine):
    # 10 steps with values 0..9, L=3, sequence_stride=2, sampling_rate=2, h=1: inputs
    # i, i+2, i+4 and target i+5 for starts 0, 2, 4 (start 6 would need step 11).
    store = make_store({"a": np.arange(10.0)})
    spec = WindowSpec(sequence_length=3, sequence_stride=2, sampling_rate=2, horizon=1)

    train, _ = tsfeed.make_datasets(
        store, spec, validation_cutoff=None, batch_size=2, shuffle=False, engine=engine
    )
    inputs, targets = collect(train)

    assert inputs[:, :, 0].tolist() == [[0, 2, 4], [2, 4, 6], [4, 6, 8]]
    assert targets[:, 0].tolist() == [5, 7, 9]


@pytest.mark.parametrize("engine", ["gather", "keras"])
def test_make_datasets_length_one_short_series(make_store, engine):
    # L=1, h=1: the window at step i is input i and target i+1. Series "a" (10 steps) has
    # starts 0..8 and series "b" (2 steps) has start 0 only. For "b" the keras engine hands
    # timeseries_dataset_from_array a single row, which Keras rejects because its length is
    # not above sampling_rate, although the window is valid.
    store = make_store({"a": np.arange(10.0), "b": 100 + np.arange(2.0)})
    spec = WindowSpec(sequence_length=1, horizon=1)

    train, _ = tsfeed.make_datasets(
        store, spec, validation_cutoff=None, batch_size=4, shuffle=False, engine=engine
    )
    inputs, targets = collect(train)

    assert inputs[:, 0, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 100]
    assert targets[:, 0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 101]


@pytest.mark.parametrize("spec", PARITY_SPECS)
def test_make_datasets_engines_agree_with_cutoff(make_store, spec):
    # Missing values split the series into runs, and the cutoff ends the training side early.
    rng = np.random.default_rng(spec.rows_needed)
    features = [rng.standard_normal((n, 2)) for n in (30, 45, 12)]
    features[1][[7, 20]] = np.nan
    store = make_store(
        {f"s{position}": values for position, values in enumerate(features)}, missing="drop"
    )
    arguments = dict(validation_cutoff=8, batch_size=5, shuffle=False)

    gather_train, gather_validation = tsfeed.make_datasets(
        store, spec, engine="gather", **arguments
    )
    keras_train, keras_validation = tsfeed.make_datasets(store, spec, engine="keras", **arguments)
    gather_inputs, gather_targets = collect(gather_train)
    keras_inputs, keras_targets = collect(keras_train)

    assert np.array_equal(keras_inputs, gather_inputs)
    assert np.array_equal(keras_targets, gather_targets)
    assert np.array_equal(collect(keras_validation)[0], collect(gather_validation)[0])


# Every window once per epoch ------------------------------------------------------------------


def identify(inputs: np.ndarray) -> list[tuple[int, int]]:
    """Read ``(series, start)`` from windows whose features are (series number, step)."""
    return [(int(window[0, 0]), int(window[0, 1])) for window in inputs]


def check_self_consistent(inputs: np.ndarray, targets: np.ndarray, spec: WindowSpec) -> None:
    """Check that every input and target row of each window comes from its own series."""
    offsets = np.arange(spec.sequence_length) * spec.sampling_rate
    for window_inputs, window_targets in zip(inputs, targets, strict=True):
        series, start = window_inputs[0, 0], window_inputs[0, 1]
        assert np.all(window_inputs[:, 0] == series)
        assert np.array_equal(window_inputs[:, 1], start + offsets)
        assert window_targets[0] == series
        assert window_targets[1] == start + spec.target_offset


specs = st.builds(
    WindowSpec,
    sequence_length=st.integers(1, 4),
    sequence_stride=st.integers(1, 3),
    sampling_rate=st.integers(1, 3),
    horizon=st.integers(0, 3),
)


@settings(max_examples=10)
@given(
    spec=specs,
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    num_final_steps=st.integers(1, 15),
    seed=st.integers(0, 2**32 - 1),
    batch_size=st.integers(1, 9),
)
def test_make_datasets_shuffled_epoch_visits_each_window_once(
    make_store, spec, lengths, num_final_steps, seed, batch_size
):
    # Feature 0 is the series number and feature 1 the step, so each window names its origin.
    series = {
        f"s{number}": np.column_stack([np.full(n, number), np.arange(n)])
        for number, n in enumerate(lengths)
    }
    store = make_store(series)
    runs = [[(0, n)] for n in lengths]
    cutoff_steps = [max(n - num_final_steps, 0) for n in lengths]
    expected_train, expected_validation = reference.list_window_starts(spec, runs, cutoff_steps)
    arguments = dict(
        validation_cutoff=Cutoff.last_steps(num_final_steps),
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
    )
    if not expected_train or not expected_validation:
        event("a side without windows")
        with pytest.raises(NoWindowsError):
            tsfeed.make_datasets(store, spec, **arguments)
        return

    train, validation = tsfeed.make_datasets(store, spec, **arguments)
    first_inputs, first_targets = collect(train)
    second_inputs, _ = collect(train)
    fresh_train, _ = tsfeed.make_datasets(store, spec, **arguments)
    fresh_inputs, _ = collect(fresh_train)
    validation_inputs, validation_targets = collect(validation)
    first_epoch = identify(first_inputs)
    second_epoch = identify(second_inputs)

    check_self_consistent(first_inputs, first_targets, spec)
    check_self_consistent(validation_inputs, validation_targets, spec)
    assert collections.Counter(first_epoch) == collections.Counter(expected_train)
    assert all(start + spec.rows_needed <= cutoff_steps[s] for s, start in first_epoch)
    assert identify(fresh_inputs) == first_epoch
    assert collections.Counter(second_epoch) == collections.Counter(expected_train)
    if len(expected_train) >= 20:
        assert second_epoch != first_epoch
    assert identify(validation_inputs) == expected_validation


def test_make_datasets_shuffled_epochs_over_many_batches(make_store):
    # 3 series of 300 steps with L=2, h=1 give 3 * 298 = 894 windows, 447 batches of 2: many
    # more than the gather engine computes ranks for in one call, so epochs cross those blocks.
    lengths = [300, 300, 300]
    series = {
        f"s{number}": np.column_stack([np.full(n, number), np.arange(n)])
        for number, n in enumerate(lengths)
    }
    store = make_store(series)
    spec = WindowSpec(sequence_length=2)
    expected, _ = reference.list_window_starts(spec, [[(0, n)] for n in lengths])

    train, _ = tsfeed.make_datasets(
        store, spec, validation_cutoff=None, batch_size=2, shuffle=True, seed=123
    )
    first_epoch = identify(collect(train)[0])
    second_epoch = identify(collect(train)[0])

    assert len(expected) == 894
    assert sorted(first_epoch) == expected
    assert sorted(second_epoch) == expected
    assert first_epoch != second_epoch
    assert first_epoch != expected


# Validation dataset ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_series_store(make_store):
    """Series "a" of 30 steps and "b" of 20 steps, two features each."""
    return make_store(
        {
            "a": np.column_stack([np.arange(30.0), -np.arange(30.0)]),
            "b": np.column_stack([100 + np.arange(20.0), np.zeros(20)]),
        }
    )


@pytest.mark.parametrize("cache_validation", [True, False], ids=["cached", "uncached"])
def test_validation_dataset_finite_and_repeatable(two_series_store, cache_validation):
    # L=4, h=1 needs 5 rows. The last 10 steps are validation: targets at steps >= 20 in "a"
    # (starts 16..25, 10 windows) and >= 10 in "b" (starts 6..15, 10 windows), 20 in all.
    spec = WindowSpec(sequence_length=4)

    _, validation = tsfeed.make_datasets(
        two_series_store,
        spec,
        validation_cutoff=10,
        batch_size=3,
        shuffle=False,
        cache_validation=cache_validation,
    )
    first_inputs, first_targets = collect(validation)
    second_inputs, second_targets = collect(validation)
    batches = list(validation)

    assert int(validation.cardinality()) == math.ceil(20 / 3)
    assert len(batches) == math.ceil(20 / 3)
    assert len(first_inputs) == 20
    assert np.array_equal(first_inputs, second_inputs)
    assert np.array_equal(first_targets, second_targets)
    assert first_inputs[0, :, 0].tolist() == [16, 17, 18, 19]
    assert first_targets[0].tolist() == [20, -20]
    assert isinstance(validation.element_spec, tuple)
    assert len(validation.element_spec) == 2
    assert validation.element_spec[0].shape.as_list() == [None, 4, 2]
    assert validation.element_spec[1].shape.as_list() == [None, 2]
    assert all(len(batch) == 2 for batch in batches)


@pytest.mark.parametrize("engine", ["gather", "keras"])
def test_train_drop_remainder_static_batch(two_series_store, engine):
    # L=4, h=1 without a cutoff: 30 - 5 + 1 = 26 windows in "a" and 16 in "b", 42 in all,
    # which is 42 // 8 = 5 full batches of 8.
    spec = WindowSpec(sequence_length=4)

    train, _ = tsfeed.make_datasets(
        two_series_store,
        spec,
        validation_cutoff=None,
        batch_size=8,
        shuffle=False,
        drop_remainder=True,
        engine=engine,
    )
    batches = [inputs.shape[0] for inputs, _ in train]

    assert train.element_spec[0].shape.as_list() == [8, 4, 2]
    assert train.element_spec[1].shape.as_list() == [8, 2]
    assert int(train.cardinality()) == 5
    assert batches == [8] * 5


def test_train_without_drop_remainder_keeps_last_batch(two_series_store):
    spec = WindowSpec(sequence_length=4)

    train, _ = tsfeed.make_datasets(
        two_series_store, spec, validation_cutoff=None, batch_size=8, shuffle=False
    )
    batches = [inputs.shape[0] for inputs, _ in train]

    assert train.element_spec[0].shape.as_list() == [None, 4, 2]
    assert int(train.cardinality()) == 6
    assert batches == [8, 8, 8, 8, 8, 2]


# Argument errors ------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    pytest.param({"batch_size": 0}, ValueError, "batch_size", id="batch-size-zero"),
    pytest.param({"batch_size": -1}, ValueError, "batch_size", id="batch-size-negative"),
    pytest.param({"batch_size": 1.5}, TypeError, "batch_size", id="batch-size-float"),
    pytest.param({"batch_size": True}, TypeError, "batch_size", id="batch-size-bool"),
    pytest.param(
        {"validation_batch_size": 0}, ValueError, "validation_batch_size", id="val-batch-zero"
    ),
    pytest.param({"engine": "torch"}, ValueError, "engine", id="engine-unknown"),
    pytest.param({"spec": {"sequence_length": 4}}, TypeError, "WindowSpec", id="spec-dict"),
    pytest.param({"spec": 4}, TypeError, "WindowSpec", id="spec-int"),
    pytest.param({"validation_cutoff": [3]}, TypeError, "validation_cutoff", id="cutoff-list"),
    pytest.param({"validation_cutoff": 0}, ValueError, "last_steps", id="cutoff-zero-steps"),
    pytest.param({"validation_cutoff": 40}, NoWindowsError, "no training", id="cutoff-too-big"),
]


@pytest.mark.parametrize(("overrides", "error", "text"), BAD_ARGUMENTS)
def test_make_datasets_rejects_bad_argument(two_series_store, overrides, error, text):
    arguments = {"spec": WindowSpec(sequence_length=4), "validation_cutoff": 5, **overrides}
    spec = arguments.pop("spec")

    with pytest.raises(error, match=text):
        tsfeed.make_datasets(two_series_store, spec, **arguments)


def test_make_datasets_multi_shard_shuffled_exactly_once(tmp_path: Path) -> None:
    """Batches that span several shards keep each window with its own target."""
    hour = 3_600_000_000_000
    ids, times, values = [], [], []
    for series in range(12):
        for step in range(40):
            ids.append(f"s{series:02d}")
            times.append(step * hour)
            values.append(series * 1000.0 + step)
    table = pa.table({"id": ids, "t": pa.array(times, pa.timestamp("ns", "UTC")), "x": values})
    pq.write_table(table, tmp_path / "in.parquet")
    store = tsfeed.ingest(
        tmp_path / "in.parquet",
        tmp_path / "store",
        series_column="id",
        time_column="t",
        shard_bytes=500,
    )
    assert len(store.meta["shards"]) >= 6
    spec = tsfeed.WindowSpec(sequence_length=4, sampling_rate=2, horizon=2)

    train, _ = tsfeed.make_datasets(store, spec, validation_cutoff=None, batch_size=32, seed=3)
    batches = [(inputs.numpy(), targets.numpy()) for inputs, targets in train]  # one epoch
    inputs = np.concatenate([batch[0] for batch in batches])[:, :, 0]
    targets = np.concatenate([batch[1] for batch in batches])[:, 0]

    assert len(inputs) == 12 * spec.num_windows(40)
    assert len({tuple(row) for row in inputs}) == len(inputs)
    assert np.array_equal(inputs[:, 1:] - inputs[:, :-1], np.full((len(inputs), 3), 2.0))
    assert np.array_equal(targets, inputs[:, -1] + 2)
