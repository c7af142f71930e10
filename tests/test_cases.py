"""Bugs that users of sliding-window pipelines hit in practice, each pinned with exact values.

Every test writes a tiny long-format table to Parquet, ingests it into ``tmp_path`` and builds
real ``tf.data`` pipelines with :func:`tsfeed.make_datasets`. Series have hourly rows and one
feature ``x`` (also the target, unless a test states otherwise), usually equal to the row
number, so a window's values show where it starts.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from helpers import collect_batches

import tsfeed

START = np.datetime64("2024-01-01T00:00:00", "ns")
HOUR = np.timedelta64(1, "h")


def _write_table(
    path: Path, series: Mapping[str, Sequence[float]], *, seed: int | None = None
) -> Path:
    """Write hourly rows of ``series`` (id to values of ``x``) to Parquet, shuffled by ``seed``."""
    ids: list[str] = []
    times: list[np.ndarray] = []
    values: list[float] = []
    for series_id, xs in series.items():
        ids.extend([series_id] * len(xs))
        times.append(START + np.arange(len(xs)) * HOUR)
        values.extend(float(x) for x in xs)
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "ts": pa.array(np.concatenate(times).astype("datetime64[ns]")),
            "x": pa.array(values, pa.float64()),
        }
    )
    if seed is not None:
        table = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def _store(
    tmp_path: Path, series: Mapping[str, Sequence[float]], *, seed: int | None = 0, **options: Any
) -> tsfeed.Store:
    source = _write_table(tmp_path / "input.parquet", series, seed=seed)
    return tsfeed.ingest(
        source, tmp_path / "store", series_column="id", time_column="ts", **options
    )


def _windows(
    store: tsfeed.Store, spec: tsfeed.WindowSpec, **options: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Every training window in canonical order, inputs as ``(n, L)`` and targets squeezed."""
    options = {"validation_cutoff": None, "shuffle": False, "batch_size": 32, **options}
    train, _ = tsfeed.make_datasets(store, spec, **options)
    inputs, targets, _ = collect_batches(train)
    return inputs[..., 0], targets[..., 0]


# Target alignment ------------------------------------------------------------------------------


def test_cases_target_is_next_step(tmp_path: Path) -> None:
    """With horizon 1 the target is the step after the window, never its own first value."""
    store = _store(tmp_path, {"A": range(1, 100)})

    inputs, targets = _windows(store, tsfeed.WindowSpec(sequence_length=90, horizon=1))

    # 99 rows, 91 needed per window: starts 0..8.
    assert len(inputs) == 9
    assert inputs[0].tolist() == list(range(1, 91))
    assert targets[0] == 91
    assert inputs[-1].tolist() == list(range(9, 99))
    assert targets[-1] == 99
    assert not np.any(targets == inputs[:, 0])
    np.testing.assert_array_equal(targets, inputs[:, -1] + 1)


def test_cases_horizon_zero_targets_last_input(tmp_path: Path) -> None:
    store = _store(tmp_path, {"A": range(1, 100)})

    inputs, targets = _windows(store, tsfeed.WindowSpec(sequence_length=90, horizon=0))

    # 99 rows, 90 needed per window: starts 0..9.
    assert len(inputs) == 10
    assert inputs[0].tolist() == list(range(1, 91))
    assert targets[0] == 90
    assert inputs[-1].tolist() == list(range(10, 100))
    assert targets[-1] == 99
    np.testing.assert_array_equal(targets, inputs[:, -1])


def test_cases_last_window_needs_its_target(tmp_path: Path) -> None:
    """[7, 8, 9] has no next step to predict, so the last window is [6, 7, 8] -> 9."""
    store = _store(tmp_path, {"A": range(10)})

    inputs, targets = _windows(store, tsfeed.WindowSpec(sequence_length=3, horizon=1))

    assert inputs.tolist() == [[i, i + 1, i + 2] for i in range(7)]
    assert targets.tolist() == [3, 4, 5, 6, 7, 8, 9]
    assert [7.0, 8.0, 9.0] not in inputs.tolist()


# Target choice ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("horizon", "count", "first_target", "last_start", "last_target"),
    [
        (1, 95, 5, 94, 99),  # 100 rows, 6 needed: starts 0..94
        (0, 96, 4, 95, 99),  # 5 needed: starts 0..95
        (3, 93, 7, 92, 99),  # 8 needed: starts 0..92
    ],
    ids=["horizon-1", "horizon-0", "horizon-3"],
)
def test_cases_horizon_picks_target(
    tmp_path: Path,
    horizon: int,
    count: int,
    first_target: int,
    last_start: int,
    last_target: int,
) -> None:
    store = _store(tmp_path, {"A": range(100)})

    inputs, targets = _windows(store, tsfeed.WindowSpec(sequence_length=5, horizon=horizon))

    assert len(inputs) == count
    assert inputs[0].tolist() == [0, 1, 2, 3, 4]
    assert targets[0] == first_target
    assert inputs[-1].tolist() == list(range(last_start, last_start + 5))
    assert targets[-1] == last_target


def test_cases_target_width_three(tmp_path: Path) -> None:
    store = _store(tmp_path, {"A": range(100)})
    spec = tsfeed.WindowSpec(sequence_length=5, horizon=1, target_width=3)

    train, _ = tsfeed.make_datasets(
        store, spec, validation_cutoff=None, shuffle=False, batch_size=32
    )
    inputs, targets, _ = collect_batches(train)

    # 100 rows, 5 + 3 needed: starts 0..92.
    assert train.element_spec[1].shape.as_list() == [None, 3, 1]
    assert len(inputs) == 93
    assert inputs[0, :, 0].tolist() == [0, 1, 2, 3, 4]
    assert targets[0, :, 0].tolist() == [5, 6, 7]
    assert inputs[-1, :, 0].tolist() == [92, 93, 94, 95, 96]
    assert targets[-1, :, 0].tolist() == [97, 98, 99]


@pytest.mark.parametrize("engine", ["gather", "keras"])
def test_cases_target_width_shuffled_stays_paired(tmp_path: Path, engine: str) -> None:
    store = _store(tmp_path, {"A": range(100)})
    spec = tsfeed.WindowSpec(sequence_length=5, horizon=1, target_width=3)

    train, _ = tsfeed.make_datasets(
        store, spec, validation_cutoff=None, shuffle=True, seed=11, batch_size=16, engine=engine
    )
    inputs, targets, _ = collect_batches(train)

    assert len(inputs) == 93
    assert sorted(inputs[:, 0, 0].tolist()) == list(range(93))
    assert inputs[:, 0, 0].tolist() != list(range(93))
    expected = inputs[:, -1, 0][:, None] + 1 + np.arange(3)
    np.testing.assert_array_equal(targets[:, :, 0], expected)


def test_cases_negative_horizon_raises() -> None:
    with pytest.raises(ValueError, match=r"horizon must be at least 0, got -1"):
        tsfeed.WindowSpec(sequence_length=5, horizon=-1)


# Short series ----------------------------------------------------------------------------------


def test_cases_short_series_skipped_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path, {"A": range(10), "B": range(11)})
    spec = tsfeed.WindowSpec(sequence_length=10, horizon=1)

    with caplog.at_level(logging.WARNING, logger="tsfeed"):
        inputs, targets = _windows(store, spec)

    # A window of 10 inputs and its target needs 11 rows: B has one window, A none.
    assert inputs.tolist() == [list(range(10))]
    assert targets.tolist() == [10]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "'A' (10 steps)" in warnings[0]
    assert "1 of 2 series" in warnings[0]


def test_cases_only_short_series_raises(tmp_path: Path) -> None:
    store = _store(tmp_path, {"A": range(10)})
    spec = tsfeed.WindowSpec(sequence_length=10, horizon=1)

    with pytest.raises(tsfeed.NoWindowsError, match=r"11 consecutive usable steps.*'A', has 10"):
        tsfeed.make_datasets(store, spec, validation_cutoff=None, shuffle=False)


def test_cases_no_windows_error_is_value_error() -> None:
    assert issubclass(tsfeed.NoWindowsError, ValueError)


def test_cases_stride_longer_than_series(tmp_path: Path) -> None:
    store = _store(tmp_path, {"C": range(6)})
    spec = tsfeed.WindowSpec(sequence_length=5, horizon=1, sequence_stride=6)

    inputs, targets = _windows(store, spec)

    assert inputs.tolist() == [[0, 1, 2, 3, 4]]
    assert targets.tolist() == [5]


# Last batch size -------------------------------------------------------------------------------


def _two_feature_store(tmp_path: Path) -> tsfeed.Store:
    # 3 series x 200 rows with features x (the row number) and y = -x, and target x.
    ids, times, x = [], [], []
    for series_id in ("A", "B", "C"):
        ids.extend([series_id] * 200)
        times.append(START + np.arange(200) * HOUR)
        x.extend(range(200))
    table = pa.table(
        {
            "id": ids,
            "ts": pa.array(np.concatenate(times)),
            "x": pa.array(x, pa.float64()),
            "y": pa.array([-value for value in x], pa.float64()),
        }
    )
    pq.write_table(table, tmp_path / "input.parquet")
    return tsfeed.ingest(
        tmp_path / "input.parquet",
        tmp_path / "store",
        series_column="id",
        time_column="ts",
        target_columns=["x"],
    )


# 200 rows, 25 needed per window: 176 windows per series and 528 in all, or 8 * 64 + 16.
LAST_BATCH_SPEC = tsfeed.WindowSpec(sequence_length=24, horizon=1)


def test_cases_last_batch_kept_by_default(tmp_path: Path) -> None:
    store = _two_feature_store(tmp_path)

    train, _ = tsfeed.make_datasets(
        store, LAST_BATCH_SPEC, validation_cutoff=None, batch_size=64, seed=1
    )
    inputs, targets, sizes = collect_batches(train)

    assert len(inputs) == 528
    assert sizes == [64] * 8 + [16]
    assert inputs.shape[1:] == (24, 2)
    assert targets.shape[1:] == (1,)
    assert train.cardinality().numpy() == 9


def test_cases_drop_remainder_gives_static_batch(tmp_path: Path) -> None:
    store = _two_feature_store(tmp_path)

    train, _ = tsfeed.make_datasets(
        store,
        LAST_BATCH_SPEC,
        validation_cutoff=None,
        batch_size=64,
        seed=1,
        drop_remainder=True,
    )
    _, _, sizes = collect_batches(train)

    assert sizes == [64] * 8
    assert train.element_spec[0].shape.as_list() == [64, 24, 2]
    assert train.element_spec[1].shape.as_list() == [64, 1]
    assert train.cardinality().numpy() == 8


def test_cases_validation_never_drops_windows(tmp_path: Path) -> None:
    store = _two_feature_store(tmp_path)

    train, validation = tsfeed.make_datasets(
        store,
        LAST_BATCH_SPEC,
        validation_cutoff=50,
        batch_size=64,
        seed=1,
        drop_remainder=True,
    )
    _, _, train_sizes = collect_batches(train)
    inputs, targets, sizes = collect_batches(validation)

    # The cutoff is step 150. Validation targets t = start + 24 lie in 150..199, so each series
    # has 50 validation windows (150 in all). Training windows need start + 25 <= 150, so each
    # has 126 (378 in all, 5 full batches of 64).
    assert len(inputs) == 150
    assert sizes == [64, 64, 22]
    assert train_sizes == [64] * 5
    assert targets[:, 0].min() == 150
    assert targets[:, 0].max() == 199


# Windows never straddle series -----------------------------------------------------------------


def test_cases_windows_stay_in_one_series(tmp_path: Path) -> None:
    series = {"A": range(10), "B": range(100, 110)}
    store = _store(tmp_path / "first", series, seed=1)
    reordered = _store(tmp_path / "second", series, seed=2)
    spec = tsfeed.WindowSpec(sequence_length=3, horizon=1)

    inputs, targets = _windows(store, spec)
    inputs_again, targets_again = _windows(reordered, spec)

    # Each series of 10 rows has 7 windows of 3 inputs and a target.
    assert len(inputs) == 14
    from_a = inputs[:, 0] < 100
    assert from_a.sum() == 7
    assert np.all((inputs < 100).all(axis=1) | (inputs >= 100).all(axis=1))
    assert np.all((targets < 100) == from_a)
    np.testing.assert_array_equal(targets, inputs[:, -1] + 1)
    np.testing.assert_array_equal(inputs, inputs_again)
    np.testing.assert_array_equal(targets, targets_again)


# Cached validation read partially --------------------------------------------------------------

_PARTIAL_READ_SCRIPT = r"""
import json
import sys

import keras
import numpy as np
import tensorflow as tf

import tsfeed

MARKER = "---- control: a cache read partially ----"

store_path = sys.argv[1]
spec = tsfeed.WindowSpec(sequence_length=5, horizon=1)
train, validation = tsfeed.make_datasets(
    store_path, spec, validation_cutoff=20, batch_size=16, validation_batch_size=16, seed=3
)
for _ in validation.take(1):
    pass
sizes = [int(inputs.shape[0]) for inputs, _ in validation]

keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((5, 1)), keras.layers.LSTM(4), keras.layers.Dense(1)]
)
model.compile(optimizer="adam", loss="mse")


class KeepWeights(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


keep = KeepWeights()
history = model.fit(train, epochs=3, validation_data=validation, callbacks=[keep], verbose=0)
evaluated = []
for weights in keep.weights:
    model.set_weights(weights)
    evaluated.append(float(model.evaluate(validation, verbose=0)))
print(json.dumps({
    "sizes": sizes,
    "val_loss": [float(v) for v in history.history["val_loss"]],
    "evaluated": evaluated,
}), flush=True)

# Control: a plain tf.data cache read partially must produce the warning, which shows that it
# would be visible in this process's stderr.
sys.stderr.write(MARKER + "\n")
sys.stderr.flush()
plain = tf.data.Dataset.range(10).cache()
for _ in plain.take(1):
    pass
"""


def test_cases_partial_validation_read_keeps_cache(tmp_path: Path) -> None:
    """A validation set read once with take(1) must still give every batch to later epochs."""
    # 40 rows per series with the last 20 as validation steps: validation targets at steps
    # 20..39 give 20 windows per series, 60 in all, in batches of 16, 16, 16 and 12.
    series = {name: np.arange(40) / 40 + offset for name, offset in (("A", 0), ("B", 1), ("C", 2))}
    store = _store(tmp_path, series)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    result = subprocess.run(
        [sys.executable, "-c", _PARTIAL_READ_SCRIPT, str(store.path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    before_control, _, control = result.stderr.partition("---- control: a cache read partially")
    warning = "did not fully read the dataset being cached"

    assert report["sizes"] == [16, 16, 16, 12]
    assert len(report["val_loss"]) == 3
    for epoch in range(3):
        assert np.isclose(report["val_loss"][epoch], report["evaluated"][epoch], rtol=1e-5), epoch
    assert warning not in before_control
    assert warning in control


# TensorBoard with a validation dataset ---------------------------------------------------------


def _events(folder: Path) -> list[Any]:
    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        events.extend(tf.compat.v1.train.summary_iterator(str(path)))
    return events


def _tag_steps(events: list[Any], plugin: str | None = None) -> dict[str, set[int]]:
    """Map each summary tag to the steps it was written at, optionally for one plugin."""
    steps: dict[str, set[int]] = {}
    for event in events:
        for value in event.summary.value:
            if plugin is None or value.metadata.plugin_data.plugin_name == plugin:
                steps.setdefault(value.tag, set()).add(int(event.step))
    return steps


def test_cases_tensorboard_with_validation_dataset(tmp_path: Path) -> None:
    series = {name: np.arange(40) / 40 + offset for name, offset in (("A", 0), ("B", 1), ("C", 2))}
    store = _store(tmp_path, series)
    spec = tsfeed.WindowSpec(sequence_length=5, horizon=1)
    train, validation = tsfeed.make_datasets(
        store, spec, validation_cutoff=20, batch_size=16, seed=3
    )
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 1)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    log_dir = tmp_path / "logs"

    model.fit(
        train,
        epochs=2,
        validation_data=validation,
        callbacks=[keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=1)],
        verbose=0,
    )

    assert list((log_dir / "train").glob("events.out.tfevents.*"))
    assert list((log_dir / "validation").glob("events.out.tfevents.*"))
    validation_steps = _tag_steps(_events(log_dir / "validation"))
    assert validation_steps.get("epoch_loss") == {0, 1}
    histograms = _tag_steps(_events(log_dir / "train"), plugin="histograms")
    # Keras 3.15 names the tag "lstm_cell/kernel/histogram", Keras 3.3 "kernel/histogram".
    assert any("kernel" in tag for tag in histograms), sorted(histograms)
    assert all(steps == {0, 1} for steps in histograms.values()), histograms
    assert len(validation.element_spec) == 2
    for element in validation:
        assert isinstance(element, tuple)
        assert len(element) == 2


# Reproducible order ----------------------------------------------------------------------------

# 3 series of 30 rows; 6 rows per window (5 inputs and a target) give 25 windows each.
ORDER_SERIES = {"A": range(30), "B": range(100, 130), "C": range(200, 230)}
ORDER_SPEC = tsfeed.WindowSpec(sequence_length=5, horizon=1)


def _first_values(dataset: tf.data.Dataset) -> list[float]:
    inputs, _, _ = collect_batches(dataset)
    return inputs[:, 0, 0].tolist()


def _sequences(store: tsfeed.Store) -> dict[str, list[float]]:
    """The order of windows from every pipeline the reproducibility tests compare."""
    sequences = {}
    for engine in ("gather", "keras"):
        train, _ = tsfeed.make_datasets(
            store, ORDER_SPEC, validation_cutoff=None, batch_size=8, seed=7, engine=engine
        )
        sequences[f"train-{engine}"] = _first_values(train)
    _, validation = tsfeed.make_datasets(
        store, ORDER_SPEC, validation_cutoff=10, batch_size=8, seed=7
    )
    sequences["validation"] = _first_values(validation)
    return sequences


def test_cases_order_repeats_with_few_series(tmp_path: Path) -> None:
    """Fewer series than the interleave cycle length must not make the order vary."""
    store = _store(tmp_path, ORDER_SERIES)

    first = _sequences(store)
    second = _sequences(store)

    all_starts = sorted([*range(25), *range(100, 125), *range(200, 225)])
    for engine in ("gather", "keras"):
        assert len(first[f"train-{engine}"]) == 75
        assert sorted(first[f"train-{engine}"]) == all_starts
        assert first[f"train-{engine}"] != all_starts
        assert first[f"train-{engine}"] == second[f"train-{engine}"]
    # Cutoff at step 20 of 30: validation targets at 20..29 give starts 15..24 in each series.
    assert first["validation"] == [*range(15, 25), *range(115, 125), *range(215, 225)]
    assert first["validation"] == second["validation"]


def test_cases_order_independent_of_file_listing(tmp_path: Path) -> None:
    one_file = _store(tmp_path / "one", ORDER_SERIES)
    # File names list C, B, A, the reverse of the id order, and rows are shuffled within files.
    folder = tmp_path / "parts"
    for name, series_id in (("a.parquet", "C"), ("m.parquet", "B"), ("z.parquet", "A")):
        _write_table(folder / name, {series_id: ORDER_SERIES[series_id]}, seed=4)
    from_folder = tsfeed.ingest(folder, tmp_path / "store", series_column="id", time_column="ts")

    assert from_folder.series_ids == ["A", "B", "C"]
    assert _sequences(from_folder) == _sequences(one_file)
