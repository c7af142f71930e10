"""The ``keras`` engine: ``timeseries_dataset_from_array`` per series, interleaved.

Each run of usable steps (normally one per series) becomes one
``keras.utils.timeseries_dataset_from_array`` call over the run's memory-mapped rows, created
only when ``interleave`` reaches that run. The call itself cannot take a symbolic tensor, so it
runs inside ``Dataset.from_generator``, and Python sits on the path of every chunk of windows.
This engine exists as the reference for the window rule and for users who want exactly Keras'
own windowing; the ``gather`` engine yields the same windows far faster.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from tsfeed.store import Store
from tsfeed.windows import WindowIndex

logger = logging.getLogger(__name__)

_CHUNK = 1024
_CYCLE_LENGTH = 8

__all__ = ["keras_dataset", "run_windows"]


def run_windows(
    store: Store, index: WindowIndex, run: int, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """Build the ``timeseries_dataset_from_array`` dataset of one run, in chunks of windows.

    The returned dataset yields ``(inputs, targets)`` chunks of up to 1,024 windows.
    """
    spec = index.spec
    position = int(index.run_series[run])
    first = int(index.run_first_start[run])
    count = int(index.run_count[run])
    data = store.series(position)
    last_row = first + (count - 1) * spec.sequence_stride + spec.span
    # Keras rejects data no longer than sampling_rate or sequence_stride, even where a window
    # fits, so the inputs are padded with zeros up to that length. The targets are cut to
    # exactly this run's windows, and Keras stops at the last target, so padding never appears
    # in a window.
    minimum_rows = max(spec.sampling_rate, spec.sequence_stride) + 1
    inputs = data.features[first:last_row]
    if len(inputs) < minimum_rows:
        padding = np.zeros((minimum_rows - len(inputs), inputs.shape[1]), np.float32)
        inputs = np.concatenate([inputs, padding])
    targets = data.targets
    if spec.target_width > 1:
        # Row j of this view contains the target steps j .. j + target_width - 1.
        windows = np.lib.stride_tricks.sliding_window_view(targets, spec.target_width, axis=0)
        targets = windows.transpose(0, 2, 1)
    first_target = first + spec.target_offset
    targets = targets[first_target : first_target + (count - 1) * spec.sequence_stride + 1]
    return tf.keras.utils.timeseries_dataset_from_array(
        inputs,
        targets,
        sequence_length=spec.sequence_length,
        sequence_stride=spec.sequence_stride,
        sampling_rate=spec.sampling_rate,
        batch_size=_CHUNK,
        shuffle=shuffle_seed is not None,
        seed=shuffle_seed,
    )


def keras_dataset(
    store: Store,
    index: WindowIndex,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
    drop_remainder: bool,
) -> tf.data.Dataset:
    """Build the training dataset of the ``keras`` engine.

    Without shuffling, windows come in the canonical order (series in store order, starts
    ascending). With shuffling, each epoch permutes the runs and the windows inside each run
    with seeds drawn from ``(seed, epoch)``, and interleaves 8 runs at a time.
    """
    spec = index.spec
    num_features = len(store.feature_columns)
    num_targets = len(store.target_columns)
    target_shape = (num_targets,) if spec.target_width == 1 else (spec.target_width, num_targets)
    signature = (
        tf.TensorSpec((None, spec.sequence_length, num_features), tf.float32),
        tf.TensorSpec((None, *target_shape), tf.float32),
    )
    num_runs = len(index.run_count)
    epoch_lock = threading.Lock()
    epoch_counter = [0]

    def run_order() -> Iterator[tuple[np.int64, np.int64]]:
        with epoch_lock:
            epoch = epoch_counter[0]
            epoch_counter[0] += 1
        if not shuffle:
            for run in range(num_runs):
                yield np.int64(run), np.int64(-1)
            return
        rng = np.random.default_rng([seed or 0, epoch])
        run_seeds = rng.integers(0, 2**31 - 1, size=num_runs)
        for run in rng.permutation(num_runs):
            yield np.int64(run), np.int64(run_seeds[run])

    def chunks(run: np.int64, run_seed: np.int64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        shuffle_seed = None if int(run_seed) < 0 else int(run_seed)
        for inputs, targets in run_windows(store, index, int(run), shuffle_seed):
            yield inputs.numpy(), targets.numpy()

    def open_run(run: tf.Tensor, run_seed: tf.Tensor) -> tf.data.Dataset:
        return tf.data.Dataset.from_generator(
            chunks, args=(run, run_seed), output_signature=signature
        )

    runs = tf.data.Dataset.from_generator(
        run_order, output_signature=(tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64))
    )
    cycle_length = _CYCLE_LENGTH if shuffle else 1
    dataset = runs.interleave(open_run, cycle_length=cycle_length, block_length=1)
    dataset = dataset.unbatch().batch(batch_size, drop_remainder=drop_remainder)
    num_batches = (
        index.num_windows // batch_size if drop_remainder else -(-index.num_windows // batch_size)
    )
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return dataset.prefetch(tf.data.AUTOTUNE)
