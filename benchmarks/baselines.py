"""What a user would write without tsfeed, measured on the same training windows.

Each baseline first loads the training rows of every series into memory, as a user with a
DataFrame would. Then it windows them with a standard tool: per-series
``keras.utils.timeseries_dataset_from_array`` combined by ``sample_from_datasets``, tf-keras'
legacy ``TimeseriesGenerator`` over one concatenated array, and plain numpy materialization of
every window. Loading is not timed; building and iterating are.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from common import (
    BATCH_SIZE,
    NUM_FEATURES,
    SEQUENCE_LENGTH,
    median_time,
    mem_available_bytes,
    validation_cutoff,
)

WINDOW_BYTES = SEQUENCE_LENGTH * NUM_FEATURES * 4


def training_arrays(store_path: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Copy each series' rows before the cutoff into memory as ``(features, targets)``."""
    import tsfeed

    store = tsfeed.open_store(store_path)
    cutoffs = tsfeed.Cutoff.coerce(validation_cutoff()).cutoff_steps(store)
    arrays = []
    for position in range(store.num_series):
        data = store.series(position)
        end = int(cutoffs[position])
        if end > SEQUENCE_LENGTH:
            arrays.append((np.array(data.features[:end]), np.array(data.targets[:end])))
    return arrays


def _keras_windows(features: np.ndarray, targets: np.ndarray, seed: int) -> Any:
    import keras

    # Window i contains rows i .. i + 167, and its target is row i + 168, the next step.
    return keras.utils.timeseries_dataset_from_array(
        features[:-1],
        targets[SEQUENCE_LENGTH:],
        sequence_length=SEQUENCE_LENGTH,
        batch_size=None,
        shuffle=True,
        seed=seed,
    )


def sample_from_datasets(arrays: list[tuple[np.ndarray, np.ndarray]], num_batches: int) -> dict:
    """Measure per-series ``timeseries_dataset_from_array`` mixed by ``sample_from_datasets``."""
    import tensorflow as tf

    started = time.perf_counter()
    parts = [_keras_windows(f, t, seed) for seed, (f, t) in enumerate(arrays)]
    mixed = tf.data.Dataset.sample_from_datasets(parts, seed=0)
    dataset = mixed.batch(BATCH_SIZE).prefetch(tf.data.AUTOTUNE)
    built = time.perf_counter()
    iterator = iter(dataset)
    next(iterator)
    first = time.perf_counter()

    counts: list[int] = []

    def take() -> None:
        total = 0
        for _ in range(num_batches):
            total += int(next(iterator)[0].shape[0])
        counts.append(total)

    seconds, runs = median_time(take)
    return {
        "windows_per_second": counts[0] / seconds,
        "build_seconds": built - started,
        "first_batch_seconds": first - built,
        "num_series": len(arrays),
        "num_batches": num_batches,
        "runs_seconds": runs,
    }


def interleave_attempt(arrays: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Try ``timeseries_dataset_from_array`` inside ``Dataset.interleave``, the lazy form."""
    import tensorflow as tf

    features = tf.constant(np.stack([f[:400] for f, _ in arrays[:4]]))
    targets = tf.constant(np.stack([t[:400] for _, t in arrays[:4]]))

    def per_series(index: Any) -> Any:
        return _keras_windows(tf.gather(features, index), tf.gather(targets, index), 0)

    try:
        dataset = tf.data.Dataset.range(4).interleave(per_series, cycle_length=4)
        next(iter(dataset))
    except (TypeError, ValueError) as err:
        # AutoGraph wraps the error; its last line is the original message.
        last = [line.strip() for line in str(err).splitlines() if line.strip()][-1]
        prefix = f"{type(err).__name__}: "
        reason = (last if last.startswith(prefix) else prefix + last)[:200]
        return {"status": "broken", "reason": reason}
    return {"status": "ok", "reason": "interleave accepted the symbolic tensors"}


def timeseries_generator(arrays: list[tuple[np.ndarray, np.ndarray]], num_batches: int) -> dict:
    """Measure tf-keras ``TimeseriesGenerator`` over all series concatenated, indexing batches.

    The generator sees one series only, so windows that straddle two series are not excluded.
    Its shuffle draws starts with replacement from NumPy's global generator.
    """
    from tf_keras.preprocessing.sequence import TimeseriesGenerator

    features = np.concatenate([f for f, _ in arrays])
    targets = np.concatenate([t for _, t in arrays])
    generator = TimeseriesGenerator(
        features, targets, length=SEQUENCE_LENGTH, batch_size=BATCH_SIZE, shuffle=True
    )
    straddling = (len(arrays) - 1) * SEQUENCE_LENGTH

    def take() -> None:
        for index in range(num_batches):
            generator[index % len(generator)]

    seconds, runs = median_time(take)
    return {
        "windows_per_second": num_batches * BATCH_SIZE / seconds,
        "num_batches": num_batches,
        "runs_seconds": runs,
        "straddling_windows_per_epoch": straddling,
    }


def materialize(arrays: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Copy every training window into one preallocated numpy array, if memory allows.

    When MemAvailable cannot fit the array with 2 GB to spare, only the first series that fit
    are materialized, and ``num_series`` in the result reports how many.
    """
    counts = [len(f) - SEQUENCE_LENGTH for f, _ in arrays]
    total_bytes = sum(counts) * WINDOW_BYTES
    budget = mem_available_bytes() - (2 << 30)
    used = len(arrays)
    while used > 1 and sum(counts[:used]) * WINDOW_BYTES > budget:
        used //= 2
    num_windows = sum(counts[:used])

    started = time.perf_counter()
    windows = np.empty((num_windows, SEQUENCE_LENGTH, NUM_FEATURES), np.float32)
    window_targets = np.empty((num_windows, arrays[0][1].shape[1]), np.float32)
    row = 0
    for (features, targets), count in zip(arrays[:used], counts[:used], strict=True):
        # A (rows, features) window shape makes each window one contiguous block of the source.
        view = np.lib.stride_tricks.sliding_window_view(features, (SEQUENCE_LENGTH, NUM_FEATURES))
        windows[row : row + count] = view[:count, 0]
        window_targets[row : row + count] = targets[SEQUENCE_LENGTH:]
        row += count
    seconds = time.perf_counter() - started
    del windows, window_targets
    return {
        "windows_per_second": num_windows / seconds,
        "num_series": used,
        "num_windows": num_windows,
        "bytes": num_windows * WINDOW_BYTES,
        "bytes_all_series": total_bytes,
        "seconds": seconds,
    }
