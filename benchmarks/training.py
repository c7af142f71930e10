"""Input-bound check and the single long series case.

The input-bound check trains a Keras LSTM(32) -> Dense(1) with ``fit`` for a fixed number of
steps, fed once by tsfeed's gather engine and once by a few prebuilt batches in memory, and
compares steps per second. A ratio near 1 means the model, not the input, sets the pace.

The long series case is one series of 1,000,000 hourly rows with 8 features, windows of 168
steps, next-step target, batches of 1024 and no shuffle. It checks the window and batch counts
for ``sequence_stride`` 1 and 24 and times a full epoch of each.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
from common import BATCH_SIZE, NUM_FEATURES, SEQUENCE_LENGTH, validation_cutoff, window_spec

LONG_ROWS = 1_000_000
LONG_BATCH_SIZE = 1024


def _model() -> Any:
    import keras

    model = keras.Sequential(
        [
            keras.Input((SEQUENCE_LENGTH, NUM_FEATURES)),
            keras.layers.LSTM(32),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def lstm_ratio(store_path: str, num_steps: int = 150, warmup_steps: int = 10) -> dict[str, Any]:
    """Compare LSTM ``fit`` steps per second on gather batches and on in-memory batches.

    The two feeds alternate three times on one model, and each figure is the median.
    """
    import tensorflow as tf

    import tsfeed

    train, _ = tsfeed.make_datasets(
        store_path,
        window_spec(),
        validation_cutoff=validation_cutoff(),
        cache_validation=False,
        drop_remainder=True,
        seed=7,
    )
    prebuilt = list(train.take(8))
    inputs = tf.stack([batch[0] for batch in prebuilt])
    targets = tf.stack([batch[1] for batch in prebuilt])
    in_memory = tf.data.Dataset.from_tensor_slices((inputs, targets)).repeat()
    feeds = {"tsfeed_gather": train.repeat(), "in_memory": in_memory}

    model = _model()
    for feed in feeds.values():
        model.fit(feed, steps_per_epoch=warmup_steps, epochs=1, shuffle=False, verbose=0)
    rates: dict[str, list[float]] = {name: [] for name in feeds}
    for _ in range(3):
        for name, feed in feeds.items():
            started = time.perf_counter()
            model.fit(feed, steps_per_epoch=num_steps, epochs=1, shuffle=False, verbose=0)
            rates[name].append(num_steps / (time.perf_counter() - started))
    gather = statistics.median(rates["tsfeed_gather"])
    memory = statistics.median(rates["in_memory"])
    return {
        "gather_steps_per_second": gather,
        "in_memory_steps_per_second": memory,
        "gather_windows_per_second": gather * BATCH_SIZE,
        "in_memory_windows_per_second": memory * BATCH_SIZE,
        "ratio": gather / memory,
        "num_steps": num_steps,
        "runs": rates,
    }


def _long_epoch(store_path: str, stride: int) -> tuple[list[int], float, float]:
    """Run one unshuffled epoch and return the batch sizes, first-batch and epoch seconds."""
    import tsfeed

    started = time.perf_counter()
    train, _ = tsfeed.make_datasets(
        store_path,
        window_spec(sequence_stride=stride),
        validation_cutoff=None,
        batch_size=LONG_BATCH_SIZE,
        shuffle=False,
    )
    iterator = iter(train)
    sizes = [int(next(iterator)[0].shape[0])]
    first = time.perf_counter() - started
    sizes.extend(int(inputs.shape[0]) for inputs, _ in iterator)
    return sizes, first, time.perf_counter() - started


def long_series(store_path: str) -> dict[str, Any]:
    """Count and time full epochs of the single 1,000,000-row series, strides 1 and 24.

    Each stride runs three epochs, each from a new make_datasets call, and the seconds are
    medians.
    """
    result: dict[str, Any] = {}
    for stride in (1, 24):
        runs = [_long_epoch(store_path, stride) for _ in range(3)]
        sizes = runs[0][0]
        first = statistics.median(run[1] for run in runs)
        epoch = statistics.median(run[2] for run in runs)
        result[f"stride_{stride}"] = {
            "windows": int(np.sum(sizes)),
            "expected_windows": (LONG_ROWS - SEQUENCE_LENGTH - 1) // stride + 1,
            "batches": len(sizes),
            "full_batches": sum(size == LONG_BATCH_SIZE for size in sizes),
            "last_batch": sizes[-1],
            "first_batch_seconds": first,
            "epoch_seconds": epoch,
            "windows_per_second": int(np.sum(sizes)) / epoch,
            "runs_seconds": [run[2] for run in runs],
        }
    single, daily = result["stride_1"], result["stride_24"]
    result["counts_ok"] = (
        single["windows"] == 999_832
        and single["batches"] == 977
        and single["full_batches"] == 976
        and single["last_batch"] == 408
        and daily["windows"] == 41_660
    )
    result["stride_24_not_slower"] = daily["epoch_seconds"] <= single["epoch_seconds"]
    return result
