"""Resuming a training epoch: every window exactly once across a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tsfeed
from tsfeed.resume import PositionCallback, load_position

HOUR = 3_600_000_000_000


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tsfeed.Store:
    folder = tmp_path_factory.mktemp("resume")
    ids, times, values = [], [], []
    for series in range(3):
        for step in range(60):
            ids.append(f"s{series}")
            times.append(step * HOUR)
            values.append(series * 1000 + step)  # each value names its series and step
    table = pa.table(
        {"id": ids, "t": pa.array(times, pa.timestamp("ns", "UTC")), "x": np.array(values, float)}
    )
    pq.write_table(table, folder / "in.parquet")
    return tsfeed.ingest(
        folder / "in.parquet", folder / "store", series_column="id", time_column="t"
    )


def _first_values(dataset: tf.data.Dataset) -> list[float]:
    # The first input value of a window identifies it: series * 1000 + start step.
    return [float(v) for inputs, _ in dataset for v in inputs.numpy()[:, 0, 0]]


SPEC = tsfeed.WindowSpec(sequence_length=5, horizon=1)


@pytest.mark.parametrize("stop_after", [1, 3, 6])
def test_resume_rest_of_epoch_exactly_once(store: tsfeed.Store, stop_after: int) -> None:
    full, _ = tsfeed.make_datasets(
        store, SPEC, validation_cutoff=None, batch_size=16, seed=7, first_epoch=2
    )
    expected = _first_values(full)
    interrupted = expected[: stop_after * 16]  # what a run saw before it was killed

    resumed, _ = tsfeed.make_datasets(
        store,
        SPEC,
        validation_cutoff=None,
        batch_size=16,
        seed=7,
        first_epoch=2,
        first_batch=stop_after,
    )
    rest = _first_values(resumed)

    assert interrupted + rest == expected
    assert len(set(interrupted + rest)) == 3 * 55
    next_epoch, _ = tsfeed.make_datasets(
        store, SPEC, validation_cutoff=None, batch_size=16, seed=7, first_epoch=3
    )
    assert _first_values(resumed) == _first_values(next_epoch)


def test_resume_epoch_order_depends_only_on_seed_and_epoch(store: tsfeed.Store) -> None:
    a, _ = tsfeed.make_datasets(
        store, SPEC, validation_cutoff=None, batch_size=16, seed=7, first_epoch=4
    )
    b, _ = tsfeed.make_datasets(store, SPEC, validation_cutoff=None, batch_size=16, seed=7)
    for _ in range(4):
        _first_values(b)  # iterations 0..3 of b are epochs 0..3

    assert _first_values(a) == _first_values(b)


def test_resume_rejects_batch_out_of_range(store: tsfeed.Store) -> None:
    with pytest.raises(ValueError, match="cannot resume at epoch 0, batch 11"):
        tsfeed.make_datasets(
            store, SPEC, validation_cutoff=None, batch_size=16, seed=7, first_batch=11
        )


def test_resume_callback_writes_consumed_position(store: tsfeed.Store, tmp_path: Path) -> None:
    position_file = tmp_path / "position.json"
    train, _ = tsfeed.make_datasets(store, SPEC, validation_cutoff=None, batch_size=16, seed=7)
    model = tf.keras.Sequential(
        [tf.keras.Input((5, 1)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse")
    model_file = tmp_path / "model.keras"

    class StopAfterFourBatches(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            if batch == 3:
                self.model.stop_training = True

    callback = PositionCallback(position_file, save_freq=2, model_path=model_file)
    model.fit(train, epochs=1, callbacks=[callback, StopAfterFourBatches()], verbose=0)

    assert load_position(position_file) == (0, 4)
    assert model_file.exists()


def test_resume_callback_full_epoch_moves_to_next(store: tsfeed.Store, tmp_path: Path) -> None:
    position_file = tmp_path / "position.json"
    train, _ = tsfeed.make_datasets(store, SPEC, validation_cutoff=None, batch_size=16, seed=7)
    model = tf.keras.Sequential(
        [tf.keras.Input((5, 1)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse")

    model.fit(train, epochs=2, callbacks=[PositionCallback(position_file, save_freq=4)], verbose=0)

    assert load_position(position_file) == (2, 0)


def test_resume_load_position_missing_file(tmp_path: Path) -> None:
    assert load_position(tmp_path / "absent.json") == (0, 0)


def test_resume_load_position_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match="not a tsfeed position file"):
        load_position(path)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), epoch=st.integers(0, 5), stop_after=st.integers(0, 10))
def test_resume_random_position_exactly_once(
    store: tsfeed.Store, seed: int, epoch: int, stop_after: int
) -> None:
    full, _ = tsfeed.make_datasets(
        store, SPEC, validation_cutoff=None, batch_size=16, seed=seed, first_epoch=epoch
    )
    expected = _first_values(full)
    resumed, _ = tsfeed.make_datasets(
        store,
        SPEC,
        validation_cutoff=None,
        batch_size=16,
        seed=seed,
        first_epoch=epoch,
        first_batch=stop_after,
    )

    assert expected[: stop_after * 16] + _first_values(resumed) == expected
